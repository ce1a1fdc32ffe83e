#include "drivers/docker/docker_run.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include "base/capture.h"
#include "base/command.h"
#include "drivers/docker/container.h"
#include "policy/policy_resolve.h"
#include "drivers/docker/frames.h"
#include "net/proxy.h"
#include "base/result.h"
#include "session/agent_binary.h"

#define KILL_GRACE_MS 2000

/* ---- streaming a hijacked connection into the result's sinks ----------------------- */

struct pump {
    int stream;            /* the hijacked socket */
    int stdin_fd;          /* -1: nothing to send */
    int cancel_fd;
    uint64_t timeout_ms;
    struct sink out, err;
    /* Sends a signal to the command (container kill, or a kill exec). */
    void (*signal)(void *ctx, int sig);
    void *ctx;
    bool timed_out;
    bool lost;             /* the connection broke before the command ended */
};

static void to_sinks(void *ctx, int stream, const char *data, size_t len)
{
    struct pump *p = ctx;
    sink_push(stream == 2 ? &p->err : &p->out, data, len);
}

static void pump_sinks(struct pump *p, const hutch_policy *policy, const hutch_command *cmd)
{
    uint64_t limit = policy->limits.output_bytes;
    /* Output here arrives through the socket: "pass" means relaying it all. */
    sink_init(&p->out, cmd->stdout_mode == HUTCH_OUTPUT_CAPTURE ? HUTCH_OUTPUT_CAPTURE
                                                                : HUTCH_OUTPUT_RELAY,
              cmd->stdout_fd, cmd->stdout_mode == HUTCH_OUTPUT_PASS ? UINT64_MAX : limit);
    sink_init(&p->err, cmd->stderr_mode == HUTCH_OUTPUT_CAPTURE ? HUTCH_OUTPUT_CAPTURE
                                                                : HUTCH_OUTPUT_RELAY,
              cmd->stderr_fd, cmd->stderr_mode == HUTCH_OUTPUT_PASS ? UINT64_MAX : limit);
}

static int ms_until(double deadline, double now)
{
    return deadline <= now ? 0 : (int)(deadline - now) + 1;
}

static void run_pump(struct pump *p)
{
    struct frame_parser parser;
    frame_parser_init(&parser);
    double deadline = p->timeout_ms ? monotonic_ms() + (double)p->timeout_ms : 0;
    double kill_at = 0;
    char buf[65536];
    for (;;) {
        struct pollfd pfd[3];
        int n = 0, i_in = -1, i_cancel = -1;
        pfd[n++] = (struct pollfd){.fd = p->stream, .events = POLLIN};
        if (p->stdin_fd >= 0)
            pfd[i_in = n++] = (struct pollfd){.fd = p->stdin_fd, .events = POLLIN};
        if (p->cancel_fd >= 0)
            pfd[i_cancel = n++] = (struct pollfd){.fd = p->cancel_fd, .events = POLLIN};
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
            return;
        }
        now = monotonic_ms();
        if (r > 0 && pfd[0].revents) {
            ssize_t got = TEMP_FAILURE_RETRY(read(p->stream, buf, sizeof buf));
            if (got <= 0) {
                p->lost = got < 0;
                return; /* the command's streams are closed: it has ended */
            }
            if (frame_parser_feed(&parser, buf, (size_t)got, to_sinks, p) < 0) {
                p->lost = true;
                return;
            }
        }
        if (r > 0 && i_in >= 0 && pfd[i_in].revents) {
            ssize_t got = TEMP_FAILURE_RETRY(read(p->stdin_fd, buf, sizeof buf));
            if (got <= 0 || send_all(p->stream, buf, (size_t)got) < 0) {
                shutdown(p->stream, SHUT_WR); /* end of input for the command */
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

static void random_suffix(char *buf, size_t len)
{
    unsigned char bytes[6] = {0};
    autoclose int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
        (void)!read(fd, bytes, sizeof bytes);
    (void)!fmt_fits(buf, len, "%02x%02x%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2], bytes[3],
                    bytes[4], bytes[5]); /* "" rather than cut */
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

/* A skill's ACTION is the argument of its image's ENTRYPOINT, which hutch-init
 * (PID 1 in place of the engine's init) then runs. */
static int image_entrypoint(struct engine *e, const char *image, struct strlist *out,
                            hutch_error *err)
{
    long status;
    json_t *reply = NULL;
    if (engine_call_on(e, "GET", "/images/", image, "/json", NULL, &status, &reply, err) < 0)
        return -1;
    int r = 0;
    if (status == 404)
        r = missing_image(image, err);
    else if (status != 200)
        r = engine_failed(status, reply, err, "cannot inspect the image %s", image);
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(json_object_get(reply, "Config"), "Entrypoint"), i, item) {
        if (r == 0 && (!json_is_string(item) || strlist_push(out, json_string_value(item)) < 0))
            r = error_set(err, HUTCH_E_SYSTEM, "cannot read the entrypoint of the image %s",
                          image);
    }
    json_decref(reply);
    return r;
}

static int create_container(struct engine *e, const struct hutch_policy *p,
                            const hutch_command *cmd, const char *kind, bool keep_entrypoint,
                            const char *proxy_dir, struct container *c, hutch_error *err)
{
    char agent[PATH_MAX];
    if (agent_binary_path(agent, sizeof agent, err) < 0)
        return -1;
    __attribute__((cleanup(docker_seccomp_file_remove))) struct docker_seccomp_file seccomp = {""};
    if (docker_seccomp_file(e, &seccomp, err) < 0)
        return -1;
    autostrlist struct strlist entrypoint = {0};
    if (keep_entrypoint && image_entrypoint(e, p->docker.image, &entrypoint, err) < 0)
        return -1;
    autostrlist struct strlist argv = {0};
    autostrlist struct strlist env = {0};
    struct resolved_policy rp;
    if (policy_resolve(p, BACKEND_DOCKER, &rp, err) < 0)
        return -1;
    if (!keep_entrypoint && rp.run_setup && setup_wrapper(rp.run_setup, &argv, err) < 0)
        return -1;
    if (command_argv(cmd, &argv, err) < 0 || command_env(p, ENV_DOCKER, &env, err) < 0)
        return -1;
    struct container_request req = {
        .kind = kind,
        .argv = argv.items,
        .envp = env.items,
        .open_stdin = cmd->stdin_fd >= 0,
        .keep_entrypoint = keep_entrypoint,
        .engine_socket = e->unix_path,
        .podman = e->podman,
        .proxy_dir = proxy_dir,
        .agent_binary = agent,
        .image_entrypoint = entrypoint.items,
        .seccomp_file = seccomp.path[0] ? seccomp.path : NULL,
    };
    json_t *config = container_config(p, &req, err);
    if (!config)
        return -1;
    char suffix[16], path[256];
    random_suffix(suffix, sizeof suffix);
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
                         const hutch_command *cmd, const char *kind, bool keep_entrypoint,
                         hutch_result *r, hutch_error *err)
{
    docker_remove_stale(e);
    /* Network mode allow: the proxy runs beside the container for this run. */
    __attribute__((cleanup(cleanup_run_proxy))) struct net_run_proxy proxy = {.pid = -1,
                                                                             .events_fd = -1};
    bool filtered = p->network.mode == NET_ALLOW;
    if (filtered) {
        if (keep_entrypoint)
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
    if (create_container(e, p, cmd, kind, keep_entrypoint, filtered ? proxy.dir : NULL, &c,
                         err) < 0)
        return -1;

    /* Attach before starting, or early output would be lost. */
    char path[256];
    fmt_bounded(path, "/containers/%s/attach?stream=1&stdout=1&stderr=1%s", c.id,
                cmd->stdin_fd >= 0 ? "&stdin=1" : "");
    autoclose int stream = -1;
    if (engine_hijack(e, path, NULL, "cannot attach to the container", &stream, err) < 0) {
        remove_container(e, c.id);
        return -1;
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
        .stdin_fd = cmd->stdin_fd,
        .cancel_fd = cmd->cancel_fd,
        .timeout_ms = p->limits.timeout_ms,
        .signal = kill_container,
        .ctx = &c,
    };
    pump_sinks(&pump, p, cmd);
    run_pump(&pump);
    r->duration_ms = monotonic_ms() - start;
    int rc = container_outcome(&c, pump.timed_out, r, err);
    if (rc < 0)
        rc = failed_after_start(e, false, pump.lost, err);
    finish_output(&pump, r);
    remove_container(e, c.id);
    if (filtered && rc == 0)
        net_run_proxy_finish(&proxy, r);
    return rc;
}

int docker_run_ephemeral(struct engine *e, const struct hutch_policy *p, const hutch_command *cmd,
                         const char *kind, hutch_result *r, hutch_error *err)
{
    return run_container(e, p, cmd, kind, false, r, err);
}

int docker_run_skill(struct engine *e, const struct hutch_policy *p, const hutch_command *cmd,
                     hutch_result *r, hutch_error *err)
{
    return run_container(e, p, cmd, "skill", true, r, err);
}

/* ---- adopted containers ------------------------------------------------------------- */

struct exec_kill {
    struct engine *e;
    const char *container;
    const char *user;   /* the command's, so that the killer may signal it */
    char token[32];     /* in the environment of the command and its children */
};

/* An exec'd process cannot be signalled through the API: a second exec
 * signals every process whose environment carries the run's token (the
 * command and whatever it started), and leaves nothing behind. */
static void kill_exec(void *ctx, int sig)
{
    struct exec_kill *k = ctx;
    char script[512];
    if (!fmt_fits(script, sizeof script,
                  "for p in /proc/[0-9]*; do "
                  "tr '\\0' '\\n' < $p/environ 2>/dev/null | grep -qx 'HUTCH_EXEC=%s' && "
                  "kill -%d ${p#/proc/} 2>/dev/null; done; exit 0",
                  k->token, sig))
        return; /* a cut token would match other runs' processes */
    json_t *body = json_pack("{s:[s,s,s], s:b, s:b}", "Cmd", "/bin/sh", "-c", script,
                             "AttachStdout", 0, "AttachStderr", 0);
    if (k->user)
        json_object_set_new(body, "User", json_string(k->user));
    long status;
    json_t *reply = NULL;
    hutch_error ignored;
    if (engine_call_on(k->e, "POST", "/containers/", k->container, "/exec", body, &status, &reply,
                       &ignored) == 0 &&
        status == 201) {
        const char *id = json_string_value(json_object_get(reply, "Id"));
        json_t *start = json_pack("{s:b, s:b}", "Detach", 1, "Tty", 0);
        json_t *r2 = NULL;
        char path[640];
        if (fmt_fits(path, sizeof path, "/exec/%s/start", id ? id : ""))
            (void)engine_call(k->e, "POST", path, start, &status, &r2, &ignored);
        json_decref(r2);
        json_decref(start);
    }
    json_decref(reply);
    json_decref(body);
}

static int inspect_adopted(struct engine *e, const char *name, hutch_result *r, hutch_error *err)
{
    long status;
    json_t *reply = NULL;
    if (engine_call_on(e, "GET", "/containers/", name, "/json", NULL, &status, &reply, err) < 0)
        return -1;
    int rc = 0;
    if (status == 404)
        rc = error_set(err, HUTCH_E_INVALID,
                       "the container %s does not exist: create it first (docker run -d --name "
                       "%s IMAGE sleep infinity), or check the name given to --sandbox",
                       name, name);
    else if (status != 200)
        rc = engine_failed(status, reply, err, "cannot inspect the container %s", name);
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

int docker_run_adopted(struct engine *e, const struct hutch_policy *p, const hutch_command *cmd,
                       hutch_result *r, hutch_error *err)
{
    return docker_exec_in(e, p->docker.container, p, cmd, r, err);
}

int docker_exec_in(struct engine *e, const char *name, const struct hutch_policy *p,
                   const hutch_command *cmd, hutch_result *r, hutch_error *err)
{
    if (inspect_adopted(e, name, r, err) < 0)
        return -1;
    bool isolated = r->isolated;

    autostrlist struct strlist argv = {0};
    if (command_argv(cmd, &argv, err) < 0)
        return -1;
    struct exec_kill killer = {.e = e, .container = name, .user = p->user};
    random_suffix(killer.token, sizeof killer.token);
    json_t *cmdline = json_array();
    for (size_t i = 0; i < argv.len; i++)
        json_array_append_new(cmdline, json_string(argv.items[i]));
    /* The container's own environment (with docker.env when hutch made it),
     * and the policy's env on top. */
    autostrlist struct strlist vars = {0};
    if (policy_env_apply(p, false, &vars) < 0)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    json_t *env = json_array();
    for (size_t i = 0; i < vars.len; i++)
        json_array_append_new(env, json_string(vars.items[i]));
    json_array_append_new(env, json_sprintf("HUTCH_EXEC=%s", killer.token));
    json_t *body = json_pack("{s:o, s:o, s:b, s:b, s:b, s:b}", "Cmd", cmdline, "Env", env,
                             "AttachStdout", 1, "AttachStderr", 1, "AttachStdin",
                             cmd->stdin_fd >= 0, "Tty", 0);
    if (p->workdir)
        json_object_set_new(body, "WorkingDir", json_string(p->workdir));
    if (p->user)
        json_object_set_new(body, "User", json_string(p->user));

    long status;
    json_t *reply = NULL;
    int rc = engine_call_on(e, "POST", "/containers/", name, "/exec", body, &status, &reply, err);
    json_decref(body);
    if (rc == 0 && status != 201)
        rc = engine_failed(status, reply, err, "cannot run in the container %s", name);
    char exec_id[128] = "";
    if (rc == 0) /* an id is never cut */
        rc = fmt_checked(err, exec_id, sizeof exec_id, "%s",
                         json_string_value(json_object_get(reply, "Id")) ?: "");
    json_decref(reply);
    if (rc < 0)
        return -1;

    char path[640];
    fmt_bounded(path, "/exec/%s/start", exec_id);
    json_t *start = json_pack("{s:b, s:b}", "Detach", 0, "Tty", 0);
    autoclose int stream = -1;
    double began = monotonic_ms();
    rc = engine_hijack(e, path, start, "cannot start the command in the container", &stream,
                       err);
    json_decref(start);
    if (rc < 0)
        return failed_after_start(e, true, false, err);
    struct pump pump = {
        .stream = stream,
        .stdin_fd = cmd->stdin_fd,
        .cancel_fd = cmd->cancel_fd,
        .timeout_ms = p->limits.timeout_ms,
        .signal = kill_exec,
        .ctx = &killer,
    };
    pump_sinks(&pump, p, cmd);
    run_pump(&pump);
    r->duration_ms = monotonic_ms() - began;

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
