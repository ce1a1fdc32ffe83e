#include "drivers/docker/docker_run.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include "base/capture.h"
#include "base/command.h"
#include "drivers/docker/container.h"
#include "drivers/docker/docker_relay.h"
#include "policy/policy_resolve.h"
#include "drivers/docker/frames.h"
#include "base/notice.h"
#include "net/proxy.h"
#include "base/result.h"
#include "session/agent_binary.h"

#define KILL_GRACE_MS 2000

/* ---- streaming a hijacked connection into the result's sinks ----------------------- */

/* What the engine says about itself is kept for a warning, a line or so. */
#define ENGINE_TEXT_MAX 512

struct pump {
    int stream;            /* the hijacked socket the output comes from */
    int input;             /* where stdin goes: stream, or (Podman) a connection of its own */
    int stdin_fd;          /* -1: nothing to send */
    int cancel_fd;
    uint64_t timeout_ms;
    bool podman;           /* hold back what may be Podman's report (podman_attach_error) */
    struct sink out, err;
    /* Sends a signal to the command (container kill, or a kill exec). */
    void (*signal)(void *ctx, int sig);
    void *ctx;
    bool timed_out;
    bool lost;             /* the connection broke before the command ended */
    /* A stderr frame held back while it may be Podman's report. */
    char held[1024];
    size_t held_len;
    uint32_t held_frame_len;
    bool holding;
    /* The engine's own text: in the output stream (systemerr frames, and
     * Podman's report), and on Podman's input connection. */
    char engine_text[ENGINE_TEXT_MAX];
    char attach_error[ENGINE_TEXT_MAX];
    char input_text[ENGINE_TEXT_MAX];
};

/* Podman's compatible API reports a failure of its own connection to the
 * container (conmon's attach socket, a SOCK_SEQPACKET) by writing
 * "Error: <Go error>\n" into the attach stream as one last stderr frame, and
 * closing (libpod's hijackWriteErrorAndClose): framed like the command's own
 * stderr. Those Go errors name the socket, "read unixpacket
 * @->/proc/self/fd/14/attach: read: connection reset by peer" or "write
 * unixpacket ...: write: broken pipe". They come when conmon closed the
 * socket (the container had exited) with input that the command never read
 * still queued in it, or while Podman was still writing input into it: the
 * read side then fails before it has passed on all of the output. Hence
 * Podman gets the command's input on a connection of its own (run_container),
 * and a frame like this, when it is the last of the stream, is a warning,
 * never output. With whole false, says whether text may still become one. */
static bool podman_attach_error(const char *text, size_t len, bool whole)
{
    static const char *const heads[] = {"Error: read unixpacket ", "Error: write unixpacket "};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        size_t n = strlen(heads[i]);
        if (memcmp(text, heads[i], len < n ? len : n) != 0)
            continue;
        if (!whole)
            return true;
        return len > n && memchr(text, '\n', len) == text + len - 1 &&
               memmem(text, len, "/attach: ", 9) != NULL;
    }
    return false;
}

/* Appends the engine's text to a NUL-terminated buffer, cut at its size,
 * control bytes as spaces: it ends up in a notice, one line. */
static void append_text(char *buf, size_t size, const char *data, size_t len)
{
    size_t have = strlen(buf);
    size_t take = size - 1 - have < len ? size - 1 - have : len;
    for (size_t i = 0; i < take; i++)
        buf[have + i] = (unsigned char)data[i] < 0x20 || data[i] == 0x7f ? ' ' : data[i];
    buf[have + take] = '\0';
}

static void release_held(struct pump *p)
{
    if (p->held_len)
        sink_push(&p->err, p->held, p->held_len);
    p->held_len = 0;
    p->holding = false;
}

static void to_sinks(void *ctx, const struct frame_piece *f)
{
    struct pump *p = ctx;
    if (f->stream == FRAME_ENGINE) {
        append_text(p->engine_text, sizeof p->engine_text, f->data, f->len);
        return;
    }
    if (p->holding && f->offset == 0)
        release_held(p); /* another frame came: the held one was the command's */
    if (p->holding || (p->podman && f->stream == FRAME_STDERR && f->offset == 0 &&
                       f->frame_len <= sizeof p->held)) {
        memcpy(p->held + p->held_len, f->data, f->len); /* the frame fits: checked above */
        p->held_len += f->len;
        p->held_frame_len = f->frame_len;
        p->holding = true;
        /* The command's stderr is held only while it reads like the report. */
        if (!podman_attach_error(p->held, p->held_len, p->held_len == f->frame_len))
            release_held(p);
        return;
    }
    sink_push(f->stream == FRAME_STDERR ? &p->err : &p->out, f->data, f->len);
}

/* Whatever Podman's input connection carries is Podman's own text: the
 * command's output comes on the other one. */
static void to_input_text(void *ctx, const struct frame_piece *f)
{
    struct pump *p = ctx;
    append_text(p->input_text, sizeof p->input_text, f->data, f->len);
}

/* The stream has ended: a frame still held is Podman's report when whole. */
static void end_held(struct pump *p)
{
    if (p->holding && p->held_len == p->held_frame_len &&
        podman_attach_error(p->held, p->held_len, true)) {
        append_text(p->attach_error, sizeof p->attach_error, p->held, p->held_len);
        p->held_len = 0;
        p->holding = false;
    }
    release_held(p);
}

static void trim_spaces(char *text)
{
    size_t n = strlen(text);
    while (n > 0 && text[n - 1] == ' ')
        text[--n] = '\0';
}

/* The engine's text becomes warnings, never output. */
static void report_engine_text(struct pump *p, const struct engine *e)
{
    trim_spaces(p->engine_text);
    trim_spaces(p->attach_error);
    trim_spaces(p->input_text);
    if (p->engine_text[0])
        notice("warning: the Docker engine at %s reported in the command's output stream: %s",
               e->address, p->engine_text);
    if (p->attach_error[0])
        notice("warning: the Docker engine at %s lost its connection to the command's output "
               "(it said: %s); the output may be incomplete",
               e->address, p->attach_error);
    /* Podman's input connection fails this way when the command ended
     * before it read all of its input: no news (Docker says nothing either). */
    if (p->input_text[0] && !podman_attach_error(p->input_text, strlen(p->input_text), false))
        notice("warning: the Docker engine at %s reported on the command's input connection: %s",
               e->address, p->input_text);
}

static int ms_until(double deadline, double now)
{
    return deadline <= now ? 0 : (int)(deadline - now) + 1;
}

static void run_pump(struct pump *p)
{
    struct frame_parser parser, input_parser;
    frame_parser_init(&parser);
    frame_parser_init(&input_parser);
    /* Podman's own input connection is read too, for what Podman says there. */
    bool read_input = p->input >= 0 && p->input != p->stream;
    double deadline = p->timeout_ms ? monotonic_ms() + (double)p->timeout_ms : 0;
    double kill_at = 0;
    char buf[65536];
    /* Input read from the caller and not yet taken by the engine. It is sent
     * only when the connection takes it (POLLOUT, MSG_DONTWAIT): a command
     * that does not read its input, or an engine that stops reading it when
     * the command ends without closing, must not stop the output from being
     * read and the end from being seen (a blocking send waited for ever). */
    enum { PENDING_MAX = 65536 };
    autofree char *pending = p->stdin_fd >= 0 ? malloc(PENDING_MAX) : NULL;
    size_t pending_len = 0, pending_off = 0;
    if (p->stdin_fd >= 0 && !pending) {
        p->lost = true; /* no memory to relay the input with: said as a broken run */
        end_held(p);
        return;
    }
    for (;;) {
        struct pollfd pfd[5];
        int n = 0, i_in = -1, i_cancel = -1, i_input = -1, i_send = -1;
        pfd[n++] = (struct pollfd){.fd = p->stream, .events = POLLIN};
        if (p->stdin_fd >= 0 && pending_off < pending_len)
            pfd[i_send = n++] = (struct pollfd){.fd = p->input, .events = POLLOUT};
        else if (p->stdin_fd >= 0)
            pfd[i_in = n++] = (struct pollfd){.fd = p->stdin_fd, .events = POLLIN};
        if (p->cancel_fd >= 0)
            pfd[i_cancel = n++] = (struct pollfd){.fd = p->cancel_fd, .events = POLLIN};
        if (read_input)
            pfd[i_input = n++] = (struct pollfd){.fd = p->input, .events = POLLIN};
        double now = monotonic_ms();
        int wait = -1;
        if (deadline && !p->timed_out)
            wait = ms_until(deadline, now);
        if (kill_at) {
            int k = ms_until(kill_at, now);
            wait = wait < 0 || k < wait ? k : wait;
        }
        int r = poll(pfd, (nfds_t)n, wait);
        if (r < 0 && errno != EINTR) {
            p->lost = true;
            break;
        }
        now = monotonic_ms();
        if (r > 0 && pfd[0].revents) {
            ssize_t got = TEMP_FAILURE_RETRY(read(p->stream, buf, sizeof buf));
            if (got <= 0) {
                p->lost = got < 0;
                break; /* the command's streams are closed: it has ended */
            }
            if (frame_parser_feed(&parser, buf, (size_t)got, to_sinks, p) < 0) {
                p->lost = true;
                break;
            }
        }
        if (r > 0 && i_input >= 0 && pfd[i_input].revents) {
            ssize_t got = TEMP_FAILURE_RETRY(read(p->input, buf, sizeof buf));
            if (got <= 0 ||
                frame_parser_feed(&input_parser, buf, (size_t)got, to_input_text, p) < 0) {
                read_input = false;
                if (got <= 0)
                    p->stdin_fd = -1; /* closed by the engine: the input has nowhere to go */
            }
        }
        if (r > 0 && i_in >= 0 && p->stdin_fd >= 0 && pfd[i_in].revents) {
            ssize_t got = TEMP_FAILURE_RETRY(read(p->stdin_fd, pending, PENDING_MAX));
            if (got <= 0) {
                shutdown(p->input, SHUT_WR); /* end of input for the command */
                p->stdin_fd = -1;
            } else {
                pending_len = (size_t)got;
                pending_off = 0;
            }
        }
        if (r > 0 && i_send >= 0 && p->stdin_fd >= 0 && pfd[i_send].revents) {
            ssize_t sent = TEMP_FAILURE_RETRY(send(p->input, pending + pending_off,
                                                   pending_len - pending_off,
                                                   MSG_NOSIGNAL | MSG_DONTWAIT));
            if (sent > 0) {
                pending_off += (size_t)sent;
            } else if (sent < 0 && errno != EAGAIN) {
                shutdown(p->input, SHUT_WR); /* the engine took no more: input ends */
                p->stdin_fd = -1;
            }
        }
        if (r > 0 && i_cancel >= 0 && pfd[i_cancel].revents) {
            unsigned char sig;
            if (TEMP_FAILURE_RETRY(read(p->cancel_fd, &sig, 1)) == 1 && sig > 0 && sig < NSIG) {
                p->signal(p->ctx, sig);
                if (!kill_at)
                    kill_at = now + KILL_GRACE_MS;
            } else {
                p->cancel_fd = -1;
            }
        }
        if (deadline && !p->timed_out && now >= deadline) {
            p->timed_out = true;
            p->signal(p->ctx, SIGTERM);
            kill_at = now + KILL_GRACE_MS;
        }
        if (kill_at && now >= kill_at) {
            p->signal(p->ctx, SIGKILL);
            kill_at = 0;
        }
    }
    end_held(p);
}

/* Relays the command's streams until it ends, is cancelled or times out;
 * p's stream, input, signal and ctx are the caller's, the rest comes from
 * the policy and the command. */
static void pump_command(struct pump *p, const struct engine *e, const hutch_policy *policy,
                         const hutch_command *cmd)
{
    p->stdin_fd = cmd->stdin_fd;
    p->cancel_fd = cmd->cancel_fd;
    p->timeout_ms = policy->limits.timeout_ms;
    p->podman = e->podman;
    uint64_t limit = policy->limits.output_bytes;
    /* Output here arrives through the socket: "pass" means relaying it all. */
    sink_init(&p->out, cmd->stdout_mode == HUTCH_OUTPUT_CAPTURE ? HUTCH_OUTPUT_CAPTURE
                                                                : HUTCH_OUTPUT_RELAY,
              cmd->stdout_fd, cmd->stdout_mode == HUTCH_OUTPUT_PASS ? UINT64_MAX : limit);
    sink_init(&p->err, cmd->stderr_mode == HUTCH_OUTPUT_CAPTURE ? HUTCH_OUTPUT_CAPTURE
                                                                : HUTCH_OUTPUT_RELAY,
              cmd->stderr_fd, cmd->stderr_mode == HUTCH_OUTPUT_PASS ? UINT64_MAX : limit);
    run_pump(p);
    report_engine_text(p, e);
}

static void finish_output(struct pump *p, hutch_result *r)
{
    sink_finish(&p->out, &r->out);
    sink_finish(&p->err, &r->err);
}

/* Exit code to result. The engine reports only a code; docker-init (PID 1 of
 * every hutch container) exits with 128+N when the command died of signal N,
 * so codes 129-159 are read as signals. */
static void apply_exit(hutch_result *r, long code, bool timed_out)
{
    struct supervise_outcome o = {.exited = true, .code = (int)code, .timed_out = timed_out};
    if (code > 128 && code < 128 + 32) {
        o.exited = false;
        o.signal = (int)code - 128;
    }
    result_apply_outcome(r, &o);
}

/* ---- ephemeral containers ---------------------------------------------------------- */

struct container {
    struct engine *e;
    char id[128];
};

static void kill_container(void *ctx, int sig)
{
    struct container *c = ctx;
    char path[256];
    fmt_bounded(path, "/containers/%s/kill?signal=%d", c->id, sig);
    long status;
    hutch_error ignored;
    (void)engine_call(c->e, "POST", path, NULL, &status, NULL, &ignored);
}

static void remove_container(struct engine *e, const char *id)
{
    char path[256];
    if (!fmt_fits(path, sizeof path, "/containers/%s?force=true&v=true", id))
        return;
    long status;
    hutch_error ignored;
    (void)engine_call(e, "DELETE", path, NULL, &status, NULL, &ignored);
}

static int missing_image(const char *image, hutch_error *err)
{
    return error_set(err, HUTCH_E_INVALID,
                     "the image %s is not there: build it offline with " HUTCH_DATADIR
                     "/bootstrap-image.sh, or with a registry with hutch image build "
                     HUTCH_DATADIR "/images -f Dockerfile.sandbox -t %s (or pick one with "
                     "--image)",
                     image, image);
}

/* docker.setupCommand runs in a subshell of each new container before its
 * command, with its output on stderr so that the command's stdout stays its
 * own. A failed setup does not run the command. */
static int setup_wrapper(const char *setup, struct strlist *argv, hutch_error *err)
{
    autofree char *script = NULL;
    if (asprintf(&script,
                 "(\n%s\n) >&2 || { status=$?; echo \"hutch: docker.setupCommand failed with "
                 "status $status\" >&2; exit 125; }\nexec \"$@\"",
                 setup) < 0)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    if (strlist_push(argv, "/bin/sh") < 0 || strlist_push(argv, "-c") < 0 ||
        strlist_push(argv, script) < 0 || strlist_push(argv, "hutch-setup") < 0)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    return 0;
}

/* An engine may accept a runtime it then ignores (Podman's compatible API
 * does): a container that would not run on the runtime asked for is
 * refused, not run on another. */
static int check_runtime(struct engine *e, const char *id, const char *want, hutch_error *err)
{
    char path[256];
    if (fmt_checked(err, path, sizeof path, "/containers/%s/json", id) < 0)
        return -1;
    long status;
    json_t *reply = NULL;
    if (engine_call(e, "GET", path, NULL, &status, &reply, err) < 0)
        return -1;
    const char *got =
        json_string_value(json_object_get(json_object_get(reply, "HostConfig"), "Runtime"));
    int r = 0;
    if (status != 200)
        r = engine_failed(status, reply, err, "cannot inspect the new container");
    else if (!got || strcmp(got, want) != 0)
        r = error_set(err, HUTCH_E_INVALID,
                      "the engine at %s did not apply the runtime %s (the container would run "
                      "on %s)%s",
                      e->address, want, got ? got : "its default",
                      e->podman ? ": Podman's Docker-compatible API ignores it; set runtime in "
                                  "containers.conf instead, and leave docker.runtime empty"
                                : "");
    json_decref(reply);
    return r;
}

/* ---- seccomp ------------------------------------------------------------------------ */

int docker_seccomp_file(const struct engine *e, struct docker_seccomp_file *f, hutch_error *err)
{
    f->path[0] = '\0';
    if (!e->podman)
        return 0;
    /* Over TCP too: an engine on another machine cannot open the file and
     * refuses to create the container (fails closed); a local one, behind a
     * TCP relay, can. */
    const char *base = getenv("XDG_RUNTIME_DIR");
    if (!base || base[0] != '/' || access(base, W_OK | X_OK) < 0)
        base = "/tmp";
    if (fmt_checked(err, f->path, sizeof f->path, "%s/hutch-seccomp-XXXXXX.json", base) < 0)
        return -1;
    autoclose int fd = mkostemps(f->path, 5, O_CLOEXEC);
    if (fd < 0) {
        int saved = errno;
        f->path[0] = '\0';
        return error_sys(err, saved, "cannot write hutch's seccomp profile for Podman in %s", base);
    }
    const char *profile = container_seccomp_profile();
    if (write_all(fd, profile, strlen(profile)) < 0) {
        int saved = errno;
        docker_seccomp_file_remove(f);
        return error_sys(err, saved, "cannot write hutch's seccomp profile for Podman in %s", base);
    }
    return 0;
}

void docker_seccomp_file_remove(struct docker_seccomp_file *f)
{
    if (f->path[0])
        (void)unlink(f->path);
    f->path[0] = '\0';
}

/* skill_env: a skill's variables, set over the policy's (NULL for runs). */
static int create_container(struct engine *e, const struct hutch_policy *p,
                            const hutch_command *cmd, const char *kind, char *const *skill_env,
                            const char *proxy_dir, struct container *c, hutch_error *err)
{
    char agent[PATH_MAX];
    if (agent_binary_path(agent, sizeof agent, err) < 0)
        return -1;
    __attribute__((cleanup(docker_seccomp_file_remove))) struct docker_seccomp_file seccomp = {""};
    if (docker_seccomp_file(e, &seccomp, err) < 0)
        return -1;
    bool skill = skill_env != NULL;
    autostrlist struct strlist argv = {0};
    autostrlist struct strlist env = {0};
    struct resolved_policy rp;
    if (policy_resolve(p, BACKEND_DOCKER, &rp, err) < 0)
        return -1;
    if (!skill && rp.run_setup && setup_wrapper(rp.run_setup, &argv, err) < 0)
        return -1;
    if (command_argv(cmd, &argv, err) < 0 || command_env(p, ENV_DOCKER, &env, err) < 0)
        return -1;
    for (size_t i = 0; skill && skill_env[i]; i++) {
        const char *eq = strchr(skill_env[i], '=');
        if (eq && strlist_set_env(&env, skill_env[i], (size_t)(eq - skill_env[i]), eq + 1) < 0)
            return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    }
    struct container_request req = {
        .kind = kind,
        .argv = argv.items,
        .envp = env.items,
        .open_stdin = cmd->stdin_fd >= 0,
        .keep_entrypoint = skill,
        .engine_socket = e->unix_path,
        .podman = e->podman,
        .proxy_dir = proxy_dir,
        .agent_binary = agent,
        .seccomp_file = seccomp.path[0] ? seccomp.path : NULL,
    };
    json_t *config = container_config(p, &req, err);
    if (!config)
        return -1;
    char suffix[16], path[256];
    engine_random_hex(suffix, sizeof suffix);
    if (fmt_checked(err, path, sizeof path, "/containers/create?name=%s%s-%s",
                    p->docker.container_prefix, kind, suffix) < 0) {
        json_decref(config);
        return -1;
    }
    long status;
    json_t *reply = NULL;
    int r = engine_call(e, "POST", path, config, &status, &reply, err);
    json_decref(config);
    if (r == 0 && status == 404)
        r = missing_image(p->docker.image, err);
    else if (r == 0 && status != 201 &&
             (r = engine_failed(status, reply, err, "cannot create the container")) < 0 &&
             seccomp.path[0] && strstr(err->message, seccomp.path))
        error_prefix(err, "run Podman on this machine (it reads hutch's seccomp profile from a "
                          "file that hutch writes here)");
    const char *id = json_string_value(json_object_get(reply, "Id"));
    if (r == 0 && !id)
        r = error_set(err, HUTCH_E_SYSTEM, "the Docker engine created a container without an id");
    if (r == 0)
        r = fmt_checked(err, c->id, sizeof c->id, "%s", id); /* an id is never cut */
    json_decref(reply);
    if (r == 0 && p->docker.runtime && check_runtime(e, c->id, p->docker.runtime, err) < 0) {
        remove_container(e, c->id);
        r = -1;
    }
    return r;
}

static int container_outcome(struct container *c, bool timed_out, hutch_result *r,
                             hutch_error *err)
{
    char path[256];
    long status;
    json_t *reply = NULL;
    fmt_bounded(path, "/containers/%s/wait", c->id);
    if (engine_call(c->e, "POST", path, NULL, &status, &reply, err) < 0)
        return -1;
    if (status != 200) {
        engine_failed(status, reply, err, "waiting for the container");
        json_decref(reply);
        return -1;
    }
    long code = (long)json_integer_value(json_object_get(reply, "StatusCode"));
    json_decref(reply);
    fmt_bounded(path, "/containers/%s/json", c->id);
    if (engine_call(c->e, "GET", path, NULL, &status, &reply, err) < 0)
        return -1;
    json_t *state = json_object_get(reply, "State");
    r->oom_killed = json_is_true(json_object_get(state, "OOMKilled"));
    json_decref(reply);
    apply_exit(r, code, timed_out);
    return 0;
}

static int engine_lost(struct engine *e, bool adopted, hutch_error *err)
{
    return error_set(err, HUTCH_E_SYSTEM, "the Docker engine at %s went away during the run%s",
                     e->address,
                     adopted ? ": the command's outcome is unknown"
                             : ": the container may remain, and hutch removes it on its next "
                               "docker run once the engine is back");
}

/* After the command started, a failure must not look like an unavailable
 * backend: --fallback spawn would run the command a second time, unisolated.
 * A broken connection (or an engine that no longer answers) is the engine
 * going away; anything else keeps the engine's message. */
static int failed_after_start(struct engine *e, bool adopted, bool lost, hutch_error *err)
{
    if (lost || e->broken)
        return engine_lost(e, adopted, err);
    err->status = HUTCH_E_SYSTEM;
    return -1;
}

static void cleanup_run_proxy(struct net_run_proxy *rp)
{
    net_run_proxy_finish(rp, NULL);
}

static int run_container(struct engine *e, const struct hutch_policy *p,
                         const hutch_command *cmd, const char *kind, char *const *skill_env,
                         hutch_result *r, hutch_error *err)
{
    docker_remove_stale(e);
    /* Network mode allow: the proxy runs beside the container for this run. */
    __attribute__((cleanup(cleanup_run_proxy))) struct net_run_proxy proxy = {.pid = -1,
                                                                             .events_fd = -1};
    bool filtered = p->network.mode == NET_ALLOW;
    if (filtered) {
        if (skill_env)
            return error_set(err, HUTCH_E_UNSUPPORTED,
                             "skills cannot run behind the network allowlist (their image's "
                             "entrypoint is theirs): use --net none, bridge or host");
        if (!e->unix_path[0])
            return error_set(err, HUTCH_E_UNSUPPORTED,
                             "the network allowlist mounts the proxy's socket into the "
                             "container, which needs a local engine on a unix socket, not %s",
                             e->address);
        if (net_run_proxy_start(p, (uid_t)-1, (gid_t)-1, &proxy, err) < 0)
            return -1;
    }
    struct container c = {.e = e};
    if (create_container(e, p, cmd, kind, skill_env, filtered ? proxy.dir : NULL, &c, err) < 0)
        return -1;

    /* Attach before starting, or early output would be lost. Podman gets
     * the input on a connection of its own: on the output's, input that the
     * command leaves unread can cost output (podman_attach_error). */
    char path[256];
    bool own_input = cmd->stdin_fd >= 0 && e->podman;
    /* Every stream named: Podman takes one left out as asked for. */
    fmt_bounded(path, "/containers/%s/attach?stream=1&stdout=1&stderr=1&stdin=%d", c.id,
                cmd->stdin_fd >= 0 && !own_input);
    autoclose int stream = -1;
    autoclose int input = -1;
    if (engine_hijack(e, path, NULL, "cannot attach to the container", &stream, err) < 0) {
        remove_container(e, c.id);
        return -1;
    }
    fmt_bounded(path, "/containers/%s/attach?stream=1&stdin=1&stdout=0&stderr=0", c.id);
    if (own_input && engine_hijack(e, path, NULL, "cannot attach to the container's input",
                                   &input, err) < 0) {
        remove_container(e, c.id);
        return -1;
    }
    int cancelled = cancel_pending(cmd->cancel_fd);
    if (cancelled) {
        /* The run was cancelled while the container was made: it never starts. */
        remove_container(e, c.id);
        apply_exit(r, 128 + cancelled, false);
        return 0;
    }
    long status;
    json_t *reply = NULL;
    fmt_bounded(path, "/containers/%s/start", c.id);
    double start = monotonic_ms();
    if (engine_call(e, "POST", path, NULL, &status, &reply, err) < 0 ||
        (status != 204 && status != 304 &&
         engine_failed(status, reply, err, "cannot start the container") < 0)) {
        /* The engine may have started it before the answer was lost. */
        json_decref(reply);
        remove_container(e, c.id);
        return failed_after_start(e, false, false, err);
    }
    json_decref(reply);

    struct pump pump = {
        .stream = stream,
        .input = own_input ? input : stream,
        .signal = kill_container,
        .ctx = &c,
    };
    pump_command(&pump, e, p, cmd);
    r->duration_ms = monotonic_ms() - start;
    int rc = container_outcome(&c, pump.timed_out, r, err);
    if (rc < 0)
        rc = failed_after_start(e, false, pump.lost, err);
    finish_output(&pump, r);
    remove_container(e, c.id);
    if (filtered && rc == 0)
        net_run_proxy_finish(&proxy, r);
    if (rc == 0)
        fmt_bounded(r->limits_via, "%s",
                    p->limits.memory || p->limits.cpus > 0 || p->limits.pids ? "docker" : "none");
    return rc;
}

int docker_run_ephemeral(struct engine *e, const struct hutch_policy *p, const hutch_command *cmd,
                         const char *kind, hutch_result *r, hutch_error *err)
{
    return run_container(e, p, cmd, kind, NULL, r, err);
}

int docker_run_skill(struct engine *e, const struct hutch_policy *p, const hutch_command *cmd,
                     char *const *env, hutch_result *r, hutch_error *err)
{
    static char *const none[] = {NULL};
    return run_container(e, p, cmd, "skill", env ? env : none, r, err);
}

/* ---- adopted containers ------------------------------------------------------------- */

struct exec_kill {
    struct engine *e;
    const char *container;
    const char *user;   /* the command's, so that the killer may signal it */
    char token[32];     /* in the environment of the command and its children */
    const char *fifo;   /* removed too, when set (exec_input) */
};

static void kill_exec(void *ctx, int sig)
{
    struct exec_kill *k = ctx;
    docker_exec_kill(k->e, k->container, k->user, k->token, sig, k->fifo);
}

static int inspect_adopted(struct engine *e, const char *name, hutch_result *r, hutch_error *err)
{
    json_t *reply;
    int found = engine_inspect(e, ENGINE_CONTAINER, name, &reply, err);
    if (found < 0)
        return -1;
    int rc = 0;
    if (!found)
        rc = error_set(err, HUTCH_E_INVALID,
                       "the container %s does not exist: create it first (docker run -d --name "
                       "%s IMAGE sleep infinity), or check the name given to --sandbox",
                       name, name);
    else if (!json_is_true(json_object_get(json_object_get(reply, "State"), "Running")))
        rc = error_set(err, HUTCH_E_INVALID,
                       "the container %s is stopped: start it with docker start %s (hutch never "
                       "starts or stops containers it did not create)",
                       name, name);
    else
        r->isolated = !json_is_true(
            json_object_get(json_object_get(reply, "HostConfig"), "Privileged"));
    json_decref(reply);
    return rc;
}

const char *docker_adopted_workdir(struct engine *e, const char *name)
{
    struct engine_path_stat st;
    hutch_error ignored;
    return engine_path_stat(e, name, "/workspace", &st, &ignored) == 0 && st.is_dir
               ? "/workspace"
               : NULL;
}

int docker_run_adopted(struct engine *e, const struct hutch_policy *p, const hutch_command *cmd,
                       hutch_result *r, hutch_error *err)
{
    const char *workdir = p->workdir ? NULL : docker_adopted_workdir(e, p->docker.container);
    return docker_exec_in(e, p->docker.container, p, workdir, cmd, r, err);
}

/* Creates an exec in the container and starts it, hijacked (its
 * connection in *stream). Takes cmdline and env. -1: the exec was not
 * created; -2: it may have started (the engine did not answer). */
static int start_exec(struct engine *e, const char *name, const struct hutch_policy *p,
                      const char *workdir, json_t *cmdline, json_t *env, bool attach_stdin,
                      char exec_id[static 128], int *stream, hutch_error *err)
{
    json_t *body = json_pack("{s:o, s:o, s:b, s:b, s:b, s:b}", "Cmd", cmdline, "Env", env,
                             "AttachStdout", 1, "AttachStderr", 1, "AttachStdin", attach_stdin,
                             "Tty", 0);
    if (!body)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    if (workdir)
        json_object_set_new(body, "WorkingDir", json_string(workdir));
    if (p->user)
        json_object_set_new(body, "User", json_string(p->user));
    long status;
    json_t *reply = NULL;
    int rc = engine_call_on(e, "POST", "/containers/", name, "/exec", body, &status, &reply, err);
    json_decref(body);
    if (rc == 0 && status != 201)
        rc = engine_failed(status, reply, err, "cannot run in the container %s", name);
    exec_id[0] = '\0';
    if (rc == 0) /* an id is never cut */
        rc = fmt_checked(err, exec_id, 128, "%s",
                         json_string_value(json_object_get(reply, "Id")) ?: "");
    json_decref(reply);
    if (rc < 0)
        return -1;
    char path[640];
    fmt_bounded(path, "/exec/%s/start", exec_id);
    json_t *start = json_pack("{s:b, s:b}", "Detach", 0, "Tty", 0);
    rc = engine_hijack(e, path, start, "cannot start the command in the container", stream, err);
    json_decref(start);
    return rc < 0 ? -2 : 0;
}

/* Reads exactly len bytes from fd within ms milliseconds: 0, -1 when the
 * stream ended or broke first, -2 when the time ran out. */
static int read_exact_within(int fd, unsigned char *buf, size_t len, int ms)
{
    double deadline = monotonic_ms() + ms;
    size_t have = 0;
    while (have < len) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, ms_until(deadline, monotonic_ms()));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r == 0 ? -2 : -1;
        ssize_t got = TEMP_FAILURE_RETRY(read(fd, buf + have, len - have));
        if (got <= 0)
            return -1;
        have += (size_t)got;
    }
    return 0;
}

/* Podman: the command's input on a connection of its own, as a run's
 * (run_container). An exec has one connection, and input the command left
 * unread in it costs output on Podman (podman_attach_error); a second exec
 * cannot attach to the first. So a helper exec takes the input, `cat` into
 * a FIFO that the command's exec opens as its stdin: input left unread then
 * breaks only the helper's connection. Needs /bin/sh, mkfifo and cat and a
 * writable /tmp in the container; without them, the command gets its input
 * on its own connection as on Docker. */
struct exec_input {
    int stream;            /* the helper's connection: -1 when there is none */
    char fifo[64];         /* in the container */
    struct exec_kill killer;
};

#define EXEC_INPUT_READY_MS 10000

static void exec_input_start(struct engine *e, const char *name, const struct hutch_policy *p,
                             struct exec_input *in)
{
    in->stream = -1;
    in->killer = (struct exec_kill){.e = e, .container = name, .user = p->user};
    engine_random_hex(in->killer.token, sizeof in->killer.token);
    /* The name is hex: it needs no quoting in kill_exec's script. */
    if (!in->killer.token[0] ||
        !fmt_fits(in->fifo, sizeof in->fifo, "/tmp/.hutch-stdin-%s", in->killer.token))
        return;
    in->killer.fifo = in->fifo;
    /* One empty line once the FIFO is there; cat's own complaints (a
     * broken pipe when the command ends with input unread) are not news.
     * The command's exec removes the FIFO once it has opened it. */
    json_t *cmdline = json_pack("[s,s,s,s]", "/bin/sh", "-c",
                                "umask 077 && mkfifo \"$0\" && echo && "
                                "exec cat >\"$0\" 2>/dev/null",
                                in->fifo);
    json_t *env = json_array();
    json_array_append_new(env, json_sprintf("HUTCH_EXEC=%s", in->killer.token));
    hutch_error ignored;
    int stream = -1;
    char exec_id[128];
    int rc = start_exec(e, name, p, NULL, cmdline, env, true, exec_id, &stream, &ignored);
    if (rc == -2)
        kill_exec(&in->killer, SIGKILL);
    if (rc < 0)
        return;
    /* The ready line: one stdout frame of one newline. */
    static const unsigned char ready[9] = {1, 0, 0, 0, 0, 0, 0, 1, '\n'};
    unsigned char got[sizeof ready];
    int ready_rc = read_exact_within(stream, got, sizeof got, EXEC_INPUT_READY_MS);
    if (ready_rc < 0 || memcmp(got, ready, sizeof ready) != 0) {
        /* Anything else is the helper failing (mkfifo's complaint), or
         * Podman's: it ends by itself. Silence may be a helper stuck. */
        close(stream);
        if (ready_rc == -2)
            kill_exec(&in->killer, SIGKILL);
        return;
    }
    in->stream = stream;
}

/* The command has ended: the helper ends with the end of its input, or
 * when it writes into the FIFO no one reads any more. */
static void exec_input_finish(struct exec_input *in)
{
    if (in->stream < 0)
        return;
    shutdown(in->stream, SHUT_WR);
    double deadline = monotonic_ms() + KILL_GRACE_MS;
    char buf[4096];
    for (;;) {
        struct pollfd pfd = {.fd = in->stream, .events = POLLIN};
        int r = poll(&pfd, 1, ms_until(deadline, monotonic_ms()));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) { /* blocked: opening the FIFO the command never opened */
            kill_exec(&in->killer, SIGKILL);
            break;
        }
        if (TEMP_FAILURE_RETRY(read(in->stream, buf, sizeof buf)) <= 0)
            break;
    }
    close(in->stream);
    in->stream = -1;
}

int docker_exec_in(struct engine *e, const char *name, const struct hutch_policy *p,
                   const char *workdir, const hutch_command *cmd, hutch_result *r,
                   hutch_error *err)
{
    if (inspect_adopted(e, name, r, err) < 0)
        return -1;
    bool isolated = r->isolated;

    autostrlist struct strlist argv = {0};
    if (command_argv(cmd, &argv, err) < 0)
        return -1;
    struct exec_kill killer = {.e = e, .container = name, .user = p->user};
    engine_random_hex(killer.token, sizeof killer.token);
    __attribute__((cleanup(exec_input_finish))) struct exec_input input = {.stream = -1};
    if (e->podman && cmd->stdin_fd >= 0)
        exec_input_start(e, name, p, &input);
    json_t *cmdline = json_array();
    if (input.stream >= 0) { /* the FIFO becomes the command's stdin */
        json_array_append_new(cmdline, json_string("/bin/sh"));
        json_array_append_new(cmdline, json_string("-c"));
        json_array_append_new(cmdline,
                              json_string("exec <\"$1\" || exit 125; "
                                          "rm -f \"$1\" 2>/dev/null; shift; exec \"$@\""));
        json_array_append_new(cmdline, json_string("sh"));
        json_array_append_new(cmdline, json_string(input.fifo));
    }
    for (size_t i = 0; i < argv.len; i++)
        json_array_append_new(cmdline, json_string(argv.items[i]));
    /* The container's own environment (with docker.env when hutch made it),
     * and the policy's env on top. */
    autostrlist struct strlist vars = {0};
    if (policy_env_apply(p, false, &vars) < 0) {
        json_decref(cmdline);
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    }
    json_t *env = json_array();
    for (size_t i = 0; i < vars.len; i++)
        json_array_append_new(env, json_string(vars.items[i]));
    json_array_append_new(env, json_sprintf("HUTCH_EXEC=%s", killer.token));

    autoclose int stream = -1;
    char exec_id[128];
    double began = monotonic_ms();
    int rc = start_exec(e, name, p, p->workdir ?: workdir, cmdline, env,
                        cmd->stdin_fd >= 0 && input.stream < 0, exec_id, &stream, err);
    if (rc == -1)
        return -1;
    if (rc < 0)
        return failed_after_start(e, true, false, err);
    /* With Podman and input, the input has a helper exec of its own
     * (input.stream): input the command leaves unread then never costs output. */
    struct pump pump = {
        .stream = stream,
        .input = input.stream >= 0 ? input.stream : stream,
        .signal = kill_exec,
        .ctx = &killer,
    };
    pump_command(&pump, e, p, cmd);
    exec_input_finish(&input);
    r->duration_ms = monotonic_ms() - began;

    char path[640];
    long status;
    json_t *reply = NULL;
    fmt_bounded(path, "/exec/%s/json", exec_id);
    /* The exec's state settles shortly after its streams close. */
    for (int tries = 0; tries < 100; tries++) {
        rc = engine_call(e, "GET", path, NULL, &status, &reply, err);
        if (rc < 0 || !json_is_true(json_object_get(reply, "Running")))
            break;
        json_decref(reply);
        reply = NULL;
        usleep(10000);
    }
    if (rc == 0 && status == 200)
        apply_exit(r, (long)json_integer_value(json_object_get(reply, "ExitCode")),
                   pump.timed_out);
    else if (rc == 0)
        rc = engine_failed(status, reply, err, "cannot read the exit status");
    json_decref(reply);
    if (rc < 0)
        rc = failed_after_start(e, true, pump.lost, err);
    finish_output(&pump, r);
    r->isolated = isolated;
    return rc;
}

/* ---- stale containers ------------------------------------------------------------------ */

void docker_remove_stale(struct engine *e)
{
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    long status;
    json_t *reply = NULL;
    hutch_error ignored;
    if (engine_call(e, "GET",
                    "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22hutch.managed%3Dtrue%22%5D%7D",
                    NULL, &status, &reply, &ignored) < 0 ||
        status != 200) {
        json_decref(reply);
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(reply, i, item) {
        json_t *labels = json_object_get(item, "Labels");
        const char *kind = json_string_value(json_object_get(labels, "hutch.kind"));
        if (!kind || (strcmp(kind, "run") != 0 && strcmp(kind, "skill") != 0))
            continue; /* sessions outlive hutch processes on purpose */
        const char *owner = json_string_value(json_object_get(labels, "hutch.owner"));
        const char *colon = owner ? strrchr(owner, ':') : NULL;
        if (!colon || (size_t)(colon - owner) != strlen(host) ||
            strncmp(owner, host, strlen(host)) != 0)
            continue; /* another machine's, or not ours to judge */
        pid_t pid = (pid_t)atoi(colon + 1);
        if (pid > 0 && (kill(pid, 0) == 0 || errno == EPERM))
            continue; /* its hutch is still running */
        const char *id = json_string_value(json_object_get(item, "Id"));
        if (id)
            remove_container(e, id);
    }
    json_decref(reply);
}
