/* Docker sessions: one long-lived container per session, hardened like a
 * run's, with hutch-init bind-mounted read-only as its entrypoint (so any
 * image works unchanged) and the session's runtime directory at /.hutch.
 * Commands go through the agent's socket; over a TCP engine, whose host
 * may be another machine, they go through the Engine API's exec instead.
 * Adopted containers (docker:NAME) are only ever executed in. */
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/proto.h"
#include "drivers/docker/container.h"
#include "drivers/docker/docker_session.h"
#include "drivers/docker/engine.h"
#include "drivers/docker/docker_run.h"
#include "drivers/docker/docker_relay.h"
#include "base/notice.h"
#include "policy/policy_resolve.h"
#include "net/bridge.h"
#include "session/agent_binary.h"
#include "session/session.h"
#include "session/workspace_fs.h"
#include "drivers/docker/docker_disk.h"

#define AGENT_START_MS 15000

static int open_engine(const struct session *s, struct engine *e, hutch_error *err)
{
    return engine_open(e, s->record->engine, err);
}

/* The container: its id for sessions hutch made, the name for adopted ones. */
static const char *container_ref(const struct session *s)
{
    return s->record->container_id ?: s->record->container_name;
}

struct inspected {
    bool exists, running;
    long pid; /* the container's PID 1, in hutch's pid namespace; 0 when not running */
    long exit_code;
    bool oom_killed;
    char status[32];
    char workdir[256]; /* Config.WorkingDir; "" when unset or too long */
    bool ours_for; /* its hutch.state_dir label is the directory asked about */
};

/* state_dir: when set, out->ours_for says whether the container is the
 * session's of that state directory. */
static int inspect_for(struct engine *e, const char *ref, const char *state_dir,
                       struct inspected *out, hutch_error *err)
{
    memset(out, 0, sizeof *out);
    json_t *reply;
    int found = engine_inspect(e, ENGINE_CONTAINER, ref, &reply, err);
    if (found < 0)
        return -1;
    if (found) {
        json_t *state = json_object_get(reply, "State");
        out->exists = true;
        out->running = json_is_true(json_object_get(state, "Running"));
        out->pid = (long)json_integer_value(json_object_get(state, "Pid"));
        out->exit_code = (long)json_integer_value(json_object_get(state, "ExitCode"));
        out->oom_killed = json_is_true(json_object_get(state, "OOMKilled"));
        const char *owner = json_string_value(json_object_get(
            json_object_get(json_object_get(reply, "Config"), "Labels"), "hutch.state_dir"));
        out->ours_for = state_dir && owner && strcmp(owner, state_dir) == 0;
        fmt_trunc(out->status, sizeof out->status, "%s",
                  json_string_value(json_object_get(state, "Status")) ?: "unknown");
        const char *wd = json_string_value(
            json_object_get(json_object_get(reply, "Config"), "WorkingDir"));
        if (!wd || wd[0] != '/' || !fmt_fits(out->workdir, sizeof out->workdir, "%s", wd))
            out->workdir[0] = '\0';
    }
    json_decref(reply);
    return 0;
}

static int inspect(struct engine *e, const char *ref, struct inspected *out, hutch_error *err)
{
    return inspect_for(e, ref, NULL, out, err);
}

/* A request on the container that answers nothing to read: start, stop,
 * remove. what is the verb of the message; gone_ok takes 404 as done. */
static int container_action(struct engine *e, const char *ref, const char *method,
                            const char *suffix, const char *what, bool gone_ok, hutch_error *err)
{
    long status;
    json_t *reply = NULL;
    if (engine_call_on(e, method, "/containers/", ref, suffix, NULL, &status, &reply, err) < 0)
        return -1;
    int r = 0;
    /* 304: already in that state. */
    if (status != 204 && status != 304 && !(gone_ok && status == 404))
        r = engine_failed(status, reply, err, "cannot %s the session's container", what);
    json_decref(reply);
    return r;
}

/* Waits until the container's agent answers (or, over TCP, the container runs). */
static int wait_ready(struct session *s, struct engine *e, hutch_error *err)
{
    if (session_uses_agent(s)) {
        /* hutch-init is the container's PID 1: the process that must be
         * found serving the agent's socket. */
        struct inspected st;
        if (inspect(e, container_ref(s), &st, err) < 0)
            return -1;
        if (st.running && st.pid > 0) {
            s->record->agent_pid = (pid_t)st.pid;
            if (session_wait_for_agent(s, AGENT_START_MS, err) == 0)
                return 0;
        } else {
            error_set(err, HUTCH_E_SYSTEM, "the session's container is not running");
        }
        hutch_error ignored;
        if (inspect(e, container_ref(s), &st, &ignored) == 0 && st.exists && !st.running)
            error_prefix(err, "the container stopped (exit code %ld)", st.exit_code);
        return -1;
    }
    double until = monotonic_ms() + AGENT_START_MS;
    for (;;) {
        struct inspected st;
        if (inspect(e, container_ref(s), &st, err) < 0)
            return -1;
        if (st.running)
            return 0;
        if (monotonic_ms() > until || (st.exists && strcmp(st.status, "exited") == 0))
            return error_set(err, HUTCH_E_SYSTEM, "the session's container did not start (%s)",
                             st.exists ? st.status : "missing");
        struct timespec pause = {0, 20 * 1000000L};
        nanosleep(&pause, NULL);
    }
}

/* The agent runs as the container's user: it must be able to make its
 * socket in the runtime directory, and write the workspace hutch made. */
static int hand_over(const char *path, const char *user, hutch_error *err)
{
    if (geteuid() != 0) /* private to the caller already: open it to the container's user */
        return chmod(path, 0777) < 0 ? error_sys(err, errno, "cannot open up %s", path) : 0;
    char *end;
    unsigned long uid = strtoul(user, &end, 10);
    unsigned long gid = *end == ':' ? strtoul(end + 1, NULL, 10) : uid;
    if (chown(path, (uid_t)uid, (gid_t)gid) < 0)
        return error_sys(err, errno, "cannot hand %s to the container's user %s", path, user);
    return 0;
}

static int adopt(struct session *s, struct engine *e, const struct hutch_policy *p,
                 hutch_error *err)
{
    struct inspected st;
    if (inspect(e, p->docker.container, &st, err) < 0)
        return -1;
    if (!st.exists)
        return error_set(err, HUTCH_E_INVALID,
                         "there is no container %s to adopt: create it first (docker run -d "
                         "--name %s ...), or check the name with docker ps -a",
                         p->docker.container, p->docker.container);
    /* Commands start, and the tools' relative paths begin, in /workspace
     * when the container has it, else where the container's own do. */
    const char *workdir = docker_adopted_workdir(e, p->docker.container);
    if (record_set(&s->record->container_name, p->docker.container) < 0 ||
        record_set(&s->record->workdir, workdir ?: st.workdir[0] ? st.workdir : "/") < 0)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    s->record->adopted = true;
    s->record->engine_exec = true;
    return 0;
}

/* A command through the Engine API's exec: adopted containers, and the
 * containers of a TCP engine, whose host may be another machine. */
static int exec_via_engine(struct session *s, const struct hutch_policy *p,
                           const hutch_command *cmd, hutch_result *r, hutch_error *err)
{
    struct engine e;
    if (open_engine(s, &e, err) < 0)
        return -1;
    /* Sessions hutch made start in the policy's directory; adopted ones
     * where the record says (adopt()). */
    const char *workdir = s->record->workdir;
    struct resolved_policy rp;
    if (!s->record->adopted && policy_resolve(p, BACKEND_DOCKER, &rp, NULL) == 0)
        workdir = rp.workdir;
    int rc = cmd->tty_fd >= 0 ? docker_exec_tty(&e, s->record->container_name, p, workdir, cmd,
                                                r, err)
                              : docker_exec_in(&e, s->record->container_name, p,
                                               p->workdir ? NULL : workdir, cmd, r, err);
    engine_close(&e);
    if (rc == 0 && !s->record->adopted)
        fmt_bounded(r->limits_via, "docker");
    return rc;
}

/* setupCommand where the agent's socket cannot be reached. */
static int setup_via_engine(struct session *s, const struct hutch_policy *p, hutch_error *err)
{
    struct resolved_policy rp;
    if (policy_resolve(p, BACKEND_DOCKER, &rp, err) < 0)
        return -1;
    const char *setup = rp.session_setup;
    if (!setup)
        return 0;
    hutch_command cmd;
    hutch_command_init(&cmd);
    cmd.shell = setup;
    hutch_result res;
    if (exec_via_engine(s, p, &cmd, &res, err) < 0) {
        error_prefix(err, "setupCommand");
        return -1;
    }
    if (res.exit_code != 0) {
        const char *out = res.err.len ? res.err.data : res.out.data ? res.out.data : "";
        size_t len = strlen(out);
        error_set(err, HUTCH_E_INVALID, "setupCommand failed with exit code %d: %s",
                  res.exit_code, len > 600 ? out + len - 600 : out);
    }
    int code = res.exit_code;
    hutch_result_free(&res);
    return code == 0 ? 0 : -1;
}

int docker_session_exec(struct session *s, const struct hutch_policy *p, struct agent_conn *conn,
                       const hutch_command *cmd, hutch_result *r, hutch_error *err)
{
    int rc = session_uses_agent(s) ? session_exec(s, p, conn, cmd, r, err)
                                   : exec_via_engine(s, p, cmd, r, err);
    if (rc == 0) {
        fmt_bounded(r->backend, "docker");
        if (!s->record->adopted)
            r->isolated = true;
    }
    return rc;
}

int docker_session_create(struct session *s, const struct hutch_policy *p, hutch_error *err)
{
    struct engine e;
    if (engine_open(&e, p->docker.host, err) < 0)
        return -1;
    const char *host = p->docker.host ?: getenv("DOCKER_HOST");
    if (record_set(&s->record->engine, host && *host ? host : NULL) < 0) {
        engine_close(&e);
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    }
    if (p->docker.container) {
        int r = adopt(s, &e, p, err);
        engine_close(&e);
        return r;
    }
    bool via_agent = e.unix_path[0] != '\0';
    if (!via_agent && p->network.mode == NET_ALLOW) {
        error_set(err, HUTCH_E_UNSUPPORTED,
                  "the network allowlist mounts the proxy's socket into the container, which "
                  "needs a local engine on a unix socket, not %s",
                  e.address);
        engine_close(&e);
        return -1;
    }
    s->record->engine_exec = !via_agent;

    char agent[PATH_MAX];
    struct resolved_policy ds;
    if (agent_binary_path(agent, sizeof agent, err) < 0 ||
        policy_resolve(p, BACKEND_DOCKER, &ds, err) < 0 ||
        docker_disk_check(p, ds.read_only_root, workspace_fs_bounded(s), err) < 0) {
        engine_close(&e);
        return -1;
    }
    /* An unprivileged caller's files stay the caller's: the container runs
     * as the caller unless a user was set. */
    char user[64];
    if (fmt_checked(err, user, sizeof user, "%s", ds.user) < 0) {
        engine_close(&e);
        return -1;
    }
    if (geteuid() != 0 && !policy_is_set(p, F_DOCKER_USER) && !policy_is_set(p, F_USER))
        fmt_bounded(user, "%u:%u", (unsigned)geteuid(), (unsigned)getegid());
    const char *workspace = s->record->workspace;
    if (mkdir(s->runtime_dir, 0700) < 0 && errno != EEXIST) {
        engine_close(&e);
        return error_sys(err, errno, "cannot create %s", s->runtime_dir);
    }
    (void)unlink(s->socket_path);
    if (hand_over(s->runtime_dir, user, err) < 0 ||
        (s->record->workspace_owned && geteuid() == 0 &&
         hand_over(workspace, user, err) < 0)) {
        engine_close(&e);
        return -1;
    }

    char *none[] = {NULL};
    /* Podman reads the seccomp profile from a file when the container is created. */
    __attribute__((cleanup(docker_seccomp_file_remove))) struct docker_seccomp_file seccomp = {""};
    if (docker_seccomp_file(&e, &seccomp, err) < 0) {
        engine_close(&e);
        return -1;
    }
    struct container_request req = {
        .kind = "session",
        .argv = none,
        .envp = none,
        .engine_socket = e.unix_path,
        .podman = e.podman,
        .workspace = workspace,
        .seccomp_file = seccomp.path[0] ? seccomp.path : NULL,
        .user = user,
    };
    json_t *config = container_config(p, &req, err);
    if (!config) {
        engine_close(&e);
        return -1;
    }
    json_t *hc = json_object_get(config, "HostConfig");
    /* hutch-init is PID 1, not the engine's init. */
    json_object_set_new(hc, "Init", json_false());
    json_t *mounts = json_object_get(hc, "Mounts");
    json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:b}", "Type", "bind", "Source",
                                            s->runtime_dir, "Target", AGENT_RUNTIME_DIR,
                                            "ReadOnly", 0));
    json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:b}", "Type", "bind", "Source",
                                            agent, "Target", AGENT_BINARY_PATH, "ReadOnly", 1));
    json_object_set_new(config, "Entrypoint", json_pack("[s]", AGENT_BINARY_PATH));
    /* /.hutch stays writable for the agent: its commands are kept out of
     * it with Landlock (docs/agent.md). */
    json_object_set_new(config, "Cmd",
                        p->network.mode == NET_ALLOW
                            ? json_pack("[s, s, s, s, s]", "--socket", AGENT_SOCKET_PATH,
                                        "--confine-commands", "--proxy", BRIDGE_PROXY_SOCKET)
                            : json_pack("[s, s, s]", "--socket", AGENT_SOCKET_PATH,
                                        "--confine-commands"));
    json_object_set_new(config, "User", json_string(user));
    json_object_set_new(config, "WorkingDir", json_string("/"));
    json_object_set_new(config, "AttachStdout", json_false());
    json_object_set_new(config, "AttachStderr", json_false());
    /* The agent's own messages are few: keep them readable with docker logs. */
    json_object_set_new(hc, "LogConfig",
                        json_pack("{s:s, s:{s:s, s:s}}", "Type", "json-file", "Config",
                                  "max-size", "1m", "max-file", "1"));
    json_t *labels = json_object_get(config, "Labels");
    json_object_set_new(labels, "hutch.session", json_string(s->key));
    json_object_set_new(labels, "hutch.state_dir", json_string(s->dir));

    char name[CONTAINER_NAME_MAX + 1], path[256];
    session_container_name(p->docker.container_prefix, s->key, s->dir, name, sizeof name);
    /* A container left by this session when its record was lost would block
     * the name: that one goes. Anyone else's stays, and creation fails. */
    struct inspected old;
    hutch_error ignored;
    if (inspect_for(&e, name, s->dir, &old, &ignored) == 0 && old.exists && !old.ours_for) {
        json_decref(config);
        engine_close(&e);
        return error_set(err, HUTCH_E_INVALID,
                         "a container named %s exists and is not this session's (another state "
                         "directory's, or not made by hutch): remove it, or set "
                         "docker.containerPrefix",
                         name);
    }
    if (old.exists) {
        char q[300];
        fmt_bounded(q, "/containers/%s?force=true", name);
        long st;
        json_t *rep = NULL;
        (void)engine_call(&e, "DELETE", q, NULL, &st, &rep, &ignored);
        json_decref(rep);
    }
    fmt_bounded(path, "/containers/create?name=%s", name);
    long status;
    json_t *reply = NULL;
    int r = engine_call(&e, "POST", path, config, &status, &reply, err);
    json_decref(config);
    if (r == 0 && status == 404)
        r = error_set(err, HUTCH_E_INVALID,
                      "the image %s is not there: build it offline with " HUTCH_DATADIR
                      "/bootstrap-image.sh, or pick one with --image",
                      ds.image);
    else if (r == 0 && status != 201) {
        r = engine_failed(status, reply, err, "cannot create the session's container");
        docker_disk_explain(p, ds.read_only_root, err);
    }
    const char *id = json_string_value(json_object_get(reply, "Id"));
    if (r == 0 && id) {
        if (record_set(&s->record->container_id, id) < 0 ||
            record_set(&s->record->container_name, name) < 0)
            r = error_set(err, HUTCH_E_SYSTEM, "out of memory");
    }
    json_decref(reply);
    if (r == 0 && p->docker.runtime) {
        char ipath[256];
        r = fmt_checked(err, ipath, sizeof ipath, "/containers/%s/json", container_ref(s));
        json_t *info = NULL;
        if (r == 0 && engine_call(&e, "GET", ipath, NULL, &status, &info, err) == 0) {
            const char *got = json_string_value(
                json_object_get(json_object_get(info, "HostConfig"), "Runtime"));
            if (!got || strcmp(got, p->docker.runtime) != 0)
                r = error_set(err, HUTCH_E_INVALID,
                              "the engine at %s did not apply the runtime %s: the session would "
                              "run on %s",
                              e.address, p->docker.runtime, got ?: "its default");
        }
        json_decref(info);
    }
    if (r == 0)
        r = container_action(&e, container_ref(s), "POST", "/start", "start", false, err);
    if (r == 0)
        r = wait_ready(s, &e, err);
    if (r < 0 && s->record->container_id) {
        char q[300];
        bool named = fmt_fits(q, sizeof q, "/containers/%s?force=true", container_ref(s));
        long st;
        json_t *rep = NULL;
        if (named)
            (void)engine_call(&e, "DELETE", q, NULL, &st, &rep, &ignored);
        json_decref(rep);
        (void)record_set(&s->record->container_id, NULL);
    }
    engine_close(&e);
    if (r < 0)
        return -1;
    if (record_set(&s->record->limits_via, "docker") < 0)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    return via_agent ? session_run_setup(s, p, err) : setup_via_engine(s, p, err);
}

int docker_session_start(struct session *s, const struct hutch_policy *p, hutch_error *err)
{
    (void)p;
    struct engine e;
    if (open_engine(s, &e, err) < 0)
        return -1;
    struct inspected st;
    int r = inspect(&e, container_ref(s), &st, err);
    if (r == 0 && s->record->adopted && !st.running)
        r = error_set(err, HUTCH_E_INVALID,
                      "the adopted container %s is %s: hutch never starts or stops it; start it "
                      "with docker start %s",
                      container_ref(s), st.exists ? st.status : "missing", container_ref(s));
    else if (r == 0 && !st.exists)
        r = 1; /* gone: made again below */
    else if (r == 0 && !st.running)
        r = container_action(&e, container_ref(s), "POST", "/start", "start", false, err);
    if (r == 0)
        r = wait_ready(s, &e, err);
    engine_close(&e);
    if (r == 1) {
        (void)record_set(&s->record->container_id, NULL);
        return docker_session_create(s, p, err);
    }
    return r;
}

/* container_action on the session's container over a connection of its
 * own; a container that was never made or is gone already is fine. */
static int act_on_own_container(struct session *s, const char *method, const char *suffix,
                                const char *what, hutch_error *err)
{
    if (!container_ref(s))
        return 0;
    struct engine e;
    if (open_engine(s, &e, err) < 0)
        return -1;
    int r = container_action(&e, container_ref(s), method, suffix, what, true, err);
    engine_close(&e);
    return r;
}

int docker_session_stop(struct session *s, hutch_error *err)
{
    if (s->record->adopted)
        return error_set(err, HUTCH_E_INVALID,
                         "session %s is the adopted container %s: hutch never stops it", s->key,
                         container_ref(s));
    return act_on_own_container(s, "POST", "/stop?t=5", "stop", err);
}

int docker_session_remove(struct session *s, hutch_error *err)
{
    if (s->record->adopted) {
        /* Only what hutch put there goes: its agent. The container stays. */
        hutch_error why = {0};
        if (docker_relay_remove(s, &why) < 0)
            notice("warning: %s", why.message);
        return 0;
    }
    if (!container_ref(s))
        return 0;
    int r = act_on_own_container(s, "DELETE", "?force=true", "remove", err);
    (void)unlink(s->socket_path);
    return r;
}

enum session_state docker_session_probe(struct session *s, char *detail, size_t len)
{
    struct engine e;
    hutch_error err;
    if (open_engine(s, &e, &err) < 0) {
        fmt_trunc(detail, len, "%s", err.message);
        return SESSION_BROKEN;
    }
    struct inspected st;
    int r = inspect(&e, container_ref(s), &st, &err);
    engine_close(&e);
    if (r < 0) {
        fmt_trunc(detail, len, "%s", err.message);
        return SESSION_BROKEN;
    }
    if (!st.exists) {
        fmt_trunc(detail, len, "its container %s is gone", container_ref(s));
        return s->record->adopted ? SESSION_BROKEN : SESSION_STOPPED;
    }
    const char *name = s->record->container_name ?: "";
    if (!st.running) {
        fmt_trunc(detail, len, "container %s is %s (exit code %ld%s)", name, st.status,
                  st.exit_code, st.oom_killed ? ", killed for memory" : "");
        return s->record->adopted ? SESSION_BROKEN : SESSION_STOPPED;
    }
    if (session_uses_agent(s)) {
        struct agent_conn c;
        if (session_agent_connect(s, &c, &err) < 0) {
            fmt_trunc(detail, len, "container %s runs but its agent does not answer (%s)", name,
                      err.message);
            return SESSION_BROKEN;
        }
        agent_close(&c);
    }
    fmt_trunc(detail, len, "container %s", name);
    return SESSION_RUNNING;
}

int docker_session_stats(struct session *s, struct session_stats *st, hutch_error *err)
{
    if (session_uses_agent(s))
        return session_agent_stats(s, st, err);
    struct engine e;
    if (open_engine(s, &e, err) < 0)
        return -1;
    long status;
    json_t *reply = NULL;
    int r = engine_call_on(&e, "GET", "/containers/", container_ref(s),
                           "/stats?stream=false&one-shot=true", NULL, &status, &reply, err);
    if (r == 0 && status != 200)
        r = engine_failed(status, reply, err, "cannot read the container's stats");
    if (r == 0) {
        st->memory = (uint64_t)json_integer_value(
            json_object_get(json_object_get(reply, "memory_stats"), "usage"));
        st->pids = (uint64_t)json_integer_value(
            json_object_get(json_object_get(reply, "pids_stats"), "current"));
        st->cpu_usec = (uint64_t)json_integer_value(json_object_get(
                           json_object_get(json_object_get(reply, "cpu_stats"), "cpu_usage"),
                           "total_usage")) /
                       1000;
        st->memory_via = "engine";
    }
    json_decref(reply);
    engine_close(&e);
    return r;
}
