/* The agent of a container reached only through the Engine API
 * (docker_relay.h). Everything that comes out of the container is the
 * container's word: the stream's frames are checked by the frame parser,
 * the agent's messages by the agent client, every wait has a deadline, and
 * what is kept of the container's own text is bounded. Nothing of the host
 * goes in but the requests: the exec gets no environment of ours and no
 * descriptor (a content descriptor is read here and sent in the stream). */
#include "drivers/docker/docker_relay.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>

#include "agent/client.h"
#include "agent/relay.h"
#include "base/command.h"
#include "base/result.h"
#include "drivers/docker/frames.h"
#include "policy/policy_resolve.h"
#include "session/agent_binary.h"
#include "session/naming.h"
#include "session/session.h"

/* The first call starts the agent (and may upload it): HELLO gets this long. */
#define HELLO_MS 20000
/* How long one piece of the stream may wait for the engine to take it. */
#define SEND_MS 30000
/* The container's own text kept for a message. */
#define TEXT_MAX 400
/* Largest hutch-init accepted for upload. */
#define BINARY_MAX (64u << 20)

static const char *container_of(const struct session *s)
{
    return s->record->container_id ?: s->record->container_name;
}

/* /tmp/hutch-agent-<hash of the session's state directory>: one per
 * session, so that removing one session leaves another's agent alone. */
static void agent_dir_of(const struct session *s, char *out, size_t len)
{
    (void)!fmt_fits(out, len, "/tmp/hutch-agent-%016llx", /* always fits */
                    (unsigned long long)hash64(s->dir, strlen(s->dir)));
}

/* ---- uploading hutch-init ----------------------------------------------------------- */

static void octal(char *field, size_t width, unsigned long long value)
{
    /* width - 1 digits and a NUL, as tar wants; the values here fit. */
    for (size_t i = width - 1; i-- > 0; value >>= 3)
        field[i] = (char)('0' + (value & 7));
    field[width - 1] = '\0';
}

/* A tar of one file, name (mode 0755, owned by root: every user of the
 * container may run it, none may change it). */
static unsigned char *tar_of(const char *name, const char *data, size_t size, time_t mtime,
                             size_t *tar_len)
{
    size_t padded = (size + 511) / 512 * 512;
    *tar_len = 512 + padded + 1024;
    unsigned char *tar = calloc(1, *tar_len);
    if (!tar)
        return NULL;
    char *h = (char *)tar;
    memcpy(h, name, strlen(name)); /* under 100 bytes: checked by the caller */
    octal(h + 100, 8, 0755);
    octal(h + 108, 8, 0);
    octal(h + 116, 8, 0);
    octal(h + 124, 12, size);
    octal(h + 136, 12, (unsigned long long)mtime);
    memset(h + 148, ' ', 8);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    unsigned sum = 0;
    for (size_t i = 0; i < 512; i++)
        sum += tar[i];
    octal(h + 148, 7, sum);
    memcpy(tar + 512, data, size);
    return tar;
}

/* The binary's name in the container: beside the agent's directory, named
 * for this build of hutch-init (its size and time), so that a newer hutch
 * never overwrites one that runs. */
static int binary_in_container(const char *dir, const struct stat *st, char *out, size_t len,
                               hutch_error *err)
{
    char id[64];
    fmt_bounded(id, "%lld-%lld.%09ld", (long long)st->st_size, (long long)st->st_mtim.tv_sec,
                st->st_mtim.tv_nsec);
    return fmt_checked(err, out, len, "%s-%08llx%s", dir,
                       (unsigned long long)(hash64(id, strlen(id)) & 0xffffffffu),
                       RELAY_BINARY_SUFFIX);
}

static int upload_agent(struct engine *e, const char *container, const char *local,
                        const char *remote, hutch_error *err)
{
    autofree char *data = NULL;
    size_t size = 0;
    if (read_file_bounded(local, BINARY_MAX, &data, &size) < 0)
        return error_sys(err, errno, "cannot read %s", local);
    struct stat st;
    if (stat(local, &st) < 0)
        return error_sys(err, errno, "cannot inspect %s", local);
    const char *slash = strrchr(remote, '/');
    char parent[256];
    if (!slash || strlen(slash + 1) >= 100 ||
        fmt_checked(err, parent, sizeof parent, "%.*s", (int)(slash - remote), remote) < 0)
        return error_set(err, HUTCH_E_INVALID, "the agent's path %s is too long", remote);
    size_t tar_len;
    autofree unsigned char *tar = tar_of(slash + 1, data, size, st.st_mtim.tv_sec, &tar_len);
    if (!tar)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    if (engine_put_archive(e, container, parent[0] ? parent : "/", tar, tar_len, err) < 0) {
        error_prefix(err, "cannot put hutch's agent into the container %s", container);
        return -1;
    }
    return 0;
}

/* ---- the stream, joined to a local socket ------------------------------------------ */

struct pump {
    int stream;  /* the exec's hijacked connection */
    int local;   /* our end of the socket pair; the agent client has the other */
    int content; /* write's content, from the client, sent in the stream; -1 */
    struct frame_parser parser;
    unsigned char out[64 * 1024]; /* the relay's stdout, for the client */
    size_t out_len, out_off;
    unsigned long long out_total;
    char text[TEXT_MAX]; /* the relay's stderr and the engine's own text */
    size_t text_len;
};

static void to_pump(void *ctx, const struct frame_piece *f)
{
    struct pump *p = ctx;
    if (f->stream == FRAME_STDOUT) {
        /* Fits: no more is read from the stream than out has room for. */
        memcpy(p->out + p->out_len, f->data, f->len);
        p->out_len += f->len;
        p->out_total += f->len;
        return;
    }
    for (size_t i = 0; i < f->len && p->text_len < sizeof p->text - 1; i++) {
        unsigned char c = (unsigned char)f->data[i];
        p->text[p->text_len++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
}

/* Sends all of buf on fd, waiting at most SEND_MS for room each time. */
static int send_bounded(int fd, const void *buf, size_t len)
{
    const char *at = buf;
    while (len) {
        ssize_t n = send(fd, at, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            at += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (TEMP_FAILURE_RETRY(poll(&p, 1, SEND_MS)) <= 0)
            return -1;
    }
    return 0;
}

static int send_chunk(struct pump *p, enum relay_chunk kind, const void *data, size_t len)
{
    unsigned char header[RELAY_CHUNK_HEADER] = {(unsigned char)kind};
    uint32_t n = (uint32_t)len;
    memcpy(header + 4, &n, sizeof n);
    return send_bounded(p->stream, header, sizeof header) < 0 ||
                   (len && send_bounded(p->stream, data, len) < 0)
               ? -1
               : 0;
}

/* What the client wrote: the agent's bytes, and once write's content
 * descriptor (on the first byte of its request). -1: the client is gone. */
static int from_client(struct pump *p)
{
    _Static_assert(RELAY_CHUNK_MAX >= 16384, "chunks hold a read");
    unsigned char buf[16384];
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(4 * sizeof(int))];
    } control;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                        .msg_controllen = sizeof control.buf};
    ssize_t n = TEMP_FAILURE_RETRY(recvmsg(p->local, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
    if (n < 0 && errno == EAGAIN)
        return 0;
    int fd = -1;
    for (struct cmsghdr *cm = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
            int got;
            memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof got);
            if (fd < 0 && p->content < 0)
                fd = got;
            else
                close(got); /* one content at a time */
        }
    }
    if (n <= 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (send_chunk(p, fd >= 0 ? RELAY_AGENT_CONTENT : RELAY_AGENT, buf, (size_t)n) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (fd >= 0)
        p->content = fd;
    return 0;
}

static int send_content(struct pump *p)
{
    unsigned char buf[RELAY_CHUNK_MAX];
    ssize_t n = TEMP_FAILURE_RETRY(read(p->content, buf, sizeof buf));
    if (n > 0)
        return send_chunk(p, RELAY_CONTENT, buf, (size_t)n);
    close_fd(&p->content); /* its end, or all that can be read of it */
    return send_chunk(p, RELAY_CONTENT_END, NULL, 0);
}

/* The stream ended without a word from the agent: what the container said
 * instead (the engine's error, a relay that could not run) reaches the
 * client as the agent's refusal. */
static void say_why(struct pump *p)
{
    if (p->out_total || !p->text_len)
        return;
    p->text[p->text_len] = '\0';
    struct agent_buf b = {0};
    agent_msg_begin(&b, AT_ERROR);
    agent_put_u64(&b, AF_ERROR_KIND, AE_SYSTEM);
    agent_put_str(&b, AF_MESSAGE, p->text);
    if (agent_msg_end(&b) == 0)
        (void)send_bounded(p->local, b.data, b.len);
    agent_buf_free(&b);
}

static void *pump_main(void *arg)
{
    struct pump *p = arg;
    char buf[sizeof p->out];
    for (;;) {
        bool room = p->out_len == 0;
        struct pollfd pfd[4] = {
            {.fd = p->local, .events = POLLIN | (p->out_len ? POLLOUT : 0)},
            {.fd = room ? p->stream : -1, .events = POLLIN},
            {.fd = p->content, .events = POLLIN},
        };
        if (poll(pfd, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if ((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) && from_client(p) < 0)
            break;
        if (pfd[2].revents && p->content >= 0 && send_content(p) < 0)
            break;
        if (pfd[1].revents) {
            ssize_t n = TEMP_FAILURE_RETRY(read(p->stream, buf, sizeof p->out));
            if (n <= 0 || frame_parser_feed(&p->parser, buf, (size_t)n, to_pump, p) < 0) {
                /* The relay is done (or the stream is not the engine's): what
                 * it sent goes to the client, then the end. */
                if (p->out_len > p->out_off)
                    (void)send_bounded(p->local, p->out + p->out_off, p->out_len - p->out_off);
                say_why(p);
                break;
            }
        }
        if (p->out_len > p->out_off && (pfd[0].revents & POLLOUT)) {
            ssize_t n = send(p->local, p->out + p->out_off, p->out_len - p->out_off,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                break;
            if (n > 0)
                p->out_off += (size_t)n;
        }
        if (p->out_off == p->out_len)
            p->out_len = p->out_off = 0;
    }
    /* The client reads what is left, then the end of the stream. */
    close(p->stream);
    close(p->local);
    if (p->content >= 0)
        close(p->content);
    free(p);
    return NULL;
}

/* The relay's stream as a local socket: conn->fd. */
static int join_stream(int stream, struct agent_conn *conn, hutch_error *err)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
        close(stream);
        return error_sys(err, errno, "cannot make a socket pair");
    }
    struct pump *p = calloc(1, sizeof *p);
    if (!p) {
        close(stream);
        close(pair[0]);
        close(pair[1]);
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    }
    *p = (struct pump){.stream = stream, .local = pair[1], .content = -1};
    frame_parser_init(&p->parser);
    (void)fcntl(pair[1], F_SETFL, O_NONBLOCK);
    (void)fcntl(stream, F_SETFL, O_NONBLOCK);
    /* The thread takes no signal of the caller's. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int r = thread_start_detached(pump_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        close(stream);
        close(pair[0]);
        close(pair[1]);
        free(p);
        return error_sys(err, r, "cannot start a thread");
    }
    conn->fd = pair[0];
    conn->cancel_fd = -1;
    return 0;
}

/* ---- execs ---------------------------------------------------------------------------- */

/* Creates an exec of body (taken) in the container; its id in id. */
static int exec_create(struct engine *e, const char *container, json_t *body, char *id,
                       size_t len, hutch_error *err)
{
    long status;
    json_t *reply = NULL;
    int r = engine_call_on(e, "POST", "/containers/", container, "/exec", body, &status, &reply,
                           err);
    json_decref(body);
    if (r == 0 && status == 409)
        r = error_set(err, HUTCH_E_INVALID,
                      "the container %s is not running: start it (hutch never starts or stops "
                      "containers it did not create)",
                      container);
    else if (r == 0 && status != 201)
        r = engine_failed(status, reply, err, "cannot run in the container %s", container);
    if (r == 0) /* an id is never cut */
        r = fmt_checked(err, id, len, "%s", json_string_value(json_object_get(reply, "Id")) ?: "");
    if (r == 0 && !id[0])
        r = error_set(err, HUTCH_E_SYSTEM, "the engine gave the exec no id");
    json_decref(reply);
    return r;
}

static int exec_start(struct engine *e, const char *id, bool tty, int *stream, hutch_error *err)
{
    char path[320];
    if (fmt_checked(err, path, sizeof path, "/exec/%s/start", id) < 0)
        return -1;
    json_t *start = json_pack("{s:b, s:b}", "Detach", 0, "Tty", tty);
    int r = engine_hijack(e, path, start, "cannot start in the container", stream, err);
    json_decref(start);
    return r;
}

void docker_exec_kill(struct engine *e, const char *container, const char *user,
                      const char *token, int sig, const char *also_remove)
{
    char script[512];
    if (!token[0] ||
        !fmt_fits(script, sizeof script,
                  "for p in /proc/[0-9]*; do "
                  "tr '\\0' '\\n' < $p/environ 2>/dev/null | grep -qx 'HUTCH_EXEC=%s' && "
                  "kill -%d ${p#/proc/} 2>/dev/null; done; %s%s%sexit 0",
                  token, sig, also_remove ? "rm -f '" : "", also_remove ? also_remove : "",
                  also_remove ? "'; " : ""))
        return; /* a cut token would match other runs' processes */
    json_t *body = json_pack("{s:[s,s,s], s:b, s:b}", "Cmd", "/bin/sh", "-c", script,
                             "AttachStdout", 0, "AttachStderr", 0);
    if (user)
        json_object_set_new(body, "User", json_string(user));
    char id[128];
    hutch_error ignored;
    if (exec_create(e, container, body, id, sizeof id, &ignored) < 0)
        return;
    json_t *start = json_pack("{s:b, s:b}", "Detach", 1, "Tty", 0);
    json_t *reply = NULL;
    long status;
    char path[320];
    if (fmt_fits(path, sizeof path, "/exec/%s/start", id))
        (void)engine_call(e, "POST", path, start, &status, &reply, &ignored);
    json_decref(reply);
    json_decref(start);
}

/* The exit code of a finished exec, -1 when the engine does not tell;
 * *still_running when it had not finished within 3 s (no code then). */
static long exec_exit_code(struct engine *e, const char *id, bool *still_running)
{
    char path[320];
    if (!fmt_fits(path, sizeof path, "/exec/%s/json", id))
        return -1;
    long code = -1;
    *still_running = false;
    double until = monotonic_ms() + 3000;
    for (int tries = 0; tries < 100 && monotonic_ms() < until; tries++) {
        long status;
        json_t *reply = NULL;
        hutch_error ignored;
        if (engine_call(e, "GET", path, NULL, &status, &reply, &ignored) < 0 || status != 200) {
            json_decref(reply);
            return -1;
        }
        bool running = json_is_true(json_object_get(reply, "Running"));
        code = (long)json_integer_value(json_object_get(reply, "ExitCode"));
        json_decref(reply);
        *still_running = running;
        if (!running)
            return code;
        usleep(10000); /* the exec's state settles shortly after its stream ends */
    }
    return code;
}

/* ---- connecting ------------------------------------------------------------------------ */

/* A relay exec, to stop when hutch gives up on it: a relay that breaks the
 * protocol may run on and send for ever, and Podman's conmon then spins on
 * a CPU of the host's until the container goes. */
struct relay_exec {
    char engine[300]; /* "": the default */
    char container[256];
    char user[128];   /* "": the container's */
    char token[32];
};

static void stop_relay_exec(void *ctx)
{
    const struct relay_exec *x = ctx;
    struct engine e;
    hutch_error ignored;
    if (engine_open(&e, x->engine[0] ? x->engine : NULL, &ignored) < 0)
        return;
    e.call_limit_s = 10;
    docker_exec_kill(&e, x->container, x->user[0] ? x->user : NULL, x->token, SIGKILL, NULL);
    engine_close(&e);
}

/* The token of a relay exec, and what agent_close() needs to stop it. */
static struct relay_exec *relay_exec_new(const char *engine, const char *container,
                                         const char *user)
{
    struct relay_exec *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    engine_random_hex(x->token, sizeof x->token);
    if (!x->token[0] || !str_join_fits(x->engine, sizeof x->engine, engine ? engine : "", NULL) ||
        !str_join_fits(x->container, sizeof x->container, container, NULL) ||
        !str_join_fits(x->user, sizeof x->user, user ? user : "", NULL)) {
        free(x);
        return NULL;
    }
    return x;
}

static int relay_once(struct engine *e, const char *engine, const char *container,
                      const char *binary, const char *dir, bool confine, const char *user,
                      struct agent_conn *conn, hutch_error *err)
{
    struct relay_exec *x = relay_exec_new(engine, container, user);
    if (!x)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory, or no random token");
    json_t *cmd = json_pack("[s, s, s]", binary, "--relay", dir);
    if (confine)
        json_array_append_new(cmd, json_string("--confine-commands"));
    json_t *body = json_pack("{s:o, s:b, s:b, s:b, s:b, s:[s+]}", "Cmd", cmd, "AttachStdin", 1,
                             "AttachStdout", 1, "AttachStderr", 1, "Tty", 0, "Env",
                             "HUTCH_EXEC=", x->token);
    if (user)
        json_object_set_new(body, "User", json_string(user));
    char id[128];
    int stream = -1;
    if (exec_create(e, container, body, id, sizeof id, err) < 0 ||
        exec_start(e, id, false, &stream, err) < 0 || join_stream(stream, conn, err) < 0) {
        free(x);
        return -1;
    }
    conn->on_broken = stop_relay_exec;
    conn->on_broken_ctx = x;
    struct agent_hello hello;
    if (agent_hello(conn, HELLO_MS, &hello, err) < 0) {
        agent_close(conn);
        error_prefix(err, "hutch's agent in the container %s", container);
        return -1;
    }
    if (hello.version != AGENT_VERSION) {
        agent_close(conn);
        return error_set(err, HUTCH_E_SYSTEM,
                         "hutch's agent in the container %s speaks protocol %llu, not %d: "
                         "remove the session (hutch session rm) and use it again",
                         container, (unsigned long long)hello.version, AGENT_VERSION);
    }
    return 0;
}

int docker_relay_connect(struct session *s, const struct hutch_policy *p, struct agent_conn *conn,
                         hutch_error *err)
{
    *conn = (struct agent_conn){.fd = -1, .cancel_fd = -1};
    const char *container = container_of(s);
    if (!container)
        return error_set(err, HUTCH_E_INVALID, "session %s has no container", s->key);
    char dir[64], binary[160], local[PATH_MAX];
    agent_dir_of(s, dir, sizeof dir);
    bool adopted = s->record->adopted;
    struct stat st;
    if (adopted) {
        if (agent_binary_path(local, sizeof local, err) < 0)
            return -1;
        if (stat(local, &st) < 0)
            return error_sys(err, errno, "cannot inspect %s", local);
        if (binary_in_container(dir, &st, binary, sizeof binary, err) < 0)
            return -1;
    } else {
        /* hutch made the container: its hutch-init is bound in already. */
        fmt_bounded(binary, "%s", AGENT_BINARY_PATH);
    }
    if (record_set(&s->record->agent_dir, dir) < 0)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    struct engine e;
    if (engine_open(&e, s->record->engine, err) < 0)
        return -1;
    int r = 0;
    if (adopted) {
        struct engine_path_stat there;
        r = engine_path_stat(&e, container, binary, &there, err);
        if (r == 0 && (!there.exists || there.size != (long long)st.st_size))
            r = upload_agent(&e, container, local, binary, err);
    }
    /* Commands are kept out of the agent's directory where hutch made the
     * container (Landlock, as for its PID 1); an adopted one's are the
     * container's own, as trusted as the agent. */
    if (r == 0)
        r = relay_once(&e, s->record->engine, container, binary, dir, !adopted,
                       adopted ? p->user : NULL, conn, err);
    engine_close(&e);
    return r;
}

int docker_relay_remove(struct session *s, hutch_error *err)
{
    const char *container = container_of(s);
    const char *dir = s->record->agent_dir;
    if (!dir || !container)
        return 0;
    struct engine e;
    if (engine_open(&e, s->record->engine, err) < 0)
        return -1;
    /* Removing a session ends, whatever the container (or an engine busy
     * with it) does: no call here waits long. */
    e.call_limit_s = 10;
    char binary[160], local[PATH_MAX];
    struct stat st;
    int r = 0;
    if (!s->record->adopted) {
        fmt_bounded(binary, "%s", AGENT_BINARY_PATH);
    } else {
        /* This hutch's binary stops the agent, whichever put it there, and
         * removes every DIR-*.init. */
        struct engine_path_stat there;
        hutch_error ignored;
        if (agent_binary_path(local, sizeof local, err) < 0 || stat(local, &st) < 0 ||
            binary_in_container(dir, &st, binary, sizeof binary, err) < 0)
            r = -1;
        else if (engine_path_stat(&e, container, binary, &there, &ignored) == 0 &&
                 !there.exists)
            r = upload_agent(&e, container, local, binary, &ignored);
        if (r < 0) {
            engine_close(&e);
            return 0; /* a container that is gone or stopped has no agent to stop */
        }
    }
    /* As root: the binary is root's, the agent may not be. */
    char token[32];
    engine_random_hex(token, sizeof token);
    json_t *body = json_pack("{s:[s, s, s], s:b, s:b, s:b, s:s, s:[s+]}", "Cmd", binary, "--stop",
                             dir, "AttachStdout", 1, "AttachStderr", 1, "Tty", 0, "User", "0:0",
                             "Env", "HUTCH_EXEC=", token);
    char id[128];
    int stream = -1;
    hutch_error ignored;
    if (exec_create(&e, container, body, id, sizeof id, &ignored) == 0 &&
        exec_start(&e, id, false, &stream, &ignored) == 0) {
        char buf[4096];
        struct pollfd pfd = {.fd = stream, .events = POLLIN};
        double until = monotonic_ms() + 5000; /* the agent gets 3 s to stop */
        while (monotonic_ms() < until && TEMP_FAILURE_RETRY(poll(&pfd, 1, 500)) >= 0) {
            if (pfd.revents && TEMP_FAILURE_RETRY(read(stream, buf, sizeof buf)) <= 0)
                break;
        }
        close(stream);
        bool running;
        long code = exec_exit_code(&e, id, &running);
        if (running) /* not left to run (and send) for ever */
            docker_exec_kill(&e, container, "0:0", token, SIGKILL, NULL);
        if (running)
            r = error_set(err, HUTCH_E_SYSTEM,
                          "hutch's agent in the container %s did not stop within 5 s: remove "
                          "%s and %s-*.init in it",
                          container, dir, dir);
        else if (code != 0)
            r = error_set(err, HUTCH_E_SYSTEM,
                          "hutch's agent in the container %s was not removed (exit code %ld): "
                          "remove %s and %s-*.init in it",
                          container, code, dir, dir);
    }
    engine_close(&e);
    return r;
}

/* ---- terminals --------------------------------------------------------------------------- */

static void resize(struct engine *e, const char *id, int tty, struct winsize *last)
{
    struct winsize ws;
    if (ioctl(tty, TIOCGWINSZ, &ws) < 0 || !ws.ws_row || !ws.ws_col ||
        (ws.ws_row == last->ws_row && ws.ws_col == last->ws_col))
        return;
    *last = ws;
    char path[400];
    if (!fmt_fits(path, sizeof path, "/exec/%s/resize?h=%u&w=%u", id, (unsigned)ws.ws_row,
                  (unsigned)ws.ws_col))
        return;
    long status;
    hutch_error ignored;
    (void)engine_call(e, "POST", path, NULL, &status, NULL, &ignored);
}

static bool copy(int from, int to)
{
    char buf[8192];
    ssize_t n = TEMP_FAILURE_RETRY(read(from, buf, sizeof buf));
    return n > 0 && write_all(to, buf, (size_t)n) == 0;
}

int docker_exec_tty(struct engine *e, const char *container, const struct hutch_policy *p,
                    const char *workdir, const hutch_command *cmd, hutch_result *r,
                    hutch_error *err)
{
    autostrlist struct strlist argv = {0};
    autostrlist struct strlist vars = {0};
    if (command_argv(cmd, &argv, err) < 0)
        return -1;
    if (policy_env_apply(p, false, &vars) < 0)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    json_t *cmdline = json_array();
    for (size_t i = 0; i < argv.len; i++)
        json_array_append_new(cmdline, json_string(argv.items[i]));
    json_t *env = json_array();
    for (size_t i = 0; i < vars.len; i++)
        json_array_append_new(env, json_string(vars.items[i]));
    if (strlist_find_env(&vars, "TERM", 4) < 0)
        json_array_append_new(env, json_string("TERM=xterm"));
    json_t *body = json_pack("{s:o, s:o, s:b, s:b, s:b, s:b}", "Cmd", cmdline, "Env", env,
                             "AttachStdin", 1, "AttachStdout", 1, "AttachStderr", 1, "Tty", 1);
    const char *wd = p->workdir ?: workdir;
    if (wd)
        json_object_set_new(body, "WorkingDir", json_string(wd));
    if (p->user)
        json_object_set_new(body, "User", json_string(p->user));
    char id[128];
    autoclose int stream = -1;
    if (exec_create(e, container, body, id, sizeof id, err) < 0 ||
        exec_start(e, id, true, &stream, err) < 0)
        return -1;
    double start = monotonic_ms();
    /* The container's terminal does the line discipline; ours passes bytes. */
    struct termios saved;
    bool raw = tcgetattr(cmd->tty_fd, &saved) == 0;
    if (raw) {
        struct termios t = saved;
        cfmakeraw(&t);
        (void)tcsetattr(cmd->tty_fd, TCSANOW, &t);
    }
    struct winsize last = {0};
    resize(e, id, cmd->tty_fd, &last);
    uint64_t timeout_ms = policy_is_set(p, F_LIMIT_TIMEOUT) ? p->limits.timeout_ms : 0;
    double deadline = timeout_ms ? start + (double)timeout_ms : 0;
    int cancel = cmd->cancel_fd;
    /* What is typed before the command first writes waits for that: the
     * engine may drop input sent before the command is there to take it. */
    bool heard = false, typing = true;
    for (;;) {
        struct pollfd pfd[3] = {{.fd = stream, .events = POLLIN},
                                {.fd = heard && typing ? cmd->tty_fd : -1, .events = POLLIN},
                                {.fd = cancel, .events = POLLIN}};
        int n = poll(pfd, 3, 250);
        if (n < 0 && errno != EINTR)
            break;
        if (pfd[0].revents && !copy(stream, cmd->tty_fd))
            break; /* the command's terminal closed: it has ended */
        heard = heard || pfd[0].revents;
        if (pfd[1].revents && !copy(cmd->tty_fd, stream))
            typing = false;
        /* Hanging up the exec's terminal ends it (SIGHUP), as a closed
         * terminal window does. */
        if (pfd[2].revents) {
            close_fd(&stream);
            break;
        }
        if (deadline && monotonic_ms() >= deadline) {
            r->timed_out = true;
            close_fd(&stream);
            break;
        }
        resize(e, id, cmd->tty_fd, &last);
    }
    if (raw)
        (void)tcsetattr(cmd->tty_fd, TCSANOW, &saved);
    close_fd(&stream);
    r->duration_ms = monotonic_ms() - start;
    bool running;
    long code = exec_exit_code(e, id, &running);
    r->exit_code = r->timed_out ? 124 : code >= 0 ? (int)code : 129;
    if (code > 128 && code < 160)
        r->signal = (int)code - 128;
    return 0;
}
