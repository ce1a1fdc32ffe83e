/* The session lifecycle: which backend a session gets, when its sandbox is
 * created, recreated or restarted, and how a use is recorded. */
#include <fcntl.h>
#include <sys/stat.h>

#include "fields.h"
#include "session/session.h"
#include "session/workspace_fs.h"

const char *session_state_name(enum session_state s)
{
    static const char *const names[] = {"missing", "running", "stopped", "broken", "failed"};
    return names[s];
}

const struct session_backend *session_backend_named(const char *name)
{
    if (!name)
        return NULL;
    if (strcmp(name, "native") == 0)
        return &session_backend_native;
    if (strcmp(name, "host") == 0)
        return &session_backend_host;
#ifndef HUTCH_NO_DOCKER
    if (strcmp(name, "docker") == 0)
        return &session_backend_docker;
#endif
    return NULL;
}

bool session_uses_agent(const struct session *s)
{
    return s->record && strcmp(record_str(s->record, "backend") ?: "", "host") != 0 &&
           !record_bool(s->record, "adopted") &&
           strcmp(record_str(s->record, "exec_via") ?: "agent", "agent") == 0;
}

const char *session_backend_for_policy(const struct hutch_policy *p, const char *key)
{
    if (p->mode == MODE_OFF)
        return "host";
    if (p->mode == MODE_NON_MAIN && p->main_session && strcmp(key, p->main_session) == 0)
        return "host";
    switch (p->backend) {
    case BACKEND_NATIVE:
        return "native";
    case BACKEND_DOCKER:
        return "docker";
    default: /* host and spawn isolate nothing: an unsandboxed session */
        return "host";
    }
}

/* Settings that every exec may give anew; the rest is fixed at creation. */
bool session_per_run_field(enum field_id id)
{
    switch (id) {
    case F_LIMIT_TIMEOUT:
    case F_LIMIT_OUTPUT:
    case F_LIMIT_FILE_SIZE:
    case F_ENV:
    case F_INHERIT_ENV:
    case F_WORKDIR:
    case F_DOCKER_WORKDIR:
    case F_DOCKER_ENV:
    case F_FALLBACK:
    case F_MODE:
    case F_MAIN_SESSION:
    case F_PER_SESSION:
    case F_AUTO_CREATE:
    case F_TOOLS_ALLOW:
    case F_TOOLS_DENY:
    case F_PRUNE_IDLE:
    case F_PRUNE_AGE:
    case F_DOCKER_HOST:
        return true;
    default:
        return false;
    }
}

void session_config_hash(const struct hutch_policy *p, char out[17])
{
    json_t *obj = json_object();
    for (size_t i = 0; i < FIELD_COUNT; i++)
        if (!session_per_run_field(fields[i].id))
            json_object_set_new(obj, fields[i].key, field_to_json(p, &fields[i]));
    char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(obj);
    (void)!fmt_fits(out, 17, "%016llx", /* 16 digits: always fits */
                    (unsigned long long)(text ? hash64(text, strlen(text)) : 0));
    free(text);
}

int session_workspace(const struct session *s, const struct hutch_policy *p, char *out,
                      size_t len, bool *owned, hutch_error *err)
{
    if (p->workspace) {
        char real[PATH_MAX];
        struct stat st;
        if (!realpath(p->workspace, real) || stat(real, &st) < 0)
            return error_sys(err, errno, "workspace (--workspace) %s", p->workspace);
        if (!S_ISDIR(st.st_mode))
            return error_set(err, HUTCH_E_INVALID, "workspace (--workspace) %s is not a directory",
                             p->workspace);
        if (fmt_checked(err, out, len, "%s", real) < 0)
            return -1;
        *owned = false;
        return 0;
    }
    if (!p->workspace_root)
        return error_set(err, HUTCH_E_INVALID, "workspaceRoot is not set: set it in the config");
    if (fmt_checked(err, out, len, "%s/%s", p->workspace_root, s->name) < 0) {
        error_prefix(err, "the workspace");
        return -1;
    }
    *owned = true;
    return 0;
}

/* ---- an agent that did not behave --------------------------------------------- */

static void broken_path(const struct session *s, char *out, size_t len)
{
    (void)!fmt_fits(out, len, "%s/broken", s->dir); /* "" (names nothing) if too long */
}

void session_mark_broken(struct session *s, const char *reason)
{
    char path[PATH_MAX + 16];
    broken_path(s, path, sizeof path);
    int fd = TEMP_FAILURE_RETRY(
        open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd < 0)
        return;
    (void)write_all(fd, reason, strlen(reason));
    close(fd);
}

/* True (with the reason) when the session was marked broken. */
static bool broken_reason(const struct session *s, char *detail, size_t len)
{
    char path[PATH_MAX + 16];
    broken_path(s, path, sizeof path);
    autofree char *reason = NULL;
    if (read_file_bounded(path, 1024, &reason, NULL) < 0)
        return false;
    fmt_trunc(detail, len, "%s", reason); /* for a message */
    return true;
}

int session_agent_connect(struct session *s, struct agent_conn *conn, hutch_error *err)
{
    if (agent_connect(s->socket_path, (uid_t)-1, conn, err) < 0)
        return -1;
    json_t *pid = json_object_get(s->record, "agent_pid");
    hutch_error e = {0};
    if (!json_is_integer(pid))
        error_set(&e, HUTCH_E_SYSTEM, "its record names no agent to check the socket against "
                                      "(made by an older hutch)");
    else
        (void)agent_check_peer(conn, (pid_t)json_integer_value(pid), &e);
    if (e.status == HUTCH_OK)
        return 0;
    agent_close(conn);
    session_mark_broken(s, e.message);
    if (err)
        error_set(err, HUTCH_E_SYSTEM, "session %s: %s; it is recreated on its next use",
                  s->key, e.message);
    return -1;
}

enum session_state session_probe(struct session *s, char *detail, size_t len)
{
    detail[0] = '\0';
    if (!s->record)
        return SESSION_MISSING;
    const char *state = record_str(s->record, "state");
    if (state && strcmp(state, "failed") == 0) {
        fmt_trunc(detail, len, "%s", record_str(s->record, "failure") ?: "creation failed");
        return SESSION_FAILED;
    }
    if (state && strcmp(state, "stopped") == 0) {
        fmt_trunc(detail, len, "stopped");
        return SESSION_STOPPED;
    }
    if (broken_reason(s, detail, len))
        return SESSION_BROKEN;
    const struct session_backend *b = session_backend_named(record_str(s->record, "backend"));
    if (!b) {
        /* docker in the static build: the agent's socket is the only witness. */
        struct agent_conn c;
        hutch_error e;
        if (session_agent_connect(s, &c, &e) == 0) {
            agent_close(&c);
            fmt_trunc(detail, len, "its agent answers");
            return SESSION_RUNNING;
        }
        fmt_trunc(detail, len, "the agent does not answer (%s)", e.message);
        return SESSION_BROKEN;
    }
    enum session_state now = b->probe(s, detail, len);
    /* Gone without being stopped: killed, crashed, or the machine rebooted. */
    if (now == SESSION_STOPPED && state && strcmp(state, "running") == 0)
        now = SESSION_BROKEN;
    return now;
}

/* Creates the record of a new session (not yet saved). */
static int new_record(struct session *s, const struct hutch_policy *p, const char *backend,
                      const struct session_use *use, hutch_error *err)
{
    char workspace[PATH_MAX];
    bool owned;
    if (session_workspace(s, p, workspace, sizeof workspace, &owned, err) < 0)
        return -1;
    char hash[17];
    session_config_hash(p, hash);
    double now = session_now();
    json_t *rec = json_pack("{s:i, s:s, s:s, s:s, s:s, s:f, s:f, s:i, s:s, s:s, s:b}",
                            "version", 1, "key", s->key, "name", s->name, "backend", backend,
                            "state", "creating", "created_at", now, "last_used_at", now,
                            "exec_count", 0, "config_hash", hash, "workspace", workspace,
                            "workspace_owned", owned);
    if (!rec)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    if (use->create_args)
        json_object_set(rec, "create_args", use->create_args);
    if (use->config_path)
        json_object_set_new(rec, "config", json_string(use->config_path));
    if (p->docker.container && strcmp(backend, "docker") == 0)
        json_object_set_new(rec, "adopted", json_true());
    json_decref(s->record);
    s->record = rec;
    return 0;
}

/* Makes the sandbox of a record in state "creating"; on failure the record
 * says "failed" with the reason and no sandbox is left. */
static int create_sandbox(struct session *s, const struct session_backend *b,
                          const struct hutch_policy *p, hutch_error *err)
{
    const char *ws = record_str(s->record, "workspace");
    if (record_bool(s->record, "workspace_owned") && mkdir(ws, 0700) < 0 && errno != EEXIST) {
        /* the root may not exist yet */
        char parent[PATH_MAX];
        if (fmt_checked(err, parent, sizeof parent, "%s", ws) < 0) {
            error_prefix(err, "the workspace");
            return -1;
        }
        char *slash = strrchr(parent, '/');
        if (slash)
            *slash = '\0';
        for (char *c = strchr(parent + 1, '/');; c = strchr(c + 1, '/')) {
            if (c)
                *c = '\0';
            (void)mkdir(parent, 0755);
            if (!c)
                break;
            *c = '/';
        }
        if (mkdir(ws, 0700) < 0 && errno != EEXIST)
            return error_sys(err, errno, "cannot create the workspace %s", ws);
    }
    s->created_now = true;
    char marker[PATH_MAX + 16];
    broken_path(s, marker, sizeof marker);
    (void)unlink(marker); /* a new sandbox, a new agent */
    /* Before the sandbox: setupCommand may already need the network. The
     * workspace's own filesystem under limits.disk comes first of all. */
    if (workspace_fs_up(s, p, err) == 0 && session_proxy_ensure(s, p, err) == 0 &&
        b->create(s, p, err) == 0) {
        record_set_str(s->record, "state", "running");
        json_object_del(s->record, "failure");
        return session_save(s, NULL) < 0 ? -1 : 0;
    }
    /* Never half-ready: whatever was made goes. */
    hutch_error ignored;
    (void)b->remove(s, &ignored);
    session_proxy_stop(s);
    workspace_fs_down(s);
    record_set_str(s->record, "state", "failed");
    record_set_str(s->record, "failure", err->message);
    (void)session_save(s, NULL);
    return -1;
}

static int bring_up(struct session *s, const struct hutch_policy *p, const struct session_use *use,
                    const char *backend, bool unchanged, struct agent_conn *conn, hutch_error *err);
static int record_use(struct session *s, struct agent_conn *conn, hutch_error *err);

int session_ensure(struct session *s, const struct hutch_policy *p, const struct session_use *use,
                   struct agent_conn *conn, hutch_error *err)
{
    conn->fd = -1;
    conn->cancel_fd = -1;
    if (s->record && use->fail_if_exists)
        return error_set(err, HUTCH_E_INVALID,
                         "session %s already exists: use it with 'hutch exec %s', or remove it "
                         "first with 'hutch session rm %s'",
                         s->key, s->key, s->key);
    if (!s->record && !use->create_if_missing)
        return error_set(err, HUTCH_E_INVALID,
                         "no session %s: create it with 'hutch session create %s' (autoCreate is "
                         "off)",
                         s->key, s->key);

    const char *backend = s->record ? record_str(s->record, "backend")
                                    : session_backend_for_policy(p, s->key);
    /* The fast path: the agent answers and nothing changed. */
    char hash[17];
    session_config_hash(p, hash);
    const char *state = s->record ? record_str(s->record, "state") : NULL;
    bool same_config = s->record && strcmp(record_str(s->record, "config_hash") ?: "", hash) == 0;
    bool wanted_backend = strcmp(backend ?: "", session_backend_for_policy(p, s->key)) == 0;
    char broken[512];
    if (!(s->record && same_config && wanted_backend && state && strcmp(state, "running") == 0 &&
          !broken_reason(s, broken, sizeof broken) && session_uses_agent(s) &&
          session_agent_connect(s, conn, NULL) == 0) &&
        bring_up(s, p, use, backend, same_config && wanted_backend, conn, err) < 0)
        return -1;
    /* A proxy that died (killed, OOM) comes back without touching the sandbox:
     * the bridge inside connects anew for every connection. */
    if (session_proxy_ensure(s, p, err) < 0) {
        agent_close(conn);
        return -1;
    }
    return record_use(s, conn, err);
}

static int bring_up(struct session *s, const struct hutch_policy *p, const struct session_use *use,
                    const char *backend, bool unchanged, struct agent_conn *conn, hutch_error *err)
{
    const char *state = s->record ? record_str(s->record, "state") : NULL;
    const struct session_backend *b = session_backend_named(backend);
    if (!b)
        return error_set(err, HUTCH_E_UNSUPPORTED,
                         "the %s backend is not available in this build of hutch",
                         backend ?: "(unknown)");

    if (!s->record) {
        if (new_record(s, p, backend, use, err) < 0 || create_sandbox(s, b, p, err) < 0)
            return -1;
    } else if (!unchanged || (state && strcmp(state, "failed") == 0)) {
        /* A failed creation is tried again on the next use: the cause (an
         * engine that was down, a network needed by setupCommand) may be gone. */
        if (!unchanged)
            fprintf(stderr,
                    "hutch: the configuration of session %s changed; recreating its sandbox "
                    "(the workspace is kept)\n",
                    s->key);
        hutch_error ignored;
        (void)b->remove(s, &ignored);
        session_proxy_stop(s);
        json_t *args = json_incref(json_object_get(s->record, "create_args"));
        const char *cfg = record_str(s->record, "config");
        autofree char *config = cfg ? strdup(cfg) : NULL;
        struct session_use again = {.create_args = args, .config_path = config};
        double created = record_num(s->record, "created_at");
        double count = record_num(s->record, "exec_count");
        backend = session_backend_for_policy(p, s->key);
        b = session_backend_named(backend);
        int r = !b ? error_set(err, HUTCH_E_UNSUPPORTED,
                               "the %s backend is not available in this build of hutch", backend)
                   : new_record(s, p, backend, &again, err);
        json_decref(args);
        if (r < 0)
            return -1;
        record_set_num(s->record, "created_at", created);
        json_object_set_new(s->record, "exec_count", json_integer((json_int_t)count));
        if (create_sandbox(s, b, p, err) < 0)
            return -1;
    } else {
        char detail[512];
        enum session_state now = session_probe(s, detail, sizeof detail);
        if (broken_reason(s, detail, sizeof detail)) {
            /* Its agent misbehaved: nothing of that sandbox is kept. */
            fprintf(stderr, "hutch: session %s was broken (%s); recreating its sandbox (the "
                            "workspace is kept)\n",
                    s->key, detail);
            hutch_error ignored;
            (void)b->remove(s, &ignored);
            char path[PATH_MAX + 16];
            broken_path(s, path, sizeof path);
            (void)unlink(path);
            now = SESSION_STOPPED;
        }
        if (now != SESSION_RUNNING) {
            if (now == SESSION_BROKEN)
                fprintf(stderr, "hutch: session %s was broken (%s); restarting it\n", s->key,
                        detail);
            s->created_now = true;
            if (workspace_fs_up(s, p, err) < 0 || session_proxy_ensure(s, p, err) < 0 ||
                b->start(s, p, err) < 0)
                return -1;
            record_set_str(s->record, "state", "running");
        }
    }
    if (session_uses_agent(s) && session_agent_connect(s, conn, err) < 0)
        return -1;
    return 0;
}

static int record_use(struct session *s, struct agent_conn *conn, hutch_error *err)
{
    record_set_num(s->record, "last_used_at", session_now());
    json_object_set_new(s->record, "exec_count",
                        json_integer((json_int_t)record_num(s->record, "exec_count") + 1));
    if (session_save(s, err) < 0) {
        agent_close(conn);
        return -1;
    }
    return 0;
}

int session_stop(struct session *s, hutch_error *err)
{
    if (!s->record)
        return error_set(err, HUTCH_E_INVALID, "no session %s (see 'hutch session ls')", s->key);
    const struct session_backend *b = session_backend_named(record_str(s->record, "backend"));
    if (!b)
        return error_set(err, HUTCH_E_UNSUPPORTED,
                         "the %s backend is not available in this build of hutch",
                         record_str(s->record, "backend") ?: "(unknown)");
    if (b->stop(s, err) < 0)
        return -1;
    session_proxy_stop(s);
    workspace_fs_down(s);
    const char *state = record_str(s->record, "state");
    if (!state || strcmp(state, "failed") != 0)
        record_set_str(s->record, "state", "stopped");
    return session_save(s, err);
}

int session_remove(struct session *s, bool workspace, hutch_error *err)
{
    if (!s->record)
        return error_set(err, HUTCH_E_INVALID, "no session %s (see 'hutch session ls')", s->key);
    const struct session_backend *b = session_backend_named(record_str(s->record, "backend"));
    if (!b)
        return error_set(err, HUTCH_E_UNSUPPORTED,
                         "the %s backend is not available in this build of hutch",
                         record_str(s->record, "backend") ?: "(unknown)");
    if (b->remove(s, err) < 0)
        return -1;
    session_proxy_stop(s);
    workspace_fs_down(s);
    const char *ws = record_str(s->record, "workspace");
    if (workspace && ws && record_bool(s->record, "workspace_owned")) {
        autofree char *copy = strdup(ws);
        if (!copy)
            return error_set(err, HUTCH_E_SYSTEM, "out of memory");
        if (workspace_fs_delete(s, err) < 0 || session_forget(s, err) < 0)
            return -1;
        return remove_tree(copy, err);
    }
    return session_forget(s, err);
}
