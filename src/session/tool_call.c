/* Calling a tool in a session from the host (tool_call.h): policy, schema,
 * clamping, the session, the agent, the audit log. */
#include "session/tool_call.h"

#include <fcntl.h>
#include <stdarg.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/client.h"
#include "base/approval.h"
#include "base/command.h"
#include "policy/approval_rules.h"
#include "policy/policy_resolve.h"
#include "session/record.h"
#include "session/session.h"
#include "session/tool_schema.h"
#include "base/strlist.h"
#include "tools/tools.h"

/* Arguments longer than this are logged as their size. */
#define AUDIT_INLINE_MAX 1024
/* How late past a call's timeout the agent may answer before hutch stops
 * believing it will (bash kills its command at the timeout, SIGKILL 2 s
 * later); calls without a timeout other than bash get a fixed one. */
#define ANSWER_SLACK_MS 5000
#define UNTIMED_CALL_MS (10 * 60 * 1000)
/* Largest result accepted from the agent, and where bash keeps outputs. */
#define SANDBOX_OUTPUT_DIR "/tmp/hutch-output"

bool tool_policy_allows(const struct hutch_policy *p, const char *name)
{
    if (!name || strlist_contains(&p->tools.deny, name))
        return false;
    return p->tools.allow.len == 0 || strlist_contains(&p->tools.allow, name);
}

bool tool_offered(const struct hutch_policy *p, const char *name)
{
    return name && tool_def_named(name) && tool_policy_allows(p, name);
}

json_t *tool_catalog(const struct hutch_policy *p)
{
    json_t *list = json_array();
    size_t n;
    const struct tool_def *defs = tool_defs(&n);
    for (size_t i = 0; i < n; i++) {
        if (!tool_offered(p, defs[i].name))
            continue;
        json_t *annotations = json_pack(
            "{s:s, s:b, s:b, s:b, s:b}", "title", defs[i].title, "readOnlyHint",
            defs[i].read_only, "destructiveHint", defs[i].destructive, "idempotentHint",
            defs[i].idempotent, "openWorldHint", 0);
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:o, s:o}", "name", defs[i].name,
                                              "title", defs[i].title, "description",
                                              defs[i].description, "inputSchema",
                                              tool_def_schema(&defs[i]), "annotations",
                                              annotations));
    }
    return list;
}

static json_t *failure(const char *fmt, ...) PRINTF_LIKE(1, 2);
static json_t *failure(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vfmt_trunc(msg, sizeof msg, fmt, ap); /* a message: cut on purpose */
    va_end(ap);
    return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

/* ---- roots --------------------------------------------------------------------- */

/* DST of a SRC[:DST] mount: where the sandbox sees it. */
static const char *mount_inside(const char *spec, char *buf, size_t len)
{
    const char *colon = strchr(spec, ':');
    (void)!fmt_fits(buf, len, "%s", colon ? colon + 1 : spec); /* "" (no root) if too long */
    return buf;
}

struct roots {
    struct strlist readable, writable;
};

static int add_root(struct strlist *l, const char *path)
{
    return strlist_contains(l, path) ? 0 : strlist_push(l, path);
}

static int add_tmpfs_roots(struct roots *r, const struct strlist *tmpfs)
{
    char buf[4096];
    int rc = 0;
    for (size_t i = 0; tmpfs && i < tmpfs->len; i++) {
        /* PATH[:OPTIONS]: the path comes first. */
        const char *spec = tmpfs->items[i];
        const char *colon = strchr(spec, ':');
        (void)!fmt_fits(buf, sizeof buf, "%.*s", colon ? (int)(colon - spec) : (int)strlen(spec),
                        spec); /* "" (no root) if too long */
        rc |= add_root(&r->readable, buf) | add_root(&r->writable, buf);
    }
    return rc;
}

/* Where the file tools may go: what the sandbox has mounted writable or
 * readable, as the resolved policy says for its backend. */
static int sandbox_roots(const struct hutch_policy *p, const struct resolved_policy *rp,
                         struct roots *r)
{
    char buf[4096];
    int rc = add_root(&r->readable, "/workspace") | add_root(&r->writable, "/workspace");
    if (!rp->backend_tmpfs) /* native: /tmp always */
        rc |= add_root(&r->readable, "/tmp") | add_root(&r->writable, "/tmp");
    rc |= add_tmpfs_roots(r, rp->backend_tmpfs) | add_tmpfs_roots(r, &p->filesystem.tmpfs);
    for (size_t i = 0; i < p->filesystem.allow_write.len; i++) {
        mount_inside(p->filesystem.allow_write.items[i], buf, sizeof buf);
        rc |= add_root(&r->readable, buf) | add_root(&r->writable, buf);
    }
    for (size_t i = 0; i < p->filesystem.read_only.len; i++)
        rc |= add_root(&r->readable, mount_inside(p->filesystem.read_only.items[i], buf,
                                                  sizeof buf));
    return rc;
}

/* ---- the audit log ----------------------------------------------------------------- */

static json_t *redacted(const json_t *args)
{
    json_t *copy = json_deep_copy(args);
    const char *key;
    json_t *value;
    json_object_foreach(copy, key, value)
    {
        if (json_is_string(value) &&
            (strcmp(key, "content") == 0 || json_string_length(value) > AUDIT_INLINE_MAX))
            json_object_set_new(copy, key,
                                json_pack("{s:I}", "bytes", (json_int_t)json_string_length(value)));
    }
    json_t *edits = json_object_get(copy, "edits");
    size_t i;
    json_t *e;
    json_array_foreach(edits, i, e)
    {
        json_t *r = redacted(e);
        json_array_set_new(edits, i, r);
    }
    return copy;
}

static void audit(const struct session *s, const char *name, const json_t *args,
                  const json_t *result, double ms, const char *approval)
{
    char when[40];
    utc_timestamp(when);
    const char *text = json_string_value(json_object_get(result, "error"))
                           ?: json_string_value(json_object_get(result, "text")) ?: "";
    char summary[201];
    fmt_trunc(summary, sizeof summary, "%s", text); /* a summary: cut on purpose */
    json_t *line = json_pack("{s:s, s:s, s:s, s:o, s:b, s:s, s:f}", "time", when, "session",
                             s->key, "tool", name, "args", redacted(args ? args : json_null()),
                             "ok", json_is_true(json_object_get(result, "ok")), "summary",
                             summary, "duration_ms", ms);
    json_t *code = json_object_get(result, "exit_code");
    if (code)
        json_object_set(line, "exit_code", code);
    if (approval)
        json_object_set_new(line, "approval", json_string(approval));
    if (line)
        session_audit_append(s, line);
    json_decref(line);
}

/* ---- running ------------------------------------------------------------------------- */

/* write's inline content travels as a descriptor, never in the request. */
static int content_memfd(const char *content, size_t len)
{
    int fd = memfd_create("hutch-content", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (write_all(fd, content, len) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* write's content from a descriptor of the caller's (a file, stdin) goes
 * to the agent through a pipe hutch fills: the sandbox never holds the
 * caller's own file. */
struct content_pump {
    int src, dst;
    char buf[64 * 1024];
    size_t len, off;
};

static void pump_stop(struct content_pump *c)
{
    c->src = -1;
    close_fd(&c->dst);
}

static void pump(struct content_pump *c)
{
    for (;;) {
        if (c->off == c->len) {
            ssize_t n = TEMP_FAILURE_RETRY(read(c->src, c->buf, sizeof c->buf));
            if (n <= 0) {
                pump_stop(c); /* the end of the content (or of what can be read) */
                return;
            }
            c->len = (size_t)n;
            c->off = 0;
        }
        ssize_t n = TEMP_FAILURE_RETRY(write(c->dst, c->buf + c->off, c->len - c->off));
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            pump_stop(c); /* the agent stopped reading */
            return;
        }
        c->off += (size_t)n;
    }
}

static json_t *through_agent(struct session *s, struct agent_conn *conn, const char *name,
                             json_t *args, int content_fd, bool content_is_ours,
                             const struct hutch_policy *p, uint64_t timeout_ms,
                             const struct tool_call_opts *opts)
{
    bool docker = s->record->kind == SESSION_KIND_DOCKER;
    struct roots roots = {0};
    autostrlist struct strlist env = {0};
    hutch_error err = {0};
    struct resolved_policy rp;
    const struct session_record *rec = s->record;
    /* An adopted container's tools start in its workspace (record.workdir)
     * and may use /tmp; its bash keeps the container's environment (the
     * agent's), the policy's env on top. */
    int env_rc = rec->adopted ? (policy_env_apply(p, false, &env) < 0 ? -1 : 0)
                              : command_env(p, docker ? ENV_DOCKER : ENV_SANDBOX, &env, &err);
    int roots_rc = rec->adopted ? add_root(&roots.readable, rec->workdir ?: "/") |
                                      add_root(&roots.writable, rec->workdir ?: "/") |
                                      add_root(&roots.readable, "/tmp") |
                                      add_root(&roots.writable, "/tmp")
                                : policy_resolve(p, docker ? BACKEND_DOCKER : BACKEND_NATIVE, &rp,
                                                 &err) < 0
                                      ? -1
                                      : sandbox_roots(p, &rp, &roots);
    char output_dir[PATH_MAX];
    bool own_output = rec->agent_dir &&
                      fmt_fits(output_dir, sizeof output_dir, "%s/output", rec->agent_dir);
    if (roots_rc < 0 || env_rc < 0) {
        strlist_clear(&roots.readable);
        strlist_clear(&roots.writable);
        return failure("%s", err.message[0] ? err.message : "out of memory");
    }
    autofree char *args_text = json_dumps(args, JSON_COMPACT);
    autoclose int pipe_read = -1;
    struct content_pump *content = NULL;
    autofree struct content_pump *content_buf = NULL;
    if (content_fd >= 0 && !content_is_ours) {
        int fds[2];
        content_buf = malloc(sizeof *content_buf);
        if (!content_buf || pipe2(fds, O_CLOEXEC) < 0) {
            strlist_clear(&roots.readable);
            strlist_clear(&roots.writable);
            return failure("cannot pass the content on: %s", strerror(errno ? errno : ENOMEM));
        }
        (void)fcntl(fds[1], F_SETFL, O_NONBLOCK);
        *content_buf = (struct content_pump){.src = content_fd, .dst = fds[1]};
        content = content_buf;
        pipe_read = fds[0];
        content_fd = fds[0];
    }
    struct agent_tool_request req = {
        .name = name,
        .args_json = args_text,
        .envp = env.items,
        .timeout_ms = timeout_ms,
        .read_roots = (const char *const *)roots.readable.items,
        .n_read_roots = roots.readable.len,
        .write_roots = (const char *const *)roots.writable.items,
        .n_write_roots = roots.writable.len,
        .content_fd = content_fd,
        .output_dir = own_output ? output_dir : NULL,
    };
    int rc = args_text ? agent_tool_send(conn, &req, &err) : -1;
    close_fd(&pipe_read); /* the agent has its own copy */
    strlist_clear(&roots.readable);
    strlist_clear(&roots.writable);
    if (rc < 0) {
        if (content)
            pump_stop(content);
        return failure("the session's agent refused the call: %s", err.message);
    }
    double start = monotonic_ms();
    /* Everything the agent says is the sandbox's word: it gets the call's
     * time and a little more, then the session is given up on. */
    double deadline = timeout_ms ? start + (double)timeout_ms + ANSWER_SLACK_MS
                      : strcmp(name, "bash") == 0 ? -1
                                                  : start + UNTIMED_CALL_MS;
    for (;;) {
        struct pollfd pfd[3] = {{.fd = conn->fd, .events = POLLIN},
                                {.fd = opts ? opts->cancel_fd : -1, .events = POLLIN},
                                {.fd = content && content->dst >= 0 ? content->dst : -1,
                                 .events = POLLOUT}};
        double now = monotonic_ms();
        if (deadline >= 0 && now >= deadline) {
            if (content)
                pump_stop(content);
            agent_close(conn);
            char why[200];
            fmt_trunc(why, sizeof why, "its agent did not answer a %s call within %.0f s", name,
                      (deadline - start) / 1000.0);
            session_mark_broken(s, why);
            return failure("session %s: %s; the session is recreated on its next use", s->key,
                           why);
        }
        int wait = deadline < 0 || deadline - now > 1000 ? 1000 : (int)(deadline - now) + 1;
        int r = poll(pfd, 3, wait);
        if (r < 0 && errno != EINTR) {
            if (content)
                pump_stop(content);
            return failure("cannot wait for the agent: %s", strerror(errno));
        }
        if (r > 0 && pfd[1].revents) {
            /* Closing the connection makes the agent kill the call. */
            if (content)
                pump_stop(content);
            agent_close(conn);
            return failure("cancelled");
        }
        if (r > 0 && pfd[2].revents)
            pump(content);
        if (r > 0 && pfd[0].revents)
            break;
        if (opts && opts->progress)
            opts->progress(opts->ctx, monotonic_ms() - start);
    }
    if (content)
        pump_stop(content); /* an answer before the end: the agent read all it wanted */
    autofree char *text = NULL;
    if (agent_tool_wait(conn, monotonic_ms() + ANSWER_SLACK_MS, &text, &err) < 0)
        return failure("the session's agent did not answer the call: %s", err.message);
    json_error_t jerr;
    /* A command's output may hold NUL, which the agent writes as \u0000. */
    json_t *result = json_loads(text, JSON_ALLOW_NUL, &jerr);
    if (!json_is_object(result)) {
        json_decref(result);
        return failure("the session's agent sent a result that is not a JSON object");
    }
    return result;
}

/* Unsandboxed sessions (mode off, mainSession under non-main): the same
 * tool code, in this process, confined to the session's workspace. */
static json_t *in_process(struct session *s, const char *name, json_t *args, int content_fd,
                          const struct hutch_policy *p, uint64_t timeout_ms)
{
    if (strcmp(name, "process") == 0 || json_is_true(json_object_get(args, "background")))
        return failure("session %s runs on the host without an agent: background processes "
                       "need a sandboxed session",
                       s->key);
    const char *ws = s->record->workspace;
    char output_dir[PATH_MAX + 16];
    if (!fmt_fits(output_dir, sizeof output_dir, "%s/output", s->dir))
        return failure("session %s: its directory's path is too long", s->key);
    (void)mkdir(output_dir, 0700);
    autostrlist struct strlist env = {0};
    hutch_error err = {0};
    if (command_env(p, ENV_HOST, &env, &err) < 0)
        return failure("%s", err.message);
    const char *roots[] = {ws};
    struct tool_env tenv = {
        .roots = {.workspace = ws, .readable = roots, .n_readable = 1, .writable = roots,
                  .n_writable = 1},
        .envp = env.items,
        .output_dir = output_dir,
        .timeout_ms = timeout_ms,
    };
    json_t *result = NULL;
    if (tool_run(name, args, content_fd, &tenv, &result) < 0 || !result)
        return failure("out of memory");
    return result;
}

/* ---- approval (approval.require) --------------------------------------------------- */

/* Asks about a call that approval.require names: 1 approved, 0 refused
 * (why says why). bash's command is matched by the command: patterns too. */
static int approve_tool(const struct hutch_policy *p, const char *key, const char *name,
                        const json_t *args, const char *rule, const struct tool_call_opts *opts,
                        char *why, size_t len)
{
    autofree char *args_text = json_dumps(args, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!args_text) {
        fmt_trunc(why, len, "out of memory while asking for approval");
        return 0;
    }
    hutch_approval_request req = {
        .kind = HUTCH_APPROVAL_TOOL,
        .tool = name,
        .args_json = args_text,
        .command = strcmp(name, "bash") == 0
                       ? json_string_value(json_object_get(args, "command"))
                       : NULL,
        .session = p->per_session ? key : SHARED_SESSION_KEY,
        .rule = rule,
    };
    struct approval_hook hook = {.fn = opts ? opts->approve : NULL, .ctx = opts ? opts->ctx : NULL};
    return approval_ask(&req, &hook, why, len);
}

/* A call refused before it ran is audited too, when its session exists:
 * refusals are what an injected prompt tries. */
static void audit_refused(const struct hutch_policy *p, const char *key, const char *name,
                          const json_t *args, const json_t *result, double ms,
                          const char *approval)
{
    struct session s;
    hutch_error ignored;
    if (session_open(&s, p->per_session ? key : SHARED_SESSION_KEY, &ignored) == 0)
        audit(&s, name, args, result, ms, approval);
    session_close(&s);
}

int tool_call(const struct hutch_policy *p, const char *key, const char *name, json_t *args,
              const struct tool_call_opts *opts, json_t **result, bool *unknown_tool,
              hutch_error *err)
{
    *result = NULL;
    *unknown_tool = false;
    if (!tool_offered(p, name)) {
        *unknown_tool = true;
        if (name && tool_def_named(name))
            return error_set(err, HUTCH_E_INVALID,
                             "the tool %s is not offered here (tools.allow / tools.deny)", name);
        return error_set(err, HUTCH_E_INVALID,
                         "unknown tool %s: the tools are bash, read, write, edit, process",
                         name ? name : "(none)");
    }
    const struct tool_def *def = tool_def_named(name);
    double start = monotonic_ms();
    json_t *empty = json_object();
    if (!args)
        args = empty;
    int content_fd = opts ? opts->content_fd : -1;
    autoclose int memfd = -1;
    hutch_error why;
    json_t *checked = json_deep_copy(args);
    if (json_is_object(checked) && strcmp(name, "write") == 0 && content_fd >= 0 &&
        !json_object_get(checked, "content"))
        json_object_set_new(checked, "content", json_string("")); /* comes from content_fd */
    if (!json_is_object(args) || tool_args_check(def, checked, &why) < 0) {
        json_decref(checked);
        *result = json_is_object(args) ? failure("%s", why.message)
                                        : failure("the arguments must be a JSON object");
        audit_refused(p, key, name, args, *result, monotonic_ms() - start, NULL);
        json_decref(empty);
        return 0;
    }
    json_decref(checked);

    /* Asked once the arguments are good, before the session is touched. */
    const char *approval = NULL;
    const char *rule = approval_rule(
        p, name, strcmp(name, "bash") == 0 ? json_string_value(json_object_get(args, "command"))
                                           : NULL);
    if (rule) {
        /* A call this build hands to hutch-docker is asked about there. */
        struct session pre;
        int servable = session_open(&pre, p->per_session ? key : SHARED_SESSION_KEY, err) == 0
                           ? session_servable(&pre, p, err)
                           : -1;
        session_close(&pre);
        if (servable < 0) {
            json_decref(empty);
            return -1;
        }
        char refused[APPROVAL_REASON_MAX];
        if (!approve_tool(p, key, name, args, rule, opts, refused, sizeof refused)) {
            *result = failure("not approved: %s", refused);
            audit_refused(p, key, name, args, *result, monotonic_ms() - start, "refused");
            json_decref(empty);
            return 0;
        }
        approval = "approved";
    }

    /* Numbers are clamped to the policy: a call cannot outlast the sandbox's limit. */
    uint64_t limit = p->limits.timeout_ms;
    uint64_t timeout = limit;
    json_t *t = json_object_get(args, "timeout");
    if (t && json_number_value(t) > 0) {
        double ms = json_number_value(t) * 1000.0;
        timeout = limit && ms > (double)limit ? limit : (uint64_t)ms;
    }
    json_t *send = json_deep_copy(args);
    json_object_del(send, "timeout");
    json_t *content = json_object_get(send, "content");
    if (strcmp(name, "write") == 0 && content && content_fd < 0) {
        memfd = content_memfd(json_string_value(content), json_string_length(content));
        if (memfd < 0) {
            json_decref(send);
            json_decref(empty);
            return error_sys(err, errno, "cannot pass the content on");
        }
        content_fd = memfd;
    }
    json_object_del(send, "content");

    struct session s;
    if (session_open(&s, p->per_session ? key : SHARED_SESSION_KEY, err) < 0 ||
        session_lock(&s, err) < 0) {
        session_close(&s);
        json_decref(send);
        json_decref(empty);
        return -1;
    }
    /* A container only the Engine API reaches needs the driver (the static
     * hutch hands over to hutch-docker): its probe without it would take
     * the agent's socket for the only witness. */
    if (session_driver_missing(&s) && !session_uses_agent(&s)) {
        error_set(err, HUTCH_E_NO_DRIVER,
                  "session %s needs a driver this build of hutch does not have", s.key);
        session_close(&s);
        json_decref(send);
        json_decref(empty);
        return -1;
    }
    struct session_use use = {.create_if_missing = p->auto_create};
    struct agent_conn conn = {.fd = -1, .cancel_fd = -1};
    int rc = session_ensure(&s, p, &use, &conn, err);
    /* Containers only the Engine API reaches: an agent of theirs, through
     * an exec (docs/docker.md). */
    hutch_error relay_err = {0};
    bool relayed = rc == 0 && conn.fd < 0 && record_exec_via(s.record) == EXEC_VIA_ENGINE;
    int relay_rc = relayed ? session_engine_agent(&s, p, &conn, &relay_err) : 0;
    session_unlock(&s);
    if (rc == 0) {
        if (relay_rc < 0)
            *result = failure("session %s: cannot reach the agent in its container: %s", s.key,
                              relay_err.message);
        else if (conn.fd >= 0)
            *result = through_agent(&s, &conn, name, send, content_fd, content_fd == memfd, p,
                                    timeout, opts);
        else
            *result = in_process(&s, name, send, content_fd, p, timeout);
        agent_close(&conn);
        double ms = monotonic_ms() - start;
        json_object_set_new(*result, "duration_ms", json_real(ms));
        audit(&s, name, args, *result, ms, approval);
    }
    session_close(&s);
    json_decref(send);
    json_decref(empty);
    return rc;
}
