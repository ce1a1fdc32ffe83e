#include "agent/client.h"

#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

/* How long a RUN may wait for AT_STARTED: the agent answers right after a
 * vfork and exec, so only a hung or hostile agent takes this long. */
#define START_TIMEOUT_MS 60000
/* How long sending a request may stall on a full socket. */
#define SEND_TIMEOUT_MS 30000

/* ---- bounded I/O --------------------------------------------------------------- */

static int remaining_ms(double deadline)
{
    if (deadline < 0)
        return -1;
    double left = deadline - monotonic_ms();
    return left <= 0 ? 0 : left > 1e9 ? 1000000000 : (int)left + 1;
}

/* Waits for events on the connection until deadline (-1: forever). 1 ready,
 * 0 timed out, -1 error, -2 cancelled by the caller. */
static int wait_fd(const struct agent_conn *c, short events, double deadline)
{
    for (;;) {
        struct pollfd p[2] = {{.fd = c->fd, .events = events},
                              {.fd = c->cancel_fd, .events = POLLIN}};
        int r = poll(p, 2, remaining_ms(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        if (r > 0 && p[1].revents && !p[0].revents)
            return -2;
        return r < 0 ? -1 : r;
    }
}

static int read_message(struct agent_conn *c, double deadline, const char *what,
                        struct agent_msg *msg, uint8_t **body, hutch_error *err);
static int agent_refused(const struct agent_msg *m, const char *what, hutch_error *err);

/* The agent may have refused and closed before reading our request (it
 * answers AE_BUSY at accept time): its AT_ERROR says more than EPIPE. */
static int send_failed(struct agent_conn *c, int errnum, const char *what, hutch_error *err)
{
    if (errnum == EPIPE || errnum == ECONNRESET) {
        struct agent_msg m;
        autofree uint8_t *body = NULL;
        if (read_message(c, monotonic_ms() + 100, what, &m, &body, NULL) == 0 &&
            m.type == AT_ERROR) {
            int r = agent_refused(&m, what, err);
            agent_msg_free(&m);
            return r;
        }
        agent_msg_free(&m);
    }
    return error_sys(err, errnum, "cannot send %s to hutch-init", what);
}

/* Sends all of buf; fds (if any) ride on the first byte that leaves. */
static int send_request(struct agent_conn *c, const uint8_t *buf, size_t len, const int *fds,
                        int nfds, const char *what, hutch_error *err)
{
    double deadline = monotonic_ms() + SEND_TIMEOUT_MS;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(3 * sizeof(int))];
    } control;
    size_t off = 0;
    while (off < len) {
        struct iovec iov = {.iov_base = (void *)(buf + off), .iov_len = len - off};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        if (off == 0 && nfds > 0) {
            memset(&control, 0, sizeof control);
            mh.msg_control = control.buf;
            mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
            struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
            memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
        }
        int step = agent_sent(sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT), &off);
        if (step > 0)
            continue;
        if (step < 0)
            return send_failed(c, errno, what, err);
        int r = wait_fd(c, POLLOUT, deadline);
        if (r == -2)
            return error_set(err, HUTCH_E_SYSTEM, "cancelled while sending %s", what);
        if (r < 0)
            return error_sys(err, errno, "cannot send %s to hutch-init", what);
        if (r == 0)
            return error_set(err, HUTCH_E_SYSTEM, "hutch-init does not take %s (timed out)", what);
    }
    return 0;
}

/* Reads exactly len bytes. 1 done, 0 clean end of stream before any byte, -1 error. */
static int recv_exact(struct agent_conn *c, uint8_t *buf, size_t len, double deadline,
                      hutch_error *err)
{
    size_t got = 0;
    while (got < len) {
        /* The agent sends no descriptors: recv() discards any it tries to. */
        ssize_t n = recv(c->fd, buf + got, len - got, MSG_DONTWAIT);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == 0) {
            if (got == 0)
                return 0;
            return error_set(err, HUTCH_E_SYSTEM, "hutch-init closed the connection mid-message");
        }
        if (errno == EINTR)
            continue;
        if (errno == ECONNRESET && got == 0)
            return 0;
        if (errno != EAGAIN)
            return error_sys(err, errno, "cannot read from hutch-init");
        int r = wait_fd(c, POLLIN, deadline);
        if (r == -2)
            return error_set(err, HUTCH_E_SYSTEM, "cancelled while waiting for hutch-init");
        if (r < 0)
            return error_sys(err, errno, "cannot read from hutch-init");
        if (r == 0)
            return error_set(err, HUTCH_E_SYSTEM, "hutch-init did not answer in time");
    }
    return 1;
}

/* Copies text from the agent for a message: bounded, printable only. */
static void sanitize(struct agent_str s, char *out, size_t size)
{
    size_t n = s.len < size - 1 ? s.len : size - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s.s[i];
        out[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    out[n] = '\0';
}

/* Turns an AT_ERROR into err. */
static int agent_refused(const struct agent_msg *m, const char *what, hutch_error *err)
{
    char text[256];
    sanitize(m->message, text, sizeof text);
    if (m->error_kind == AE_VERSION)
        return error_set(err, HUTCH_E_UNSUPPORTED,
                         "hutch-init speaks protocol version %llu, this hutch speaks %d: restart "
                         "the session",
                         (unsigned long long)m->version, AGENT_VERSION);
    int r = error_set(err, HUTCH_E_SYSTEM, "hutch-init refused %s (%s): %s", what,
                      agent_error_name((int)m->error_kind), text[0] ? text : "no reason given");
    if (err && m->has_errno && m->err_no > 0 && m->err_no < 4096)
        err->sys_errno = (int)m->err_no;
    return r;
}

/* Reads one message. *body must be freed by the caller; msg with agent_msg_free(). */
static int read_message_of(struct agent_conn *c, double deadline, const char *what,
                           struct agent_msg *msg, uint8_t **body, hutch_error *err)
{
    *body = NULL;
    memset(msg, 0, sizeof *msg);
    uint8_t raw[AGENT_HEADER_SIZE];
    int r = recv_exact(c, raw, sizeof raw, deadline, err);
    if (r < 0)
        return -1;
    if (r == 0)
        return error_set(err, HUTCH_E_SYSTEM,
                         "hutch-init closed the connection while waiting for %s", what);
    struct agent_header h;
    int kind = agent_header_parse(raw, &h);
    if (kind == AE_VERSION)
        return error_set(err, HUTCH_E_UNSUPPORTED,
                         "hutch-init speaks protocol version %u, this hutch speaks %d: restart "
                         "the session",
                         (unsigned)h.version, AGENT_VERSION);
    if (kind)
        return error_set(err, HUTCH_E_SYSTEM, "hutch-init sent a bad reply (%s) to %s",
                         agent_error_name(kind), what);
    if (h.length) {
        *body = malloc(h.length);
        if (!*body)
            return error_set(err, HUTCH_E_SYSTEM, "out of memory");
        r = recv_exact(c, *body, h.length, deadline, err);
        if (r < 0)
            return -1;
        if (r == 0)
            return error_set(err, HUTCH_E_SYSTEM, "hutch-init closed the connection mid-message");
    }
    kind = agent_msg_parse(h.type, *body, h.length, msg);
    if (kind)
        return error_set(err, HUTCH_E_SYSTEM, "hutch-init sent a bad reply (%s) to %s",
                         agent_error_name(kind), what);
    return 0;
}

static int read_message(struct agent_conn *c, double deadline, const char *what,
                        struct agent_msg *msg, uint8_t **body, hutch_error *err)
{
    int r = read_message_of(c, deadline, what, msg, body, err);
    if (r < 0)
        c->broken = true; /* no answer, or not one: the stream is not to be trusted */
    return r;
}

/* Sends a request with no fields and reads the reply of the wanted type. */
static int request_reply(struct agent_conn *c, enum agent_type type, enum agent_type reply,
                         int timeout_ms, const char *what, struct agent_msg *msg, uint8_t **body,
                         hutch_error *err)
{
    if (c->fd < 0)
        return error_set(err, HUTCH_E_INVALID, "not connected to hutch-init");
    struct agent_buf b = {0};
    agent_msg_begin(&b, type);
    if (agent_msg_end(&b) < 0) {
        agent_buf_free(&b);
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    }
    int r = send_request(c, b.data, b.len, NULL, 0, what, err);
    agent_buf_free(&b);
    if (r < 0)
        return -1;
    double deadline = timeout_ms < 0 ? -1 : monotonic_ms() + timeout_ms;
    if (read_message(c, deadline, what, msg, body, err) < 0)
        return -1;
    if (msg->type == AT_ERROR)
        return agent_refused(msg, what, err);
    if (msg->type != reply)
        return error_set(err, HUTCH_E_SYSTEM, "hutch-init sent message type %u in reply to %s",
                         (unsigned)msg->type, what);
    return 0;
}

/* The same, with take copying what it wants from the reply into out. */
static int simple_request(struct agent_conn *c, enum agent_type type, enum agent_type reply,
                          int timeout_ms, const char *what,
                          void (*take)(const struct agent_msg *m, void *out), void *out,
                          hutch_error *err)
{
    struct agent_msg m = {0};
    autofree uint8_t *body = NULL;
    int r = request_reply(c, type, reply, timeout_ms, what, &m, &body, err);
    if (r == 0)
        take(&m, out);
    agent_msg_free(&m);
    return r;
}

/* ---- connecting ------------------------------------------------------------------ */

int agent_connect(const char *socket_path, uid_t expected_uid, struct agent_conn *c,
                  hutch_error *err)
{
    *c = (struct agent_conn){.fd = -1, .cancel_fd = -1};
    /* The sandbox can write the runtime directory: never follow what it put there. */
    autoclose int path_fd = TEMP_FAILURE_RETRY(open_cloexec(socket_path, O_PATH | O_NOFOLLOW));
    if (path_fd < 0) {
        if (errno == ENOENT)
            return error_set(err, HUTCH_E_UNSUPPORTED, "nothing listens on %s", socket_path);
        return error_sys(err, errno, "cannot open %s", socket_path);
    }
    struct stat st;
    if (fstat(path_fd, &st) < 0)
        return error_sys(err, errno, "cannot inspect %s", socket_path);
    if (!S_ISSOCK(st.st_mode))
        return error_set(err, HUTCH_E_SYSTEM,
                         "%s is not a socket: the session may have been "
                         "tampered with; remove it",
                         socket_path);
    if (expected_uid != (uid_t)-1 && st.st_uid != expected_uid)
        return error_set(err, HUTCH_E_SYSTEM,
                         "%s belongs to uid %u, not %u: the session may have been tampered "
                         "with; remove it",
                         socket_path, (unsigned)st.st_uid, (unsigned)expected_uid);

    autoclose int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return error_sys(err, errno, "cannot create a socket");
    /* Through the descriptor: the socket checked above, however long its path. */
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    fmt_bounded(addr.sun_path, "/proc/self/fd/%d", path_fd);
    /* A stuck agent with a full backlog would block connect() for ever. */
    struct timeval tv = {.tv_sec = 10};
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (TEMP_FAILURE_RETRY(connect(fd, (struct sockaddr *)&addr, sizeof addr)) < 0) {
        if (errno == ENOENT && access("/proc/self/fd", F_OK) < 0)
            return error_sys(err, ENOENT, "cannot connect to %s through /proc/self/fd",
                             socket_path);
        if (errno == ECONNREFUSED || errno == ENOENT)
            return error_set(err, HUTCH_E_UNSUPPORTED, "nothing listens on %s", socket_path);
        if (errno == EAGAIN)
            return error_set(err, HUTCH_E_SYSTEM, "hutch-init at %s does not accept connections",
                             socket_path);
        return error_sys(err, errno, "cannot connect to %s", socket_path);
    }
    struct timeval none = {0};
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
    c->fd = steal_fd(&fd);
    return 0;
}

void agent_close(struct agent_conn *c)
{
    close_fd(&c->fd);
    if (c->broken && c->on_broken)
        c->on_broken(c->on_broken_ctx);
    free(c->on_broken_ctx);
    c->on_broken_ctx = NULL;
    c->on_broken = NULL;
    c->broken = false;
}

int agent_check_peer(const struct agent_conn *c, pid_t expected, hutch_error *err)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return error_sys(err, errno, "cannot ask who serves the agent's socket");
    if (cred.pid != expected)
        return error_set(err, HUTCH_E_SYSTEM,
                         "the agent's socket is served by pid %d, not by the session's agent "
                         "(pid %d): a process inside the sandbox put it there",
                         (int)cred.pid, (int)expected);
    return 0;
}

static void take_hello(const struct agent_msg *m, void *out)
{
    struct agent_hello *h = out;
    h->version = m->version;
    h->pid = m->pid;
    sanitize(m->features, h->features, sizeof h->features);
}

int agent_hello(struct agent_conn *c, int timeout_ms, struct agent_hello *out, hutch_error *err)
{
    memset(out, 0, sizeof *out);
    return simple_request(c, AT_HELLO, AT_HELLO_OK, timeout_ms, "HELLO", take_hello, out, err);
}

static void take_stats(const struct agent_msg *m, void *out)
{
    struct agent_stats *st = out;
    st->pids = m->pids;
    st->memory = m->memory;
    st->cpu_usec = m->cpu_usec;
}

int agent_stats(struct agent_conn *c, int timeout_ms, struct agent_stats *out, hutch_error *err)
{
    memset(out, 0, sizeof *out);
    return simple_request(c, AT_STATS, AT_STATS_OK, timeout_ms, "STATS", take_stats, out, err);
}

/* ---- runs ------------------------------------------------------------------------ */

static void encode_run(struct agent_buf *b, const struct agent_run_request *req)
{
    agent_msg_begin(b, AT_RUN);
    for (char *const *a = req->argv; *a; a++)
        agent_put_str(b, AF_ARG, *a);
    for (char *const *e = req->envp; e && *e; e++)
        agent_put_str(b, AF_ENV, *e);
    if (req->cwd)
        agent_put_str(b, AF_CWD, req->cwd);
    if (req->timeout_ms)
        agent_put_u64(b, AF_TIMEOUT_MS, req->timeout_ms);
    if (req->grace_ms)
        agent_put_u64(b, AF_GRACE_MS, req->grace_ms);
    if (req->file_size)
        agent_put_u64(b, AF_FILE_SIZE, req->file_size);
    if (req->tty)
        agent_put_u64(b, AF_TTY, 1);
}

int agent_run_start(struct agent_conn *c, const struct agent_run_request *req,
                    struct agent_run_start *out, hutch_error *err)
{
    memset(out, 0, sizeof *out);
    if (c->fd < 0)
        return error_set(err, HUTCH_E_INVALID, "not connected to hutch-init");
    if (!req->argv || !req->argv[0])
        return error_set(err, HUTCH_E_INVALID, "no command to run");
    size_t nargs = 0, nenv = 0;
    for (char *const *a = req->argv; *a; a++)
        nargs++;
    for (char *const *e = req->envp; e && *e; e++) {
        nenv++;
        if (!strchr(*e, '='))
            return error_set(err, HUTCH_E_INVALID, "environment entry %s has no '='", *e);
    }
    if (nargs > AGENT_MAX_ARGS || nenv > AGENT_MAX_ENV)
        return error_set(err, HUTCH_E_INVALID,
                         "too many arguments or environment variables (at most %d and %d)",
                         AGENT_MAX_ARGS, AGENT_MAX_ENV);
    if (req->cwd && req->cwd[0] != '/')
        return error_set(err, HUTCH_E_INVALID, "the working directory %s is not absolute",
                         req->cwd);

    struct agent_buf b = {0};
    encode_run(&b, req);
    if (agent_msg_end(&b) < 0) {
        agent_buf_free(&b);
        return error_set(err, HUTCH_E_INVALID,
                         "the command and its environment are too large (more than %u bytes)",
                         AGENT_MAX_BODY);
    }
    int r = send_request(c, b.data, b.len, req->stdio, 3, "RUN", err);
    agent_buf_free(&b);
    if (r < 0)
        return -1;

    struct agent_msg m;
    autofree uint8_t *body = NULL;
    r = read_message(c,
                     monotonic_ms() +
                         (double)(req->start_timeout_ms ? req->start_timeout_ms : START_TIMEOUT_MS),
                     "RUN", &m, &body, err);
    if (r == 0) {
        if (m.type == AT_STARTED) {
            out->started = true;
            out->pid = m.pid;
        } else if (m.type == AT_ERROR && (m.error_kind == AE_EXEC || m.error_kind == AE_CWD)) {
            /* The command's own problem: reported like a failed exec. */
            out->cwd_failed = m.error_kind == AE_CWD;
            out->exec_errno =
                m.has_errno && m.err_no > 0 && m.err_no < 4096 ? (int)m.err_no : ENOEXEC;
        } else if (m.type == AT_ERROR) {
            r = agent_refused(&m, "to run the command", err);
        } else {
            r = error_set(err, HUTCH_E_SYSTEM, "hutch-init sent message type %u in reply to RUN",
                          (unsigned)m.type);
        }
    }
    agent_msg_free(&m);
    return r;
}

int agent_run_signal(struct agent_conn *c, int sig, hutch_error *err)
{
    if (sig < 1 || sig > 64)
        return error_set(err, HUTCH_E_INVALID, "%d is not a signal number", sig);
    if (c->fd < 0)
        return error_set(err, HUTCH_E_INVALID, "not connected to hutch-init");
    struct agent_buf b = {0};
    agent_msg_begin(&b, AT_SIGNAL);
    agent_put_i64(&b, AF_SIGNAL, sig);
    int r = agent_msg_end(&b) < 0 ? error_set(err, HUTCH_E_SYSTEM, "out of memory")
                                  : send_request(c, b.data, b.len, NULL, 0, "SIGNAL", err);
    agent_buf_free(&b);
    return r;
}

int agent_run_wait(struct agent_conn *c, double deadline, struct agent_exit *out,
                   hutch_error *err)
{
    memset(out, 0, sizeof *out);
    if (c->fd < 0)
        return error_set(err, HUTCH_E_INVALID, "not connected to hutch-init");
    struct agent_msg m;
    autofree uint8_t *body = NULL;
    int r = read_message(c, deadline, "the command's exit", &m, &body, err);
    if (r == 0) {
        if (m.type == AT_EXITED) {
            /* agent_msg_parse checked: one of the two, in range. */
            out->exited = m.has_code;
            out->code = m.has_code ? (int)m.code : 0;
            out->signal = m.has_signal ? (int)m.signal : 0;
            out->timed_out = m.timed_out == 1;
        } else if (m.type == AT_ERROR) {
            r = agent_refused(&m, "the run", err);
        } else {
            r = error_set(err, HUTCH_E_SYSTEM,
                          "hutch-init sent message type %u while the command ran",
                          (unsigned)m.type);
        }
    }
    agent_msg_free(&m);
    return r;
}

/* ---- tool calls ------------------------------------------------------------------ */

static bool absolute_path(const char *p)
{
    return p && p[0] == '/';
}

int agent_tool_send(struct agent_conn *c, const struct agent_tool_request *req, hutch_error *err)
{
    if (c->fd < 0)
        return error_set(err, HUTCH_E_INVALID, "not connected to hutch-init");
    if (!req->name || !*req->name || !req->args_json)
        return error_set(err, HUTCH_E_INVALID, "a tool call needs a tool name and arguments");
    if (req->n_read_roots == 0 || !req->read_roots)
        return error_set(err, HUTCH_E_INVALID, "a tool call needs the workspace as first root");
    if (req->n_read_roots > AGENT_MAX_ROOTS || req->n_write_roots > AGENT_MAX_ROOTS)
        return error_set(err, HUTCH_E_INVALID, "too many roots (at most %d of each kind)",
                         AGENT_MAX_ROOTS);
    for (size_t i = 0; i < req->n_read_roots; i++)
        if (!absolute_path(req->read_roots[i]))
            return error_set(err, HUTCH_E_INVALID, "the root %s is not absolute",
                             req->read_roots[i] ? req->read_roots[i] : "(null)");
    for (size_t i = 0; i < req->n_write_roots; i++)
        if (!req->write_roots || !absolute_path(req->write_roots[i]))
            return error_set(err, HUTCH_E_INVALID, "a writable root is not absolute");
    if (req->output_dir && !absolute_path(req->output_dir))
        return error_set(err, HUTCH_E_INVALID, "the output directory %s is not absolute",
                         req->output_dir);
    size_t nenv = 0;
    for (char *const *e = req->envp; e && *e; e++) {
        if (!strchr(*e, '='))
            return error_set(err, HUTCH_E_INVALID, "environment entry %s has no '='", *e);
        nenv++;
    }
    if (nenv > AGENT_MAX_ENV)
        return error_set(err, HUTCH_E_INVALID, "too many environment variables (at most %d)",
                         AGENT_MAX_ENV);

    struct agent_buf b = {0};
    agent_msg_begin(&b, AT_TOOL);
    agent_put_str(&b, AF_TOOL, req->name);
    agent_put_str(&b, AF_ARGS, req->args_json);
    for (size_t i = 0; i < req->n_read_roots; i++)
        agent_put_str(&b, AF_ROOT_READ, req->read_roots[i]);
    for (size_t i = 0; i < req->n_write_roots; i++)
        agent_put_str(&b, AF_ROOT_WRITE, req->write_roots[i]);
    for (char *const *e = req->envp; e && *e; e++)
        agent_put_str(&b, AF_ENV, *e);
    if (req->timeout_ms)
        agent_put_u64(&b, AF_TIMEOUT_MS, req->timeout_ms);
    if (req->output_dir)
        agent_put_str(&b, AF_OUTPUT_DIR, req->output_dir);
    if (req->content_fd >= 0)
        agent_put_u64(&b, AF_CONTENT_FD, 1);
    if (agent_msg_end(&b) < 0) {
        agent_buf_free(&b);
        return error_set(err, HUTCH_E_INVALID,
                         "the tool call is too large (more than %u bytes): pass large content "
                         "as a descriptor",
                         AGENT_MAX_BODY);
    }
    int fd = req->content_fd;
    int r = send_request(c, b.data, b.len, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0, "TOOL", err);
    agent_buf_free(&b);
    return r;
}

int agent_tool_wait(struct agent_conn *c, double deadline, char **result_json,
                    hutch_error *err)
{
    *result_json = NULL;
    if (c->fd < 0)
        return error_set(err, HUTCH_E_INVALID, "not connected to hutch-init");
    char *text = NULL;
    size_t len = 0;
    for (;;) {
        struct agent_msg m;
        autofree uint8_t *body = NULL;
        if (read_message(c, deadline, "the tool's result", &m, &body, err) < 0) {
            agent_msg_free(&m);
            free(text);
            return -1;
        }
        if (m.type == AT_ERROR) {
            int r = agent_refused(&m, "the tool call", err);
            agent_msg_free(&m);
            free(text);
            return r;
        }
        if (m.type != AT_TOOL_RESULT) {
            agent_msg_free(&m);
            free(text);
            return error_set(err, HUTCH_E_SYSTEM,
                             "hutch-init sent message type %u in reply to a tool call",
                             (unsigned)m.type);
        }
        /* Bounded: a sandbox cannot make the host hold more than this. */
        if (m.result.len > AGENT_MAX_RESULT - len) {
            agent_msg_free(&m);
            free(text);
            c->broken = true; /* it may go on sending */
            return error_set(err, HUTCH_E_SYSTEM, "the tool's result is over %u MiB",
                             AGENT_MAX_RESULT >> 20);
        }
        char *grown = realloc(text, len + m.result.len + 1);
        if (!grown) {
            agent_msg_free(&m);
            free(text);
            return error_set(err, HUTCH_E_SYSTEM, "out of memory");
        }
        text = grown;
        if (m.result.len)
            memcpy(text + len, m.result.s, m.result.len);
        len += m.result.len;
        text[len] = '\0';
        bool more = m.more;
        agent_msg_free(&m);
        if (!more)
            break;
    }
    /* Shaped like an object; the caller parses it (once: parsing a 50 KiB
     * read result costs about a millisecond here). */
    size_t first = 0, last = len;
    while (first < len && strchr(" \t\r\n", text[first]))
        first++;
    while (last > first && strchr(" \t\r\n", text[last - 1]))
        last--;
    if (first == last || text[first] != '{' || text[last - 1] != '}') {
        free(text);
        return error_set(err, HUTCH_E_SYSTEM, "hutch-init sent a tool result that is not a JSON "
                                              "object");
    }
    *result_json = text;
    return 0;
}

int agent_tool(struct agent_conn *c, const struct agent_tool_request *req, char **result_json,
               hutch_error *err)
{
    *result_json = NULL;
    if (agent_tool_send(c, req, err) < 0)
        return -1;
    return agent_tool_wait(c, -1, result_json, err);
}
