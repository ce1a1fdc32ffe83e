/* The session lifecycle: which backend a session gets, when its sandbox is
 * created, recreated or restarted, and how a use is recorded. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#include "policy/fields.h"
#include "base/notice.h"
#include "session/lifecycle.h"
#include "session/session.h"
#include "session/workspace_fs.h"

const struct driver *session_driver(enum session_kind kind)
{
    switch (kind) {
    case SESSION_KIND_NATIVE:
        return &driver_native;
    case SESSION_KIND_HOST:
        return &driver_host;
    case SESSION_KIND_DOCKER:
#ifndef HUTCH_NO_DOCKER
        return &driver_docker;
#endif
        break;
    }
    return NULL;
}

/* The session's sandbox as its driver takes it. */
#define SANDBOX_OF(s) (&(struct instance){.session = (s)})

bool session_uses_agent(const struct session *s)
{
    return s->record && record_exec_via(s->record) == EXEC_VIA_AGENT;
}

enum session_kind session_kind_for_policy(const struct hutch_policy *p, const char *key)
{
    if (p->mode == MODE_OFF)
        return SESSION_KIND_HOST;
    if (p->mode == MODE_NON_MAIN && p->main_session && strcmp(key, p->main_session) == 0)
        return SESSION_KIND_HOST;
    switch (p->backend) {
    case BACKEND_NATIVE:
        return SESSION_KIND_NATIVE;
    case BACKEND_DOCKER:
        return SESSION_KIND_DOCKER;
    default: /* host and spawn isolate nothing: an unsandboxed session */
        return SESSION_KIND_HOST;
    }
}

/* Settings that every exec may give anew; the rest is fixed at creation. */
bool session_per_run_field(enum field_id id)
{
    return fields[id].per_run;
}

/* FNV-1a over the text as it is written: the hash of the whole text,
 * without the text (its growing buffer cost more than the hashing). */
static int hash_chunk(const char *chunk, size_t len, void *data)
{
    *(uint64_t *)data = hash64_more(*(uint64_t *)data, chunk, len);
    return 0;
}

static void hash_text(uint64_t *h, const char *text)
{
    *h = hash64_more(*h, text, strlen(text));
}

/* The fields a session is made from, by key: the order of the text. */
static size_t session_fields[FIELD_COUNT], session_field_count;
static pthread_once_t session_fields_once = PTHREAD_ONCE_INIT;

static void sort_session_fields(void)
{
    /* An insertion sort: a few dozen keys, once (musl's qsort costs more). */
    for (size_t i = 0; i < FIELD_COUNT; i++) {
        if (session_per_run_field(fields[i].id))
            continue;
        size_t at = session_field_count++;
        for (; at > 0 && strcmp(fields[session_fields[at - 1]].key, fields[i].key) > 0; at--)
            session_fields[at] = session_fields[at - 1];
        session_fields[at] = i;
    }
}

/* The hash of the session's settings as one compact JSON object with
 * sorted keys, the text earlier versions hashed, written field by field
 * (no object to build and sort on every command). Keys are plain names:
 * nothing in them to escape. A field with no JSON form is left out, as
 * the object left it out. */
void session_config_hash(const struct hutch_policy *p, char out[17])
{
    pthread_once(&session_fields_once, sort_session_fields);
    uint64_t h = hash64(NULL, 0);
    const char *sep = "{";
    for (size_t i = 0; i < session_field_count && h; i++) {
        const struct field *f = &fields[session_fields[i]];
        char buf[256];
        const char *plain = field_plain_json(p, f, buf, sizeof buf);
        json_t *value = plain ? NULL : field_to_json(p, f);
        if (!plain && !value)
            continue;
        hash_text(&h, sep);
        hash_text(&h, "\"");
        hash_text(&h, f->key);
        hash_text(&h, "\":");
        if (plain)
            hash_text(&h, plain);
        else if (json_dump_callback(value, hash_chunk, &h,
                                    JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) < 0)
            h = 0;
        json_decref(value);
        sep = ",";
    }
    if (h)
        hash_text(&h, *sep == '{' ? "{}" : "}");
    (void)!fmt_fits(out, 17, "%016llx", (unsigned long long)h); /* 16 digits: always fits */
}

int workspace_resolve(const char *workspace, char real[PATH_MAX], struct stat *st,
                      hutch_error *err)
{
    if (!realpath(workspace, real) || stat(real, st) < 0)
        return error_sys(err, errno, "workspace (--workspace) %s", workspace);
    if (!S_ISDIR(st->st_mode))
        return error_set(err, HUTCH_E_INVALID, "workspace (--workspace) %s is not a directory",
                         workspace);
    return 0;
}

int session_workspace(const struct session *s, const struct hutch_policy *p, char *out,
                      size_t len, bool *owned, hutch_error *err)
{
    if (p->workspace) {
        char real[PATH_MAX];
        struct stat st;
        if (workspace_resolve(p->workspace, real, &st, err) < 0)
            return -1;
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
    (void)!str_join_fits(out, len, s->dir, "/broken", NULL); /* "" (names nothing) if too long */
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
    hutch_error e = {0};
    if (!s->record || s->record->agent_pid <= 0)
        error_set(&e, HUTCH_E_SYSTEM, "its record names no agent to check the socket against "
                                      "(made by an older hutch)");
    else
        (void)agent_check_peer(conn, s->record->agent_pid, &e);
    if (e.status == HUTCH_OK)
        return 0;
    agent_close(conn);
    session_mark_broken(s, e.message);
    if (err)
        error_set(err, HUTCH_E_SYSTEM, "session %s: %s; it is recreated on its next use",
                  s->key, e.message);
    return -1;
}

/* A driver's probe as the lifecycle takes it, and back. */
static enum probed probed_from(enum session_state st)
{
    return st == SESSION_RUNNING ? PROBED_RUNNING : st == SESSION_BROKEN ? PROBED_BROKEN
                                                                         : PROBED_STOPPED;
}

static enum session_state state_from(enum probed p)
{
    return p == PROBED_RUNNING ? SESSION_RUNNING : p == PROBED_BROKEN ? SESSION_BROKEN
                                                                      : SESSION_STOPPED;
}

/* The sandbox as its backend finds it (no notion of what the record says). */
static enum probed probe_sandbox(struct session *s, char *detail, size_t len)
{
    const struct driver *b = session_driver(s->record->kind);
    if (b)
        return probed_from(b->probe(s, detail, len));
    /* docker in the static build: the agent's socket is the only witness. */
    struct agent_conn c;
    hutch_error e;
    if (session_agent_connect(s, &c, &e) == 0) {
        agent_close(&c);
        fmt_trunc(detail, len, "its agent answers");
        return PROBED_RUNNING;
    }
    fmt_trunc(detail, len, "the agent does not answer (%s)", e.message);
    return PROBED_BROKEN;
}

enum session_state session_probe(struct session *s, char *detail, size_t len)
{
    detail[0] = '\0';
    if (!s->record)
        return SESSION_MISSING;
    if (s->record->state == RECORD_FAILED) {
        fmt_trunc(detail, len, "%s", s->record->failure ?: "creation failed");
        return SESSION_FAILED;
    }
    if (s->record->state == RECORD_STOPPED) {
        fmt_trunc(detail, len, "stopped");
        return SESSION_STOPPED;
    }
    if (broken_reason(s, detail, len))
        return SESSION_BROKEN;
    return state_from(session_state_now(s->record->state, false, probe_sandbox(s, detail, len)));
}

/* A new record for the session (not yet saved); a record it replaces
 * passes on when the session was made and how often it was used. */
static int new_record(struct session *s, const struct hutch_policy *p, enum session_kind kind,
                      const struct session_use *use, hutch_error *err)
{
    struct session_record *rec = record_new();
    if (!rec)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    char workspace[PATH_MAX];
    if (session_workspace(s, p, workspace, sizeof workspace, &rec->workspace_owned, err) < 0) {
        record_free(rec);
        return -1;
    }
    double now = session_now();
    rec->kind = kind;
    rec->state = RECORD_CREATING;
    rec->created_at = now;
    rec->last_used_at = now;
    session_config_hash(p, rec->config_hash);
    rec->adopted = p->docker.container && kind == SESSION_KIND_DOCKER;
    if (record_set(&rec->key, s->key) < 0 || record_set(&rec->name, s->name) < 0 ||
        record_set(&rec->workspace, workspace) < 0 ||
        record_set(&rec->config, use->config_path) < 0) {
        record_free(rec);
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    }
    if (use->create_args)
        rec->create_args = json_incref(use->create_args);
    if (s->record) {
        rec->created_at = s->record->created_at;
        rec->exec_count = s->record->exec_count;
    }
    record_free(s->record);
    s->record = rec;
    return 0;
}

static int make_workspace(const char *ws, hutch_error *err)
{
    if (mkdir(ws, 0700) == 0 || errno == EEXIST)
        return 0;
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
    return 0;
}

/* Makes the sandbox of a record in state "creating"; on failure the record
 * says "failed" with the reason and no sandbox is left. */
static int create_sandbox(struct session *s, const struct driver *b,
                          const struct hutch_policy *p, hutch_error *err)
{
    if (s->record->workspace_owned && make_workspace(s->record->workspace, err) < 0)
        return -1;
    s->created_now = true;
    char marker[PATH_MAX + 16];
    broken_path(s, marker, sizeof marker);
    (void)unlink(marker); /* a new sandbox, a new agent */
    /* Before the sandbox: setupCommand may already need the network. The
     * workspace's own filesystem under limits.disk comes first of all. */
    if (workspace_fs_up(s, p, err) == 0 && session_proxy_ensure(s, p, err) == 0 &&
        b->create(SANDBOX_OF(s), p, err) == 0) {
        s->record->state = RECORD_RUNNING;
        (void)record_set(&s->record->failure, NULL);
        return session_save(s, NULL) < 0 ? -1 : 0;
    }
    /* Never half-ready: whatever was made goes. */
    hutch_error ignored;
    (void)b->destroy(SANDBOX_OF(s), &ignored);
    session_proxy_stop(s);
    workspace_fs_down(s);
    s->record->state = RECORD_FAILED;
    (void)record_set(&s->record->failure, err->message);
    (void)session_save(s, NULL);
    return -1;
}

static int unavailable(enum session_kind kind, hutch_error *err)
{
    return error_set(err, HUTCH_E_NO_DRIVER,
                     "the %s backend is not available in this build of hutch",
                     session_kind_name(kind));
}

/* Removes the sandbox and makes it anew under this policy (the workspace,
 * the options it was created with and its history are kept). */
static int remake(struct session *s, const struct hutch_policy *p, hutch_error *err)
{
    const struct driver *old = session_driver(s->record->kind);
    hutch_error ignored;
    if (old)
        (void)old->destroy(SANDBOX_OF(s), &ignored);
    session_proxy_stop(s);
    enum session_kind kind = session_kind_for_policy(p, s->key);
    const struct driver *b = session_driver(kind);
    if (!b)
        return unavailable(kind, err);
    json_t *args = json_incref(s->record->create_args);
    autofree char *config = s->record->config ? strdup(s->record->config) : NULL;
    struct session_use again = {.create_args = args, .config_path = config};
    int r = new_record(s, p, kind, &again, err);
    json_decref(args);
    return r < 0 ? -1 : create_sandbox(s, b, p, err);
}

/* Starts a stopped or gone sandbox again over the same workspace. */
static int restart(struct session *s, const struct driver *b,
                   const struct hutch_policy *p, hutch_error *err)
{
    s->created_now = true;
    if (workspace_fs_up(s, p, err) < 0 || session_proxy_ensure(s, p, err) < 0 ||
        b->start(s, p, err) < 0)
        return -1;
    s->record->state = RECORD_RUNNING;
    return 0;
}

static int refuse(enum lifecycle_action a, const struct session *s, hutch_error *err)
{
    if (a == LIFE_REFUSE_EXISTS)
        return error_set(err, HUTCH_E_INVALID,
                         "session %s already exists: use it with 'hutch exec %s', or remove it "
                         "first with 'hutch session rm %s'",
                         s->key, s->key, s->key);
    return error_set(err, HUTCH_E_INVALID,
                     "no session %s: create it with 'hutch session create %s' (autoCreate is "
                     "off)",
                     s->key, s->key);
}

/* Carries out what session_lifecycle() decided. */
static int bring_up(struct session *s, const struct hutch_policy *p, const struct session_use *use,
                    struct lifecycle_facts *facts, struct agent_conn *conn, hutch_error *err)
{
    char detail[512] = "";
    for (;;) {
        enum lifecycle_action a = session_lifecycle(facts);
        const struct driver *b = s->record ? session_driver(s->record->kind) : NULL;
        switch (a) {
        case LIFE_NEED_AGENT:
        case LIFE_NEED_PROBE:
            if (a == LIFE_NEED_AGENT)
                facts->agent_answers =
                    session_agent_connect(s, conn, NULL) == 0 ? FACT_YES : FACT_NO;
            else
                facts->probed = probe_sandbox(s, detail, sizeof detail);
            /* Something other than the agent on its socket marks the
             * session broken: then nothing of that sandbox is kept. (The
             * agent answering marked nothing: no second look.) */
            if (a == LIFE_NEED_PROBE || facts->agent_answers != FACT_YES)
                facts->marked_broken = broken_reason(s, detail, sizeof detail);
            continue;
        case LIFE_REFUSE_EXISTS:
        case LIFE_REFUSE_MISSING:
            return refuse(a, s, err);
        case LIFE_USE:
            break;
        case LIFE_CREATE: {
            enum session_kind kind = session_kind_for_policy(p, s->key);
            if (!(b = session_driver(kind)))
                return unavailable(kind, err);
            if (new_record(s, p, kind, use, err) < 0 || create_sandbox(s, b, p, err) < 0)
                return -1;
            break;
        }
        case LIFE_RECREATE:
        case LIFE_RETRY:
            /* A build that lacks either driver hands the session over before
             * saying anything (else the notice comes twice) or leaving the
             * old sandbox behind. */
            if (!session_driver(s->record->kind))
                return unavailable(s->record->kind, err);
            if (!session_driver(session_kind_for_policy(p, s->key)))
                return unavailable(session_kind_for_policy(p, s->key), err);
            if (a == LIFE_RECREATE)
                notice("the configuration of session %s changed; recreating its sandbox (the "
                       "workspace is kept)",
                       s->key);
            if (remake(s, p, err) < 0)
                return -1;
            break;
        case LIFE_REPLACE:
        case LIFE_RESTART:
        case LIFE_RESTART_BROKEN:
            if (!b)
                return unavailable(s->record->kind, err);
            if (a == LIFE_REPLACE) {
                /* Its agent misbehaved: nothing of that sandbox is kept. */
                broken_reason(s, detail, sizeof detail);
                notice("session %s was broken (%s); recreating its sandbox (the workspace is "
                       "kept)",
                       s->key, detail);
                hutch_error ignored;
                (void)b->destroy(SANDBOX_OF(s), &ignored);
                char path[PATH_MAX + 16];
                broken_path(s, path, sizeof path);
                (void)unlink(path);
            } else if (a == LIFE_RESTART_BROKEN) {
                notice("session %s was broken (%s); restarting it", s->key, detail);
            }
            if (restart(s, b, p, err) < 0)
                return -1;
            break;
        }
        if (facts->agent_answers != FACT_YES && session_uses_agent(s) &&
            session_agent_connect(s, conn, err) < 0)
            return -1;
        return 0;
    }
}

static int record_use(struct session *s, struct agent_conn *conn, hutch_error *err)
{
    s->record->last_used_at = session_now();
    s->record->exec_count++;
    if (session_save_usage(s, err) < 0) {
        agent_close(conn);
        return -1;
    }
    return 0;
}

int session_ensure(struct session *s, const struct hutch_policy *p, const struct session_use *use,
                   struct agent_conn *conn, hutch_error *err)
{
    *conn = (struct agent_conn){.fd = -1, .cancel_fd = -1};
    struct lifecycle_facts facts = {
        .has_record = s->record != NULL,
        .create_if_missing = use->create_if_missing,
        .fail_if_exists = use->fail_if_exists,
    };
    if (s->record) {
        char hash[17], ignored[8];
        session_config_hash(p, hash);
        facts.state = s->record->state;
        facts.same_config = strcmp(s->record->config_hash, hash) == 0;
        facts.wanted_kind = s->record->kind == session_kind_for_policy(p, s->key);
        facts.marked_broken = broken_reason(s, ignored, sizeof ignored);
        facts.uses_agent = session_uses_agent(s);
    }
    if (bring_up(s, p, use, &facts, conn, err) < 0)
        return -1;
    /* A proxy that died (killed, OOM) comes back without touching the sandbox:
     * the bridge inside connects anew for every connection. */
    if (session_proxy_ensure(s, p, err) < 0) {
        agent_close(conn);
        return -1;
    }
    return record_use(s, conn, err);
}

static int need_record(struct session *s, const struct driver **b, hutch_error *err)
{
    if (!s->record)
        return error_set(err, HUTCH_E_INVALID, "no session %s (see 'hutch session ls')", s->key);
    if (!(*b = session_driver(s->record->kind)))
        return unavailable(s->record->kind, err);
    return 0;
}

int session_stop(struct session *s, hutch_error *err)
{
    const struct driver *b;
    if (need_record(s, &b, err) < 0 || b->stop(s, err) < 0)
        return -1;
    session_proxy_stop(s);
    workspace_fs_down(s);
    if (s->record->state != RECORD_FAILED)
        s->record->state = RECORD_STOPPED;
    return session_save(s, err);
}

int session_remove(struct session *s, bool workspace, hutch_error *err)
{
    const struct driver *b;
    if (need_record(s, &b, err) < 0 || b->destroy(SANDBOX_OF(s), err) < 0)
        return -1;
    session_proxy_stop(s);
    workspace_fs_down(s);
    if (workspace && s->record->workspace && s->record->workspace_owned) {
        autofree char *copy = strdup(s->record->workspace);
        if (!copy)
            return error_set(err, HUTCH_E_SYSTEM, "out of memory");
        if (workspace_fs_delete(s, err) < 0 || session_forget(s, err) < 0)
            return -1;
        return remove_tree(copy, err);
    }
    return session_forget(s, err);
}

int session_run(struct session *s, const struct hutch_policy *p, struct agent_conn *conn,
                const hutch_command *cmd, hutch_result *r, hutch_error *err)
{
    memset(r, 0, sizeof *r);
    /* Through the agent every kind is the same: the static hutch, which
     * has no docker backend, runs commands in docker sessions this way. */
    if (session_uses_agent(s) && conn->fd >= 0)
        return session_exec(s, p, conn, cmd, r, err);
    /* Containers the Engine API reaches get a terminal of the engine's. */
    if (cmd->tty_fd >= 0 && session_on_host(s))
        return error_set(err, HUTCH_E_UNSUPPORTED,
                         "session %s has no agent to open a terminal with (it runs on the "
                         "host): use hutch exec %s -- COMMAND",
                         s->key, s->key);
    const struct driver *b = session_driver(s->record->kind);
    if (!b)
        return unavailable(s->record->kind, err);
    return b->exec(&(struct instance){.session = s, .agent = conn}, p, cmd, r, err);
}

int session_engine_agent(struct session *s, const struct hutch_policy *p,
                         struct agent_conn *conn, hutch_error *err)
{
    *conn = (struct agent_conn){.fd = -1, .cancel_fd = -1};
    const struct driver *b = s->record ? session_driver(s->record->kind) : NULL;
    if (!b || !b->connect)
        return error_set(err, HUTCH_E_UNSUPPORTED,
                         "session %s has no agent this build of hutch can reach", s->key);
    autofree char *before = s->record->agent_dir ? strdup(s->record->agent_dir) : NULL;
    if (b->connect(s, p, conn, err) < 0)
        return -1;
    /* The agent's directory is removed with the session: remembered. */
    if ((!before || strcmp(before, s->record->agent_dir ?: "") != 0) && session_save(s, err) < 0) {
        agent_close(conn);
        return -1;
    }
    return 0;
}

int session_stats(struct session *s, struct session_stats *st, hutch_error *err)
{
    const struct driver *b;
    if (!s->record)
        return error_set(err, HUTCH_E_INVALID, "no session %s (see 'hutch session ls')", s->key);
    if ((b = session_driver(s->record->kind)))
        return b->stats(s, st, err);
    /* docker in the static build: its agent counts as well. */
    if (session_uses_agent(s))
        return session_agent_stats(s, st, err);
    return unavailable(s->record->kind, err);
}

bool session_driver_missing(const struct session *s)
{
    return s->record && !session_driver(s->record->kind);
}

int session_servable(struct session *s, const struct hutch_policy *p, hutch_error *err)
{
    hutch_error ignored;
    if (session_load(s, &ignored) < 0)
        return 0; /* the locked call that follows says what is wrong */
    enum session_kind want = session_kind_for_policy(p, s->key);
    if (session_driver_missing(s))
        return unavailable(s->record->kind, err);
    return session_driver(want) ? 0 : unavailable(want, err);
}

bool session_on_host(const struct session *s)
{
    return s->record && record_exec_via(s->record) == EXEC_VIA_HOST;
}

json_t *session_describe(struct session *s, bool probe)
{
    json_t *out = record_to_json(s->record);
    if (!out || !probe)
        return out;
    char detail[600];
    enum session_state state = session_probe(s, detail, sizeof detail);
    json_object_set_new(out, "state", json_string(session_state_name(state)));
    json_object_set_new(out, "detail", json_string(detail));
    json_object_set_new(out, "socket", json_string(s->socket_path));
    json_object_set_new(out, "state_dir", json_string(s->dir));
    return out;
}

const char *session_config_path(const struct session *s)
{
    return s->record ? s->record->config : NULL;
}

const json_t *session_create_args(const struct session *s)
{
    return s->record ? s->record->create_args : NULL;
}
