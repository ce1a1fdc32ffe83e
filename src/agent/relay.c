/* hutch-init's relay and stop modes (relay.h): the agent of a container that
 * only the Engine API's exec reaches. */
#include "agent/relay.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "agent/proto.h"
#include "base/util.h"

/* How long a relay waits for the agent it started to listen. */
#define AGENT_UP_MS 5000.0
/* How long the agent gets to stop before SIGKILL. */
#define STOP_GRACE_MS 3000.0

/* Tells the host (one AT_ERROR on stdout, which it reads as the agent's)
 * and the container's log (stderr) why there is no agent, and exits. */
static void __attribute__((noreturn, format(printf, 1, 2))) relay_fail(const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vfmt_trunc(text, sizeof text, fmt, ap); /* a message: cut on purpose */
    va_end(ap);
    fprintf(stderr, "hutch-init: %s\n", text);
    struct agent_buf b = {0};
    agent_msg_begin(&b, AT_ERROR);
    agent_put_u64(&b, AF_ERROR_KIND, AE_SYSTEM);
    agent_put_str(&b, AF_MESSAGE, text);
    if (agent_msg_end(&b) == 0)
        (void)write_all(STDOUT_FILENO, b.data, b.len);
    agent_buf_free(&b);
    _exit(1);
}

static void pause_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) < 0 && errno == EINTR)
        ;
}

/* DIR is the caller's own, and no one else's to enter: another user of the
 * container could otherwise reach the agent, which runs tools as us. */
static void own_dir(const char *dir)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        relay_fail("cannot create %s: %s", dir, strerror(errno));
    struct stat st;
    if (lstat(dir, &st) < 0)
        relay_fail("cannot inspect %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
        relay_fail("%s is not a private directory of uid %u (someone else made it): remove it "
                   "in the container",
                   dir, (unsigned)geteuid());
}

static int socket_path(const char *dir, struct sockaddr_un *addr)
{
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    return fmt_fits(addr->sun_path, sizeof addr->sun_path, "%s/%s", dir, AGENT_SOCKET_NAME)
               ? 0
               : -1;
}

/* A connected socket, or -1 with errno. */
static int connect_agent(const struct sockaddr_un *addr)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (TEMP_FAILURE_RETRY(connect(fd, (const struct sockaddr *)addr, sizeof *addr)) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* The agent, detached from this exec (its own session, its stdio not the
 * exec's, so that the exec ends with the relay) and from the relay (a
 * grandchild: whoever reaps orphans here reaps it). */
static void start_agent(const char *dir, const char *sock, bool confine)
{
    pid_t pid = fork();
    if (pid < 0)
        relay_fail("cannot start the agent: fork failed: %s", strerror(errno));
    if (pid > 0) {
        int status;
        (void)TEMP_FAILURE_RETRY(waitpid(pid, &status, 0));
        return;
    }
    if (setsid() < 0 || fork() != 0)
        _exit(0);
    char log[PATH_MAX];
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    int err = fmt_fits(log, sizeof log, "%s/agent.log", dir)
                  ? open(log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600)
                  : -1;
    if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
        dup2(err >= 0 ? err : null, STDERR_FILENO) < 0)
        _exit(1);
    const char *argv[] = {"hutch-init", "--socket", sock, "--inherit-env",
                          confine ? "--confine-commands" : NULL, NULL};
    execv("/proc/self/exe", (char *const *)argv);
    _exit(127);
}

static int agent_connection(const char *dir, bool confine)
{
    struct sockaddr_un addr;
    if (socket_path(dir, &addr) < 0)
        relay_fail("the socket path under %s is too long", dir);
    int fd = connect_agent(&addr);
    if (fd >= 0)
        return fd;
    if (errno != ENOENT && errno != ECONNREFUSED)
        relay_fail("cannot connect to the agent at %s: %s", addr.sun_path, strerror(errno));
    start_agent(dir, addr.sun_path, confine);
    double until = monotonic_ms() + AGENT_UP_MS;
    for (;;) {
        fd = connect_agent(&addr);
        if (fd >= 0)
            return fd;
        if (monotonic_ms() > until)
            relay_fail("the agent did not start listening on %s within %.0f s (see %s/agent.log)",
                       addr.sun_path, AGENT_UP_MS / 1000, dir);
        pause_ms(10);
    }
}

/* ---- relaying ----------------------------------------------------------------------- */

struct relay {
    int sock;
    int content;   /* the write end of write's content pipe, or -1 */
    uint8_t in[RELAY_CHUNK_HEADER + RELAY_CHUNK_MAX];
    size_t in_len;
    size_t content_off; /* of the chunk at in[0], written to the pipe so far */
    uint8_t out[64 * 1024];
    size_t out_len, out_off;
};

/* The agent's bytes, the first carrying fd when it is not -1. */
static void to_agent(struct relay *r, const uint8_t *data, size_t len, int fd)
{
    if (fd >= 0) {
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int))];
        } control;
        memset(&control, 0, sizeof control);
        struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                            .msg_controllen = sizeof control.buf};
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof fd);
        ssize_t n = TEMP_FAILURE_RETRY(sendmsg(r->sock, &mh, MSG_NOSIGNAL));
        if (n <= 0)
            _exit(0); /* the agent went away: nothing to relay */
        data += n;
        len -= (size_t)n;
    }
    if (len && send_all(r->sock, data, len) < 0)
        _exit(0);
}

/* Acts on the complete chunks in r->in. false while write's content waits
 * for room in its pipe (the chunk stays at in[0]). */
static bool take_chunks(struct relay *r)
{
    while (r->in_len >= RELAY_CHUNK_HEADER) {
        uint32_t len;
        memcpy(&len, r->in + 4, sizeof len);
        uint8_t kind = r->in[0];
        if (r->in[1] || r->in[2] || r->in[3] || len > RELAY_CHUNK_MAX || kind < RELAY_AGENT ||
            kind > RELAY_CONTENT_END) {
            fprintf(stderr, "hutch-init: the relay's input is not in chunks\n");
            _exit(2);
        }
        if (r->in_len < RELAY_CHUNK_HEADER + len)
            return true;
        const uint8_t *data = r->in + RELAY_CHUNK_HEADER;
        if (kind == RELAY_AGENT) {
            to_agent(r, data, len, -1);
        } else if (kind == RELAY_AGENT_CONTENT) {
            int fds[2];
            if (r->content >= 0 || pipe2(fds, O_CLOEXEC) < 0)
                relay_fail("cannot make a pipe for the content: %s",
                           r->content >= 0 ? "one is open already" : strerror(errno));
            (void)fcntl(fds[1], F_SETFL, O_NONBLOCK);
            to_agent(r, data, len, fds[0]);
            close(fds[0]);
            r->content = fds[1];
        } else if (kind == RELAY_CONTENT && r->content >= 0) {
            while (r->content_off < len) {
                ssize_t n = TEMP_FAILURE_RETRY(
                    write(r->content, data + r->content_off, len - r->content_off));
                if (n < 0 && errno == EAGAIN)
                    return false;
                if (n <= 0) {
                    close_fd(&r->content); /* the tool stopped reading: the rest goes nowhere */
                    break;
                }
                r->content_off += (size_t)n;
            }
        } else if (kind == RELAY_CONTENT_END) {
            close_fd(&r->content);
        }
        r->content_off = 0;
        r->in_len -= RELAY_CHUNK_HEADER + len;
        memmove(r->in, r->in + RELAY_CHUNK_HEADER + len, r->in_len);
    }
    return true;
}

int relay_main(const char *dir, bool confine)
{
    signal(SIGPIPE, SIG_IGN);
    /* The exec's token (docker_exec_kill) marks this relay alone: the agent
     * it may start, and the agent's commands, outlive it. */
    unsetenv("HUTCH_EXEC");
    own_dir(dir);
    static struct relay r;
    r.sock = agent_connection(dir, confine);
    r.content = -1;
    (void)fcntl(STDOUT_FILENO, F_SETFL, fcntl(STDOUT_FILENO, F_GETFL) | O_NONBLOCK);
    bool blocked = false;
    for (;;) {
        struct pollfd pfd[4] = {
            {.fd = blocked || r.in_len == sizeof r.in ? -1 : STDIN_FILENO, .events = POLLIN},
            {.fd = r.out_len ? -1 : r.sock, .events = POLLIN},
            {.fd = r.out_len ? STDOUT_FILENO : -1, .events = POLLOUT},
            {.fd = blocked ? r.content : -1, .events = POLLOUT},
        };
        if (poll(pfd, 4, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        if (pfd[0].revents) {
            ssize_t n = TEMP_FAILURE_RETRY(read(STDIN_FILENO, r.in + r.in_len, sizeof r.in - r.in_len));
            if (n <= 0)
                return 0; /* the host hung up: closing the connection cancels the call */
            r.in_len += (size_t)n;
            blocked = !take_chunks(&r);
        }
        if (pfd[3].revents)
            blocked = !take_chunks(&r);
        if (pfd[1].revents) {
            ssize_t n = TEMP_FAILURE_RETRY(recv(r.sock, r.out, sizeof r.out, 0));
            if (n <= 0) {
                /* The agent is done: what is left goes out, then the exec ends. */
                (void)fcntl(STDOUT_FILENO, F_SETFL, fcntl(STDOUT_FILENO, F_GETFL) & ~O_NONBLOCK);
                return 0;
            }
            r.out_len = (size_t)n;
            r.out_off = 0;
        }
        if (pfd[2].revents) {
            ssize_t n = TEMP_FAILURE_RETRY(write(STDOUT_FILENO, r.out + r.out_off,
                                                 r.out_len - r.out_off));
            if (n < 0 && errno != EAGAIN)
                return 0;
            if (n > 0)
                r.out_off += (size_t)n;
            if (r.out_off == r.out_len)
                r.out_len = r.out_off = 0;
        }
    }
}

/* ---- stopping ----------------------------------------------------------------------- */

static bool gone(pid_t pid)
{
    char path[64], stat[256];
    fmt_bounded(path, "/proc/%d/stat", (int)pid);
    autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true;
    ssize_t n = read(fd, stat, sizeof stat - 1);
    if (n <= 0)
        return true;
    stat[n] = '\0';
    const char *paren = strrchr(stat, ')');
    return paren && paren[1] == ' ' && paren[2] == 'Z'; /* a zombie nobody reaps */
}

/* Removes name under dirfd without following symlinks; depth bounds it. */
static void remove_at(int parent, const char *name, int depth)
{
    if (unlinkat(parent, name, 0) == 0 || errno != EISDIR || depth > 16)
        return;
    DIR *d = opendir_at(parent, name, O_NOFOLLOW);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            remove_at(dirfd(d), e->d_name, depth + 1);
    closedir(d);
    (void)unlinkat(parent, name, AT_REMOVEDIR);
}

int relay_stop(const char *dir)
{
    struct sockaddr_un addr;
    if (socket_path(dir, &addr) < 0) {
        fprintf(stderr, "hutch-init: the path %s is too long\n", dir);
        return 2;
    }
    int fd = connect_agent(&addr);
    if (fd >= 0) {
        /* Whoever listens there, by the kernel's word: never a pid it says. */
        struct ucred cred;
        socklen_t len = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid > 1) {
            (void)kill(cred.pid, SIGTERM);
            double until = monotonic_ms() + STOP_GRACE_MS;
            while (!gone(cred.pid) && monotonic_ms() < until)
                pause_ms(20);
            if (!gone(cred.pid))
                (void)kill(cred.pid, SIGKILL);
        }
        close(fd);
    }
    /* dir is absolute: its parent's descriptor and its last name. */
    const char *slash = strrchr(dir, '/');
    if (!slash || slash[1] == '\0') {
        fprintf(stderr, "hutch-init: --stop needs an absolute directory, not %s\n", dir);
        return 2;
    }
    char parent[PATH_MAX];
    if (!fmt_fits(parent, sizeof parent, "%.*s", (int)(slash - dir), dir))
        return 2;
    autoclose int parent_fd =
        open(parent[0] ? parent : "/", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (parent_fd < 0)
        return 1;
    remove_at(parent_fd, slash + 1, 0);
    /* Every build of the binary put there for DIR: DIR-*.init. */
    DIR *d = opendir_at(parent_fd, ".", 0);
    size_t base = strlen(slash + 1), suffix = strlen(RELAY_BINARY_SUFFIX);
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len > base + 1 + suffix && strncmp(e->d_name, slash + 1, base) == 0 &&
            e->d_name[base] == '-' && strcmp(e->d_name + len - suffix, RELAY_BINARY_SUFFIX) == 0)
            (void)unlinkat(parent_fd, e->d_name, 0);
    }
    if (d)
        closedir(d);
    return faccessat(parent_fd, slash + 1, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ? 1 : 0;
}
