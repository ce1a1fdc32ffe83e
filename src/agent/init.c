/* hutch-init: PID 1 of every session sandbox. It reaps every child and
 * serves the host's requests (proto.h, docs/agent.md) on a unix socket, in
 * one thread around one poll(). Bad input gets an AT_ERROR and a closed
 * connection; the agent itself never dies of it. Tool calls that may take
 * long (read, write, edit, bash) run in a forked worker each, which
 * answers on the connection itself; the loop only reaps it, and kills it
 * when the host hangs up. */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "agent/agent.h"
#include "agent/oneshot.h"
#include "agent/reap.h"
#include "agent/relay.h"
#include "drivers/native/landlock.h"
#include "net/bridge.h"
#include "base/proctag.h"
#include "tools/tools.h"
#include "base/util.h"

#ifndef HUTCH_VERSION_STRING
#define HUTCH_VERSION_STRING "unknown"
#endif

#define MAX_CONNS 256
#define MAX_RUNS 256
/* Reads per connection per wake-up, so that one busy peer cannot starve the rest. */
#define READS_PER_WAKEUP 16
/* A connection with no complete request for this long is dropped. */
#define IDLE_MS 60000.0
/* How long SIGTERM gets to end everything before SIGKILL, at shutdown. */
#define STOP_GRACE_MS 3000.0
/* A pause before accepting again when out of descriptors. */
#define ACCEPT_PAUSE_MS 100.0
/* Tool calls in worker processes at once. */
#define MAX_WORKERS 64
/* A cancelled worker stops on its own (bash kills its command); after
 * this long it is killed. */
#define WORKER_GRACE_MS 3000.0
/* A worker that cannot hand its result over for this long gives up. */
#define WORKER_SEND_MS 60000
/* Worker exit statuses: the result went out / nothing went out. */
#define WORKER_SENT 0
#define WORKER_FAILED 3

struct conn {
    int fd; /* -1: a free slot */
    uint8_t head[AGENT_HEADER_SIZE];
    size_t head_got;
    struct agent_header h;
    uint8_t *body; /* allocated only while a body is read */
    size_t body_got;
    int fds[3]; /* the first three passed; any more are closed at once */
    int nfds, fds_seen;
    double idle_at; /* dropped then, unless a run or tool call is going */
    bool running;
    struct run run;
    /* A tool call: in a worker process, or its result being sent from here. */
    pid_t worker;        /* 0: none */
    bool cancelled;      /* the host hung up: no longer polled */
    double worker_kill_at;
    uint64_t tool_id;    /* its commands carry HUTCH_RUN=<agent pid>.t<tool_id> */
    uint8_t *pending;    /* a result still to send (from the loop) */
    uint32_t pending_len, pending_off; /* results are at most 16 MiB */
};

static struct conn conns[MAX_CONNS];
static int nconns, nruns, nworkers;
static struct agent_buf out; /* replies are built here */
static bool whole_sandbox;   /* PID 1: every process in /proc is ours */

static int listen_fd = -1;
static const char *socket_path = AGENT_SOCKET_PATH;
/* --listen-fd: the native sandbox's init bound the socket before the
 * runtime directory became read-only; it is not ours to remove. */
static int inherited_fd = -1;
/* --confine-commands: where /.hutch stays writable (docker), commands get a
 * Landlock layer that keeps them out of it. */
static bool confine_commands;
/* --inherit-env: bash's environment is the agent's own with the host's
 * entries on top (an agent started by a relay, relay.h, has the container's). */
static bool inherit_env;
/* --relay DIR / --stop DIR: the modes of relay.h. */
static const char *relay_dir, *stop_dir;
/* Network mode allow: the proxy's socket, bridged to 127.0.0.1 (bridge.h). */
static const char *proxy_path;
static pid_t bridge_pid = -1;
/* hutch-init [--proxy PATH] -- COMMAND...: init of a one-shot docker run (oneshot.c). */
static char **exec_argv;
static struct stat socket_identity; /* to unlink only our own socket at exit */
static double accept_paused_until;

static bool stopping;
static double stop_kill_at;

/* ---- replies ------------------------------------------------------------------- */

static void conn_close(struct conn *c);

/* HUTCH_RUN's value for the commands of tool call id; false when it does
 * not fit in buf (a cut tag would be another call's). */
static bool tool_tag(uint64_t id, char *buf, size_t size)
{
    return fmt_fits(buf, size, "%ld.t%llu", (long)getpid(), (unsigned long long)id);
}

/* Signals every process of a tool call's commands (HUTCH_RUN=tag). */
static void kill_tagged(uint64_t id, int sig)
{
    if (!id)
        return;
    char entry[80] = "HUTCH_RUN=";
    if (tool_tag(id, entry + strlen(entry), sizeof entry - strlen(entry)))
        proctag_signal(entry, sig);
}

/* Replies are small and the peer reads them: a send that does not go
 * through at once means a broken peer, which loses its connection. */
static bool send_out(struct conn *c)
{
    if (agent_msg_end(&out) < 0)
        return false;
    ssize_t n = TEMP_FAILURE_RETRY(send(c->fd, out.data, out.len, MSG_NOSIGNAL | MSG_DONTWAIT));
    return n == (ssize_t)out.len;
}

static PRINTF_LIKE(4, 5) void reply_error(struct conn *c, int kind, int err, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vfmt_trunc(text, sizeof text, fmt, ap); /* a message: cut on purpose */
    va_end(ap);
    agent_msg_begin(&out, AT_ERROR);
    agent_put_u64(&out, AF_ERROR_KIND, (uint64_t)kind);
    if (err)
        agent_put_i64(&out, AF_ERRNO, err);
    if (kind == AE_VERSION)
        agent_put_u64(&out, AF_VERSION, AGENT_VERSION);
    agent_put_str(&out, AF_MESSAGE, text);
    (void)send_out(c);
}

/* An error ends the connection (and any run on it). */
#define FAIL(c, kind, err, ...)                                                                    \
    do {                                                                                           \
        reply_error((c), (kind), (err), __VA_ARGS__);                                              \
        conn_close(c);                                                                             \
    } while (0)

/* ---- connections ------------------------------------------------------------------ */

static void drop_request(struct conn *c)
{
    free(c->body);
    c->body = NULL;
    c->head_got = c->body_got = 0;
    for (int i = 0; i < c->nfds; i++)
        close_fd(&c->fds[i]);
    c->nfds = c->fds_seen = 0;
}

static void conn_close(struct conn *c)
{
    if (c->fd < 0)
        return;
    if (c->running) {
        /* The host went away (Ctrl-C, or it died): the run is cancelled. */
        run_signal(&c->run, SIGKILL);
        c->running = false;
        nruns--;
    }
    if (c->worker) {
        (void)kill(c->worker, SIGKILL);
        kill_tagged(c->tool_id, SIGKILL);
        c->worker = 0;
        nworkers--;
    }
    /* After the report (reap) or the cancel: the pipes end for hutch now. */
    close_fd(&c->run.held[0]);
    close_fd(&c->run.held[1]);
    free(c->pending);
    c->pending = NULL;
    c->pending_len = c->pending_off = 0;
    drop_request(c);
    close_fd(&c->fd);
    nconns--;
}

static void handle_run(struct conn *c, const struct agent_msg *m)
{
    if (nruns >= MAX_RUNS) {
        FAIL(c, AE_BUSY, 0, "%d commands run already: try again when one ends", MAX_RUNS);
        return;
    }
    struct run_failure f;
    int r = run_start(&c->run, m, c->fds, &f);
    c->nfds = 0; /* run_start closed them */
    if (r < 0) {
        char cmd[128];
        fmt_trunc(cmd, sizeof cmd, "%.*s", (int)(m->args[0].len < 100 ? m->args[0].len : 100),
                  m->args[0].s); /* for a message */
        if (f.kind == AE_CWD)
            FAIL(c, f.kind, f.err, "cannot enter %.*s: %s",
                 (int)(m->cwd.len < 100 ? m->cwd.len : 100), m->cwd.s, strerror(f.err));
        else if (f.kind == AE_EXEC)
            FAIL(c, f.kind, f.err, "cannot run %s: %s", cmd, strerror(f.err));
        else
            FAIL(c, f.kind, f.err, "cannot start %s: %s failed: %s", cmd, f.step ? f.step : "setup",
                 strerror(f.err));
        return;
    }
    c->running = true;
    c->idle_at = 0;
    nruns++;
    agent_msg_begin(&out, AT_STARTED);
    agent_put_u64(&out, AF_PID, (uint64_t)c->run.pid);
    if (!send_out(c))
        conn_close(c);
}

/* ---- tool calls --------------------------------------------------------------------- */

/* A piece of a result per AT_TOOL_RESULT, with room for the fields' headers. */
#define RESULT_PIECE (AGENT_MAX_BODY - 64)

static unsigned long long tool_counter;

/* The JSON text of a result as AT_TOOL_RESULT messages, back to back. */
static uint8_t *encode_result(const char *json, size_t len, size_t *out_len)
{
    size_t pieces = len / RESULT_PIECE + 1;
    size_t cap = len + pieces * (AGENT_HEADER_SIZE + 3 * AGENT_FIELD_HEADER_SIZE + 8);
    autofree uint8_t *all = malloc(cap);
    if (!all)
        return NULL;
    struct agent_buf b = {0};
    size_t off = 0, n = 0;
    do {
        size_t piece = len - off < RESULT_PIECE ? len - off : RESULT_PIECE;
        agent_msg_begin(&b, AT_TOOL_RESULT);
        agent_put_strn(&b, AF_RESULT, json + off, piece);
        off += piece;
        if (off < len)
            agent_put_u64(&b, AF_MORE, 1);
        if (agent_msg_end(&b) < 0 || n + b.len > cap) {
            agent_buf_free(&b);
            return NULL;
        }
        memcpy(all + n, b.data, b.len);
        n += b.len;
    } while (off < len);
    agent_buf_free(&b);
    *out_len = n;
    return steal_pointer(&all);
}

static char *put_str(char **at, struct agent_str v)
{
    char *s = *at;
    memcpy(s, v.s, v.len);
    s[v.len] = '\0';
    *at += v.len + 1;
    return s;
}

/* The tool environment of a TOOL request: its strings, NUL-terminated, in
 * one block (returned; env points into it). */
static bool env_named(const struct agent_msg *m, const char *entry)
{
    size_t name = strcspn(entry, "=");
    for (size_t i = 0; i < m->nenv; i++)
        if (m->env[i].len > name && m->env[i].s[name] == '=' &&
            memcmp(m->env[i].s, entry, name) == 0)
            return true;
    return false;
}

static char *tool_env_of(const struct agent_msg *m, struct tool_env *env)
{
    size_t ninherit = 0;
    for (char **e = environ; inherit_env && e && *e; e++)
        ninherit++;
    size_t nptr = m->nroots_read + m->nroots_write + m->nenv + ninherit + 1;
    size_t bytes = nptr * sizeof(char *) + m->output_dir.len + 1;
    for (size_t i = 0; i < m->nroots_read; i++)
        bytes += m->roots_read[i].len + 1;
    for (size_t i = 0; i < m->nroots_write; i++)
        bytes += m->roots_write[i].len + 1;
    for (size_t i = 0; i < m->nenv; i++)
        bytes += m->env[i].len + 1;
    /* Bounded by AGENT_MAX_BODY and the field limits: no overflow. */
    char *block = malloc(bytes);
    if (!block)
        return NULL;
    char **ptrs = (char **)(void *)block;
    char *s = block + nptr * sizeof(char *);
    size_t k = 0;
    for (size_t i = 0; i < m->nroots_read; i++)
        ptrs[k++] = put_str(&s, m->roots_read[i]);
    for (size_t i = 0; i < m->nroots_write; i++)
        ptrs[k++] = put_str(&s, m->roots_write[i]);
    char **envp = ptrs + k;
    for (size_t i = 0; i < m->nenv; i++)
        ptrs[k++] = put_str(&s, m->env[i]);
    /* The host's entries win: they come first, and the agent's own only
     * where the host named nothing. */
    for (size_t i = 0; i < ninherit; i++)
        if (strchr(environ[i], '=') && !env_named(m, environ[i]))
            ptrs[k++] = environ[i];
    ptrs[k] = NULL;
    memset(env, 0, sizeof *env);
    env->roots.workspace = ptrs[0];
    env->roots.readable = (const char *const *)ptrs;
    env->roots.n_readable = m->nroots_read;
    env->roots.writable = (const char *const *)ptrs + m->nroots_read;
    env->roots.n_writable = m->nroots_write;
    env->envp = envp;
    env->output_dir = m->output_dir.s ? put_str(&s, m->output_dir) : AGENT_OUTPUT_DIR;
    env->timeout_ms = m->timeout_ms;
    env->cancel_fd = -1;
    return block;
}

/* Sends what is pending of a result from the loop; the connection closes
 * once it is all out (or broken). */
static void flush_pending(struct conn *c)
{
    while (c->pending_off < c->pending_len) {
        ssize_t n = send(c->fd, c->pending + c->pending_off, c->pending_len - c->pending_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return; /* POLLOUT brings us back */
        if (n <= 0)
            break;
        c->pending_off += (size_t)n;
    }
    conn_close(c);
}

/* {"ok": false, "error": "the arguments are not valid JSON ..."}. */
static json_t *bad_args(const json_error_t *e)
{
    char text[256];
    /* jansson quotes the input: keep it printable ASCII. */
    fmt_trunc(text, sizeof text, "the arguments are not valid JSON (line %d, column %d): %s",
              e->line, e->column, e->text); /* a message: cut on purpose */
    for (char *p = text; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    return json_pack("{s:b, s:s}", "ok", 0, "error", text);
}

/* Answers a tool call from the loop (process, background bash: quick). */
static void answer_here(struct conn *c, json_t *result)
{
    autofree char *text = result ? json_dumps(result, JSON_COMPACT) : NULL;
    json_decref(result);
    size_t len = 0;
    if (text)
        c->pending = encode_result(text, strlen(text), &len);
    c->pending_len = (uint32_t)len;
    if (!c->pending) {
        FAIL(c, AE_SYSTEM, ENOMEM, "out of memory for the result of a tool call");
        return;
    }
    c->pending_off = 0;
    c->idle_at = monotonic_ms() + IDLE_MS; /* a host that never reads is dropped */
    flush_pending(c);
}

/* Closes every descriptor from 3 up but a, b and c (-1 for none). */
static void close_all_but(int a, int b, int c)
{
    int keep[3] = {a, b, c};
    for (int i = 1; i < 3; i++) /* sorted, for the ranges between them */
        for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    int from = 3;
    for (int i = 0; i < 3; i++) {
        if (keep[i] < from)
            continue;
        if (keep[i] > from && syscall(SYS_close_range, (unsigned)from, (unsigned)keep[i] - 1, 0U) < 0)
            for (int fd = from; fd < keep[i]; fd++)
                (void)close(fd);
        from = keep[i] + 1;
    }
    if (syscall(SYS_close_range, (unsigned)from, ~0U, 0U) < 0)
        for (int fd = from; fd < 65536; fd++)
            (void)close(fd);
}

/* Sends all of buf, waiting for room; gives up after WORKER_SEND_MS
 * without progress (a host that does not read). */
static int send_waiting(int fd, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        int step = agent_sent(send(fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT), &off);
        if (step > 0)
            continue;
        if (step < 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int r = poll(&p, 1, WORKER_SEND_MS);
        if (r == 0 || (r < 0 && errno != EINTR))
            return -1;
    }
    return 0;
}

/* The worker: a fork of the agent that runs one tool call and answers on
 * the connection itself. The host hanging up is its cancellation. */
static void __attribute__((noreturn)) worker_main(int fd, const char *name, json_t *args,
                                                  int content_fd, struct tool_env *env)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Should the agent die, its workers go with it. */
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    /* Nothing of the agent's: not its socket, nor other hosts' connections
     * (whose hang-up must not wait for us), nor process pipes. */
    close_all_but(fd, content_fd, tool_commands_ruleset);
    env->cancel_fd = fd;
    json_t *result = NULL;
    (void)tool_run(name, args, content_fd, env, &result);
    char *text = result ? json_dumps(result, JSON_COMPACT) : NULL;
    size_t len = 0;
    uint8_t *msgs = text ? encode_result(text, strlen(text), &len) : NULL;
    if (!msgs)
        _exit(WORKER_FAILED);
    _exit(send_waiting(fd, msgs, len) == 0 ? WORKER_SENT : WORKER_SENT + 1);
}

static void handle_tool(struct conn *c, const struct agent_msg *m)
{
    struct tool_env env;
    autofree char *block = tool_env_of(m, &env);
    autofree char *name = agent_str_dup(m->tool);
    if (!block || !name) {
        FAIL(c, AE_SYSTEM, ENOMEM, "out of memory for a tool call");
        return;
    }
    char tag[48];
    c->tool_id = ++tool_counter;
    if (!tool_tag(c->tool_id, tag, sizeof tag)) {
        FAIL(c, AE_SYSTEM, ENAMETOOLONG, "no room for the tool call's tag");
        return;
    }
    env.tag = tag;
    json_error_t jerr;
    json_t *args = json_loadb(m->tool_args.s, m->tool_args.len, JSON_ALLOW_NUL, &jerr);
    if (!args) {
        answer_here(c, bad_args(&jerr));
        return;
    }
    /* The process table lives here, and those calls are quick; the rest
     * may take long and goes to a worker. */
    bool here = strcmp(name, "process") == 0 ||
                (strcmp(name, "bash") == 0 && json_is_object(args) &&
                 json_is_true(json_object_get(args, "background")));
    if (here) {
        json_t *result = NULL;
        (void)tool_run(name, args, -1, &env, &result);
        json_decref(args);
        answer_here(c, result);
        return;
    }
    if (nworkers >= MAX_WORKERS) {
        json_decref(args);
        FAIL(c, AE_BUSY, 0, "%d tool calls run already: try again when one ends", MAX_WORKERS);
        return;
    }
    int content_fd = m->content_fd && c->nfds == 1 ? c->fds[0] : -1;
    pid_t pid = fork();
    if (pid == 0)
        worker_main(c->fd, name, args, content_fd, &env);
    int fork_errno = errno;
    json_decref(args);
    if (pid < 0) {
        FAIL(c, AE_SYSTEM, fork_errno, "cannot start the tool call: fork failed: %s",
             strerror(fork_errno));
        return;
    }
    c->worker = pid;
    nworkers++;
}

/* The host hung up (or sent something) during a tool call: cancelled. */
static void cancel_tool(struct conn *c)
{
    if (c->pending) {
        conn_close(c);
        return;
    }
    /* bash kills its command and write removes its temporary file, each
     * on its own when it sees the hang-up; anything else finishes or is
     * killed when the grace is over. */
    c->cancelled = true;
    c->worker_kill_at = monotonic_ms() + WORKER_GRACE_MS;
}

static struct conn *worker_of(pid_t pid)
{
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].fd >= 0 && conns[i].worker == pid)
            return &conns[i];
    return NULL;
}

static void worker_done(struct conn *c, int status)
{
    c->worker = 0;
    nworkers--;
    if (!c->cancelled && WIFEXITED(status) && WEXITSTATUS(status) == WORKER_FAILED)
        reply_error(c, AE_SYSTEM, ENOMEM, "the tool call failed: out of memory");
    conn_close(c);
}

static void handle_message(struct conn *c)
{
    struct agent_msg m;
    int kind = agent_msg_parse(c->h.type, c->body, c->h.length, &m);
    int want_fds = c->h.type == AT_RUN ? 3 : c->h.type == AT_TOOL && m.content_fd ? 1 : 0;
    if (kind == AE_MALFORMED)
        FAIL(c, kind, 0,
             "malformed message: a field is truncated, has the wrong size, repeats, "
             "or holds NUL, or there are too many arguments");
    else if (kind == AE_BAD_REQUEST && c->h.type == AT_RUN)
        FAIL(c, kind, 0,
             "RUN needs at least one AF_ARG, an absolute AF_CWD and NAME=VALUE "
             "environment entries");
    else if (kind == AE_BAD_REQUEST && c->h.type == AT_TOOL)
        FAIL(c, kind, 0,
             "TOOL needs AF_TOOL, AF_ARGS, at least one AF_ROOT_READ, absolute roots and "
             "output directory, and NAME=VALUE environment entries");
    else if (kind == AE_BAD_REQUEST)
        FAIL(c, kind, 0, "SIGNAL needs AF_SIGNAL, a signal number from 1 to 64");
    else if (kind)
        FAIL(c, kind, kind == AE_SYSTEM ? ENOMEM : 0, "cannot decode the request: %s",
             agent_error_name(kind));
    else if (c->fds_seen != want_fds)
        FAIL(c, AE_FDS, 0, "this request carries %d descriptors, not %d", c->fds_seen, want_fds);
    else if (c->h.type == AT_HELLO) {
        agent_msg_begin(&out, AT_HELLO_OK);
        agent_put_u64(&out, AF_VERSION, AGENT_VERSION);
        agent_put_u64(&out, AF_PID, (uint64_t)getpid());
        agent_put_str(&out, AF_FEATURES, "run signal stats tools");
        if (!send_out(c))
            conn_close(c);
    } else if (c->h.type == AT_STATS) {
        struct sandbox_stats st;
        stats_collect(whole_sandbox, &st);
        agent_msg_begin(&out, AT_STATS_OK);
        agent_put_u64(&out, AF_PIDS, st.pids);
        agent_put_u64(&out, AF_MEMORY, st.memory);
        agent_put_u64(&out, AF_CPU_USEC, st.cpu_usec);
        if (!send_out(c))
            conn_close(c);
    } else if (c->h.type == AT_RUN) {
        handle_run(c, &m);
    } else if (c->h.type == AT_TOOL) {
        handle_tool(c, &m);
    } else if (c->h.type == AT_SIGNAL && c->running) {
        run_signal(&c->run, (int)m.signal);
    } else {
        FAIL(c, AE_BAD_REQUEST, 0, "SIGNAL is only valid on the connection of a running command");
    }
    agent_msg_free(&m);
    if (c->fd >= 0) {
        drop_request(c);
        if (!c->running && !c->worker && !c->pending)
            c->idle_at = monotonic_ms() + IDLE_MS;
    }
}

static void handle_header(struct conn *c)
{
    int kind = agent_header_parse(c->head, &c->h);
    if (kind == AE_MALFORMED) {
        FAIL(c, kind, 0, "bad magic: this socket speaks the hutch agent protocol");
        return;
    }
    if (kind == AE_VERSION) {
        FAIL(c, kind, 0, "protocol version %u is not spoken here, only %d", (unsigned)c->h.version,
             AGENT_VERSION);
        return;
    }
    if (kind == AE_TOO_LARGE) {
        FAIL(c, kind, 0, "a body of %u bytes is over the limit of %u", (unsigned)c->h.length,
             AGENT_MAX_BODY);
        return;
    }
    uint16_t t = c->h.type;
    if (t != AT_HELLO && t != AT_RUN && t != AT_SIGNAL && t != AT_STATS && t != AT_TOOL) {
        FAIL(c, AE_UNKNOWN_TYPE, 0, "unknown request type %u", (unsigned)t);
        return;
    }
    if (c->running && t != AT_SIGNAL) {
        FAIL(c, AE_BAD_REQUEST, 0, "only SIGNAL may follow RUN on a connection");
        return;
    }
    if (c->h.length == 0) {
        handle_message(c);
        return;
    }
    c->body = malloc(c->h.length);
    if (!c->body)
        FAIL(c, AE_SYSTEM, ENOMEM, "out of memory for a request of %u bytes",
             (unsigned)c->h.length);
}

/* Keeps up to three passed descriptors; closes any beyond that. */
static void take_fds(struct conn *c, struct msghdr *mh)
{
    if (mh->msg_flags & MSG_CTRUNC)
        c->fds_seen = 99; /* more than fit: the kernel closed the rest */
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
            if (c->fds_seen < 99)
                c->fds_seen++;
            if (c->nfds < 3 && !c->running)
                c->fds[c->nfds++] = fd;
            else
                close(fd);
        }
    }
}

static void conn_readable(struct conn *c)
{
    if (c->worker || c->pending) {
        /* Nothing may follow TOOL: a byte, the end of the stream or an
         * error all mean the host gave up on the call. */
        char byte;
        ssize_t n = recv(c->fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        cancel_tool(c);
        return;
    }
    for (int i = 0; i < READS_PER_WAKEUP && c->fd >= 0; i++) {
        bool in_head = c->head_got < AGENT_HEADER_SIZE;
        uint8_t *dst = in_head ? c->head + c->head_got : c->body + c->body_got;
        size_t want = in_head ? AGENT_HEADER_SIZE - c->head_got : c->h.length - c->body_got;
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(8 * sizeof(int))];
        } control;
        struct iovec iov = {.iov_base = dst, .iov_len = want};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = control.buf,
                            .msg_controllen = sizeof control.buf};
        ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n >= 0)
            take_fds(c, &mh);
        if (n <= 0) {
            conn_close(c); /* the peer left, or the connection broke */
            return;
        }
        if (in_head) {
            c->head_got += (size_t)n;
            if (c->head_got == AGENT_HEADER_SIZE)
                handle_header(c);
        } else {
            c->body_got += (size_t)n;
            if (c->body_got == c->h.length)
                handle_message(c);
        }
    }
}

/* Only the host may talk to the agent. As PID 1, every process of the
 * sandbox is in our pid namespace (or one below it) and has a pid here;
 * a peer outside it, the host, shows as pid 0. A command that reaches the
 * socket is closed on before a byte is read. */
static bool from_host(int fd)
{
    if (!whole_sandbox)
        return true; /* tests run the agent outside a sandbox */
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return false;
    if (cred.pid == 0)
        return true;
    static bool said;
    if (!said)
        fprintf(stderr, "hutch-init: refused a connection from pid %d inside the sandbox\n",
                (int)cred.pid);
    said = true;
    return false;
}

static void accept_all(void)
{
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                accept_paused_until = monotonic_ms() + ACCEPT_PAUSE_MS;
            return;
        }
        if (!from_host(fd)) {
            close(fd);
            continue;
        }
        struct conn *c = NULL;
        for (int i = 0; i < MAX_CONNS && !c; i++)
            if (conns[i].fd < 0)
                c = &conns[i];
        if (!c) {
            struct conn busy = {.fd = fd};
            reply_error(&busy, AE_BUSY, 0, "%d connections are open already", MAX_CONNS);
            close(fd);
            continue;
        }
        memset(c, 0, sizeof *c);
        c->run.held[0] = c->run.held[1] = -1;
        c->fd = fd;
        c->idle_at = monotonic_ms() + IDLE_MS;
        nconns++;
    }
}

/* ---- children -------------------------------------------------------------------- */

static struct conn *run_of(pid_t pid)
{
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].fd >= 0 && conns[i].running && conns[i].run.pid == pid)
            return &conns[i];
    return NULL;
}

/* A command may kill the bridge (it runs as the same user): it comes back,
 * unless it keeps dying at once or the agent is stopping. */
static void bridge_died(void)
{
    static double last_start;
    double now = monotonic_ms();
    bridge_pid = -1;
    if (stopping || now - last_start < 1000.0) {
        fprintf(stderr, "hutch-init: the network bridge ended\n");
        return;
    }
    last_start = now;
    bridge_pid = bridge_start(proxy_path, false);
    if (bridge_pid < 0)
        fprintf(stderr, "hutch-init: cannot restart the network bridge on 127.0.0.1:%d and :%d: %s\n",
                BRIDGE_HTTP_PORT, BRIDGE_SOCKS_PORT, strerror(errno));
}

/* Reaps every child that has exited: runs, and as PID 1 every orphan. */
static void reap(void)
{
    for (;;) {
        siginfo_t si = {0};
        /* Looked at first without reaping: a run leader stays a zombie while
         * its group is killed, so the group id cannot be reused meanwhile. */
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
            return;
        struct conn *c = run_of(si.si_pid);
        if (c) {
            /* Background children would keep the caller's pipes open. */
            (void)kill(-c->run.pid, SIGKILL);
            if (c->run.timed_out)
                run_signal(&c->run, SIGKILL);
        } else if (tool_process_has(si.si_pid)) {
            /* An exited background process: nothing of its group runs on. */
            (void)kill(-si.si_pid, SIGKILL);
        }
        int status;
        if (TEMP_FAILURE_RETRY(waitpid(si.si_pid, &status, 0)) < 0)
            continue;
        if (!c && si.si_pid == bridge_pid) {
            bridge_died();
            continue;
        }
        if (!c) {
            struct conn *w = worker_of(si.si_pid);
            if (w)
                worker_done(w, status);
            else
                tool_process_exited(si.si_pid, status);
            continue;
        }
        c->running = false;
        nruns--;
        agent_msg_begin(&out, AT_EXITED);
        if (WIFEXITED(status))
            agent_put_i64(&out, AF_CODE, WEXITSTATUS(status));
        else
            agent_put_i64(&out, AF_SIGNAL, WTERMSIG(status));
        agent_put_u64(&out, AF_TIMED_OUT, c->run.timed_out);
        (void)send_out(c);
        conn_close(c);
    }
}

static bool children_left(void)
{
    siginfo_t si = {0};
    return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
}

/* ---- the socket -------------------------------------------------------------------- */

/* The address of path, through /proc/self/fd when path is longer than
 * sun_path allows. *dir_fd is the directory kept open for that, or -1. */
static int socket_address(const char *path, struct sockaddr_un *addr, int *dir_fd)
{
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    *dir_fd = -1;
    if (strlen(path) < sizeof addr->sun_path) {
        memcpy(addr->sun_path, path, strlen(path) + 1);
        return 0;
    }
    const char *slash = strrchr(path, '/');
    if (!slash || strlen(slash + 1) > 64) {
        errno = ENAMETOOLONG;
        return -1;
    }
    char dir[PATH_MAX];
    size_t dlen = slash == path ? 1 : (size_t)(slash - path);
    if (dlen >= sizeof dir) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(dir, path, dlen);
    dir[dlen] = '\0';
    *dir_fd = TEMP_FAILURE_RETRY(open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (*dir_fd < 0)
        return -1;
    /* A cut name would be another socket. */
    if (!fmt_fits(addr->sun_path, sizeof addr->sun_path, "/proc/self/fd/%d/%s", *dir_fd,
                  slash + 1)) {
        close_fd(dir_fd);
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

static bool someone_listens(const struct sockaddr_un *addr)
{
    autoclose int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    return fd >= 0 && connect(fd, (const struct sockaddr *)addr, sizeof *addr) == 0;
}

/* The socket the native sandbox's init made: it must be a listening unix
 * stream socket. */
static int take_socket(void)
{
    int type = 0, listening = 0;
    socklen_t len = sizeof type;
    struct sockaddr_un addr;
    socklen_t alen = sizeof addr;
    if (getsockopt(inherited_fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
        (len = sizeof listening,
         getsockopt(inherited_fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len)) < 0 ||
        getsockname(inherited_fd, (struct sockaddr *)&addr, &alen) < 0 ||
        addr.sun_family != AF_UNIX || type != SOCK_STREAM || !listening) {
        fprintf(stderr, "hutch-init: --listen-fd %d is not a listening unix socket\n",
                inherited_fd);
        return -1;
    }
    int flags = fcntl(inherited_fd, F_GETFL);
    if (flags < 0 || fcntl(inherited_fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
        fcntl(inherited_fd, F_SETFD, FD_CLOEXEC) < 0) {
        fprintf(stderr, "hutch-init: cannot set up --listen-fd %d: %s\n", inherited_fd,
                strerror(errno));
        return -1;
    }
    listen_fd = inherited_fd;
    return 0;
}

static int open_socket(void)
{
    if (inherited_fd >= 0)
        return take_socket();
    struct sockaddr_un addr;
    autoclose int dir_fd = -1;
    if (socket_address(socket_path, &addr, &dir_fd) < 0) {
        fprintf(stderr, "hutch-init: cannot use %s as a socket path: %s\n", socket_path,
                strerror(errno));
        return -1;
    }
    struct stat st;
    if (lstat(socket_path, &st) == 0) {
        /* A stale socket of an earlier agent goes; anything else stays. */
        if (!S_ISSOCK(st.st_mode)) {
            fprintf(stderr, "hutch-init: %s exists and is not a socket\n", socket_path);
            return -1;
        }
        if (someone_listens(&addr)) {
            fprintf(stderr, "hutch-init: another agent listens on %s\n", socket_path);
            return -1;
        }
        (void)unlink(socket_path);
    }
    autoclose int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "hutch-init: cannot create a socket: %s\n", strerror(errno));
        return -1;
    }
    /* Mode 0666: the runtime directory, not the socket, decides who gets in. */
    mode_t old = umask(0111);
    int r = bind(fd, (struct sockaddr *)&addr, sizeof addr);
    int bind_errno = errno;
    umask(old);
    if (r < 0 || listen(fd, 128) < 0 || lstat(socket_path, &socket_identity) < 0) {
        fprintf(stderr, "hutch-init: cannot listen on %s: %s\n", socket_path,
                strerror(r < 0 ? bind_errno : errno));
        return -1;
    }
    listen_fd = steal_fd(&fd);
    return 0;
}

static void remove_socket(void)
{
    close_fd(&listen_fd);
    if (inherited_fd >= 0)
        return;
    struct stat st;
    if (lstat(socket_path, &st) == 0 && st.st_ino == socket_identity.st_ino &&
        st.st_dev == socket_identity.st_dev)
        (void)unlink(socket_path);
}

/* ---- start and stop ---------------------------------------------------------------- */

static void begin_stop(void)
{
    if (stopping)
        return;
    stopping = true;
    stop_kill_at = monotonic_ms() + STOP_GRACE_MS;
    remove_socket(); /* no new clients */
    for (int i = 0; i < MAX_CONNS; i++) {
        if (conns[i].fd < 0)
            continue;
        if (conns[i].running) {
            run_signal(&conns[i].run, SIGTERM); /* its host still hears how it ended */
        } else if (conns[i].worker) {
            (void)kill(conns[i].worker, SIGTERM);
            kill_tagged(conns[i].tool_id, SIGTERM);
        } else {
            conn_close(&conns[i]);
        }
    }
    tool_process_signal_all(SIGTERM);
    if (bridge_pid > 0)
        (void)kill(bridge_pid, SIGKILL);
    if (whole_sandbox)
        (void)kill(-1, SIGTERM);
}

static void kill_everything(void)
{
    for (int i = 0; i < MAX_CONNS; i++) {
        if (conns[i].fd >= 0 && conns[i].running)
            run_signal(&conns[i].run, SIGKILL);
        if (conns[i].fd >= 0 && conns[i].worker) {
            (void)kill(conns[i].worker, SIGKILL);
            kill_tagged(conns[i].tool_id, SIGKILL);
        }
    }
    tool_process_signal_all(SIGKILL);
    if (whole_sandbox)
        (void)kill(-1, SIGKILL);
}

static void read_signals(int sig_fd)
{
    struct signalfd_siginfo si;
    while (TEMP_FAILURE_RETRY(read(sig_fd, &si, sizeof si)) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD)
            reap();
        else if (!whole_sandbox || si.ssi_pid == 0)
            begin_stop();
        /* As PID 1, a stop signal counts only from outside the sandbox (the
         * engine, the host, the kernel: no pid here), so that a command
         * cannot stop its own session. */
    }
    reap(); /* SIGCHLDs merge: look anyway */
}

/* 0, 1 and 2 open (on /dev/null if need be), every other inherited fd closed:
 * descriptors passed in later then never land on 0-2. */
static void tidy_fds(void)
{
    int fd;
    while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
        ;
    if (fd > 2)
        close(fd);
    close_all_but(inherited_fd, -1, -1);
}

static void usage(FILE *to)
{
    fprintf(to, "Usage: hutch-init [--socket PATH | --listen-fd N] [--confine-commands]\n"
                "                  [--proxy PATH] [--inherit-env]\n"
                "       hutch-init --relay DIR [--confine-commands] | --stop DIR\n"
                "       hutch-init [--proxy PATH] -- COMMAND [ARG...]\n"
                "       hutch-init --reap COMMAND_PID [PROXY_SOCKET]\n"
                "The agent of a hutch session sandbox: run as its PID 1, it reaps children and\n"
                "serves the host's requests on a unix socket (default " AGENT_SOCKET_PATH ").\n"
                "With a COMMAND, it is the init of a one-shot container instead: it starts\n"
                "the network bridge (with --proxy) and COMMAND, cannot be traced, passes\n"
                "signals on, reaps orphans and exits with COMMAND's status (128+N: signal N).\n"
                "  --socket PATH  listen on PATH\n"
                "  --listen-fd N  serve the listening socket on descriptor N instead\n"
                "  --confine-commands\n"
                "                 keep commands out of the socket's directory with Landlock\n"
                "                 (refuses to start without Landlock)\n"
                "  --proxy PATH   bridge 127.0.0.1:3128 (HTTP) and :1080 (SOCKS5) to the\n"
                "                 allowlist's proxy at PATH (" HUTCH_DOCDIR "/docs/network.md)\n"
                "  --inherit-env  bash gets the agent's environment, the host's entries on top\n"
                "  --relay DIR    join stdin and stdout to the agent of DIR/agent.sock,\n"
                "                 starting it first when none listens (containers that only\n"
                "                 the Engine API reaches: docs/docker.md)\n"
                "  --stop DIR     stop that agent, remove DIR and every DIR-*.init\n"
                "  --reap COMMAND_PID [PROXY_SOCKET]\n"
                "                 PID 1 of a native one-shot run, executed by its init while\n"
                "                 the sandbox is set up: starts the bridge (with the proxy's\n"
                "                 socket), reaps, passes signals on, reports the command's\n"
                "                 status to hutch\n"
                "  --version      print the version and the protocol version\n"
                "  --help         print this help\n");
}

/* The value of an option that names a path: never empty. */
static const char *path_option(const char *value, const char *option)
{
    if (!*value) {
        fprintf(stderr, "hutch-init: %s needs a path\n", option);
        exit(2);
    }
    return value;
}

static void parse_args(int argc, char **argv)
{
    static const struct option options[] = {
        {"socket", required_argument, NULL, 's'},
        {"listen-fd", required_argument, NULL, 'l'},
        {"confine-commands", no_argument, NULL, 'c'},
        {"proxy", required_argument, NULL, 'p'},
        {"inherit-env", no_argument, NULL, 'i'},
        {"relay", required_argument, NULL, 'r'},
        {"stop", required_argument, NULL, 'S'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "+", options, NULL)) != -1) {
        switch (opt) {
        case 'l': {
            char *end;
            long fd = strtol(optarg, &end, 10);
            if (*end || fd < 3 || fd > 1023) {
                fprintf(stderr, "hutch-init: --listen-fd needs a descriptor number from 3\n");
                exit(2);
            }
            inherited_fd = (int)fd;
            break;
        }
        case 'c':
            confine_commands = true;
            break;
        case 's':
            socket_path = path_option(optarg, "--socket");
            break;
        case 'p':
            proxy_path = path_option(optarg, "--proxy");
            break;
        case 'i':
            inherit_env = true;
            break;
        case 'r':
            relay_dir = path_option(optarg, "--relay");
            break;
        case 'S':
            stop_dir = path_option(optarg, "--stop");
            break;
        case 'V':
            printf("hutch-init %s (protocol %d)\n", HUTCH_VERSION_STRING, AGENT_VERSION);
            exit(0);
        case 'h':
            usage(stdout);
            exit(0);
        default:
            if (optopt == 's' || optopt == 'p' || optopt == 'r' || optopt == 'S')
                fprintf(stderr, "hutch-init: --%s needs a path\n",
                        optopt == 's'   ? "socket"
                        : optopt == 'p' ? "proxy"
                        : optopt == 'r' ? "relay"
                                        : "stop");
            else
                fprintf(stderr, "hutch-init: unknown option %s (see hutch-init --help)\n",
                        argv[optind - 1]);
            exit(2);
        }
    }
    if (optind < argc && strcmp(argv[optind - 1], "--") == 0) {
        exec_argv = argv + optind;
        return;
    }
    if (optind < argc) {
        fprintf(stderr, "hutch-init: unexpected argument %s (see hutch-init --help)\n",
                argv[optind]);
        exit(2);
    }
}

/* Blocks the signals the loop reads from a signalfd. */
static int signal_fd(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static int min_timeout(int a, int b)
{
    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

static int ms_until(double at, double now)
{
    double d = at - now;
    return d <= 0 ? 0 : d > 1e9 ? 1000000000 : (int)d + 1;
}

int main(int argc, char **argv)
{
    /* First, before anything touches more of the program: the sandbox's
     * command is already running meanwhile. */
    if ((argc == 3 || argc == 4) && strcmp(argv[1], "--reap") == 0)
        return reap_main(argv[2], argc == 4 ? argv[3] : NULL);
    parse_args(argc, argv);
    if (exec_argv)
        return oneshot_run(exec_argv, proxy_path);
    if (relay_dir)
        return relay_main(relay_dir, confine_commands);
    if (stop_dir)
        return relay_stop(stop_dir);
    tidy_fds();
    if (proxy_path && (bridge_pid = bridge_start(proxy_path, false)) < 0) {
        fprintf(stderr, "hutch-init: cannot start the network bridge on 127.0.0.1:%d and :%d: %s\n",
                BRIDGE_HTTP_PORT, BRIDGE_SOCKS_PORT, strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    whole_sandbox = getpid() == 1;
    /* Nothing in the sandbox may trace us, read our memory or take our
     * descriptors through /proc/1 (commands run as the same user). */
    if ((whole_sandbox || confine_commands) && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
        fprintf(stderr, "hutch-init: cannot make itself non-dumpable: %s\n", strerror(errno));
        return 1;
    }
    if (confine_commands) {
        char dir[PATH_MAX];
        if (!fmt_fits(dir, sizeof dir, "%s", socket_path)) {
            fprintf(stderr, "hutch-init: the socket's path is too long: %.200s\n", socket_path);
            return 1;
        }
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        tool_commands_ruleset = landlock_ruleset_hiding(landlock_abi(), dir);
        if (tool_commands_ruleset < 0) {
            fprintf(stderr,
                    "hutch-init: cannot keep commands away from %s: %s (Landlock %s); the "
                    "agent does not serve a socket its commands could replace\n",
                    dir, strerror(errno), landlock_abi() ? "failed" : "is not available");
            return 1;
        }
    }
    /* Outside a sandbox (tests), orphans of runs still come back to us. */
    if (!whole_sandbox)
        (void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    /* Connections with three passed fds each need more than 1024. */
    if (getrlimit(RLIMIT_NOFILE, &run_nofile) == 0 && run_nofile.rlim_cur < 4096) {
        struct rlimit more = run_nofile;
        more.rlim_cur = more.rlim_max < 4096 ? more.rlim_max : 4096;
        (void)setrlimit(RLIMIT_NOFILE, &more);
    }
    for (int i = 0; i < MAX_CONNS; i++)
        conns[i].fd = -1;

    autoclose int sig_fd = signal_fd();
    if (sig_fd < 0) {
        fprintf(stderr, "hutch-init: cannot set up signal handling: %s\n", strerror(errno));
        return 1;
    }
    if (open_socket() < 0)
        return 1;

    static struct pollfd pfd[2 + MAX_CONNS + TOOL_PROCESS_MAX];
    static int pfd_conn[2 + MAX_CONNS];
    for (;;) {
        double now = monotonic_ms();
        int timeout = -1;
        for (int i = 0; i < MAX_CONNS; i++) {
            struct conn *c = &conns[i];
            if (c->fd < 0)
                continue;
            if (c->running) {
                timeout = min_timeout(timeout, run_tick(&c->run, now));
            } else if (c->worker) {
                /* A cancelled worker that did not end in time. */
                if (c->worker_kill_at && now >= c->worker_kill_at) {
                    c->worker_kill_at = 0;
                    (void)kill(c->worker, SIGKILL);
                    kill_tagged(c->tool_id, SIGKILL);
                } else if (c->worker_kill_at) {
                    timeout = min_timeout(timeout, ms_until(c->worker_kill_at, now));
                }
            } else if (now >= c->idle_at)
                conn_close(c);
            else
                timeout = min_timeout(timeout, ms_until(c->idle_at, now));
        }
        if (stopping) {
            if (!children_left())
                break;
            if (now >= stop_kill_at) {
                kill_everything();
                break;
            }
            timeout = min_timeout(timeout, ms_until(stop_kill_at, now));
        }

        timeout = min_timeout(timeout, tool_process_tick());

        nfds_t n = 0;
        pfd[n++] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
        bool accepting = listen_fd >= 0 && now >= accept_paused_until;
        if (listen_fd >= 0 && !accepting)
            timeout = min_timeout(timeout, ms_until(accept_paused_until, now));
        pfd[n++] = (struct pollfd){.fd = accepting ? listen_fd : -1, .events = POLLIN};
        for (int i = 0; i < MAX_CONNS; i++) {
            if (conns[i].fd < 0 || conns[i].cancelled)
                continue;
            pfd_conn[n] = i;
            pfd[n++] = (struct pollfd){.fd = conns[i].fd,
                                       .events = POLLIN | (conns[i].pending ? POLLOUT : 0)};
        }
        nfds_t nconn_end = n;
        n += (nfds_t)tool_process_pollfds(pfd + n, TOOL_PROCESS_MAX);
        if (poll(pfd, n, timeout) < 0 && errno != EINTR) {
            fprintf(stderr, "hutch-init: poll failed: %s\n", strerror(errno));
            return 1;
        }
        if (pfd[0].revents)
            read_signals(sig_fd);
        if (pfd[1].revents && listen_fd >= 0)
            accept_all();
        for (nfds_t i = 2; i < nconn_end; i++) {
            struct conn *c = &conns[pfd_conn[i]];
            if (!pfd[i].revents || c->fd != pfd[i].fd)
                continue;
            if (c->pending && (pfd[i].revents & POLLOUT))
                flush_pending(c);
            if (c->fd >= 0 && (pfd[i].revents & ~POLLOUT))
                conn_readable(c);
        }
        tool_process_events(pfd + nconn_end, (int)(n - nconn_end));
    }

    /* Stopping: whatever SIGKILL hit goes in moments; reap it, briefly. */
    double give_up = monotonic_ms() + 1000.0;
    while (children_left() && monotonic_ms() < give_up) {
        reap();
        struct pollfd p = {.fd = sig_fd, .events = POLLIN};
        (void)poll(&p, 1, 50);
        struct signalfd_siginfo si;
        while (read(sig_fd, &si, sizeof si) > 0)
            ;
    }
    reap();
    for (int i = 0; i < MAX_CONNS; i++)
        conn_close(&conns[i]);
    tool_process_forget_all();
    agent_buf_free(&out);
    return 0;
}
