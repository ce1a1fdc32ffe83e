/* The public session calls of libhutch (include/hutch.h). */
#include "base/approval.h"
#include "base/result.h"
#include "base/utf8.h"
#include "policy/approval_rules.h"
#include "session/session.h"
#include "session/tool_call.h"

static int session_exec_full(const hutch_policy *p, const char *key, const hutch_command *cmd,
                             hutch_result *r, hutch_error *err);

static int driver_missing(const char *key, hutch_error *err)
{
    return error_set(err, HUTCH_E_NO_DRIVER,
                     "session %s needs a driver this build of hutch does not have", key);
}

/* A new record keeps what the caller said it built the policy from. */
static struct session_use use_of(const hutch_policy *p, bool create)
{
    return (struct session_use){
        .create_if_missing = create || p->auto_create,
        .fail_if_exists = create,
        .create_args = p->origin.settings,
        .config_path = p->origin.config_path,
    };
}

HUTCH_API int hutch_session_exec_v1(const hutch_policy *p, const char *key,
                                    const hutch_command *caller_cmd, size_t cmd_size,
                                    hutch_result *caller_r, size_t result_size, hutch_error *err)
{
    hutch_command cmd;
    hutch_result r;
    if (api_command_in(p && key, "hutch_session_exec: policy, key, command and result are required",
                       caller_cmd, cmd_size, caller_r, result_size, &cmd, err) < 0)
        return -1;
    return api_result_out(session_exec_full(p, key, &cmd, &r, err), &r, caller_r, result_size);
}

/* Commands run through sessions are logged only when they were asked
 * about (approval.require): {"event": "command", "command", "approval",
 * "summary"}, the command as tool arguments are (its size past 1 KiB). */
static void audit_command(const struct session *s, const char *line, bool approved,
                          const char *reason)
{
    char when[40];
    utc_timestamp(when);
    size_t n = line ? strlen(line) : 0;
    size_t text_len;
    autofree char *text = n <= 1024 ? utf8_sanitize(line ? line : "", n, false, &text_len) : NULL;
    json_t *command = text ? json_stringn(text, text_len)
                           : json_pack("{s:I}", "bytes", (json_int_t)n);
    char summary[APPROVAL_REASON_MAX + 16] = "";
    if (!approved)
        fmt_trunc(summary, sizeof summary, "not approved: %s", reason); /* as the error says */
    json_t *entry = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s}", "time", when, "session", s->key,
                              "event", "command", "command", command, "approval",
                              approved ? "approved" : "refused", "summary", summary);
    if (entry)
        session_audit_append(s, entry);
    json_decref(entry);
}

static int session_exec_full(const hutch_policy *p, const char *key, const hutch_command *cmd,
                             hutch_result *r, hutch_error *err)
{
    memset(r, 0, sizeof *r);
    if (hutch_policy_validate(p, err) < 0)
        return -1;
    struct session s;
    if (session_open(&s, p->per_session ? key : SHARED_SESSION_KEY, err) < 0) {
        session_close(&s);
        return -1;
    }
    /* Asked before the session is touched; a refusal is logged when the
     * session exists (no session is made for it). */
    char refused[APPROVAL_REASON_MAX];
    const char *rule;
    autofree char *line = NULL;
    if (approval_command_rule(p, cmd, &rule, &line) < 0) {
        session_close(&s);
        return error_set(err, HUTCH_E_NOT_APPROVED,
                         "not approved: out of memory while asking for approval");
    }
    if (rule && session_servable(&s, p, err) < 0) {
        session_close(&s);
        return -1;
    }
    enum approval_outcome asked =
        rule ? approval_command_ask(s.key, line, rule, refused, sizeof refused)
             : APPROVAL_NOT_ASKED;
    if (asked == APPROVAL_REFUSED) {
        audit_command(&s, line, false, refused);
        session_close(&s);
        return error_set(err, HUTCH_E_NOT_APPROVED, "not approved: %s", refused);
    }
    if (session_lock(&s, err) < 0) {
        session_close(&s);
        return -1;
    }
    /* Containers only the Engine API reaches: a build with the driver does
     * all of it (else this use would be counted twice). */
    if (session_driver_missing(&s) && !session_uses_agent(&s)) {
        session_close(&s);
        return driver_missing(key, err);
    }
    struct session_use use = use_of(p, false);
    struct agent_conn conn = {.fd = -1, .cancel_fd = -1};
    int rc = session_ensure(&s, p, &use, &conn, err);
    session_unlock(&s);
    if (rc == 0 && conn.fd < 0 && session_driver_missing(&s))
        rc = driver_missing(key, err);
    else if (rc == 0) {
        if (asked == APPROVAL_APPROVED)
            audit_command(&s, line, true, NULL);
        rc = session_run(&s, p, &conn, cmd, r, err);
    }
    agent_close(&conn);
    session_close(&s);
    return rc;
}

HUTCH_API int hutch_session_remove(const char *key, int remove_workspace, hutch_error *err)
{
    hutch_error_clear(err);
    struct session s;
    int rc = session_open(&s, key, err) == 0 && session_lock(&s, err) == 0
                 ? session_remove(&s, remove_workspace != 0, err)
                 : -1;
    session_close(&s);
    return rc;
}

HUTCH_API void hutch_tool_options_init_v1(hutch_tool_options *opts, size_t opts_size)
{
    hutch_tool_options defaults = {.content_fd = -1, .cancel_fd = -1};
    memset(opts, 0, opts_size);
    memcpy(opts, &defaults, opts_size < sizeof defaults ? opts_size : sizeof defaults);
}

HUTCH_API int hutch_tool_call(const hutch_policy *p, const char *key, const char *name,
                              const char *args_json, char **result_json, hutch_error *err)
{
    hutch_tool_options opts;
    hutch_tool_options_init(&opts);
    return hutch_tool_call_with(p, key, name, args_json, &opts, result_json, err);
}

HUTCH_API int hutch_tool_call_with_v1(const hutch_policy *p, const char *key, const char *name,
                                      const char *args_json, const hutch_tool_options *caller_opts,
                                      size_t opts_size, char **result_json, hutch_error *err)
{
    hutch_error_clear(err);
    if (result_json)
        *result_json = NULL;
    if (!p || !key || !name || !args_json || !caller_opts || !result_json)
        return error_set(err, HUTCH_E_INVALID,
                         "hutch_tool_call: policy, key, name, arguments and a place for the "
                         "result are required");
    /* An older caller's struct is shorter: the rest keeps its defaults. */
    hutch_tool_options given;
    hutch_tool_options_init(&given);
    memcpy(&given, caller_opts, opts_size < sizeof given ? opts_size : sizeof given);
    json_error_t jerr;
    json_t *args = json_loads(args_json, 0, &jerr);
    if (!args)
        return error_set(err, HUTCH_E_INVALID, "the tool's arguments are not valid JSON (%s)",
                         jerr.text);
    json_t *result = NULL;
    bool unknown;
    struct tool_call_opts opts = {.content_fd = given.content_fd, .cancel_fd = given.cancel_fd};
    int rc = tool_call(p, key, name, args, &opts, &result, &unknown, err);
    json_decref(args);
    if (rc == 0) {
        *result_json = json_dumps(result, JSON_COMPACT);
        json_decref(result);
        if (!*result_json)
            return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    }
    return rc;
}

/* ---- lifecycle and state (the calls behind hutch session and hutch prune) ------- */

static int with_locked(const char *key, struct session *s, hutch_error *err)
{
    hutch_error_clear(err);
    if (!key)
        return error_set(err, HUTCH_E_INVALID, "a session key is required");
    if (session_open(s, key, err) < 0 || session_lock(s, err) < 0)
        return -1;
    return 0;
}

static int bring_up(const hutch_policy *p, const char *key, bool create, hutch_error *err)
{
    if (!p)
        return error_set(err, HUTCH_E_INVALID, "a policy is required");
    if (hutch_policy_validate(p, err) < 0)
        return -1;
    auto_session struct session s = {.lock_fd = -1};
    if (with_locked(p->per_session ? key : SHARED_SESSION_KEY, &s, err) < 0)
        return -1;
    if (!create && !session_exists(&s))
        return error_set(err, HUTCH_E_INVALID,
                         "no session %s: create it with 'hutch session create %s'", key, key);
    struct session_use use = use_of(p, create);
    if (!create)
        use.create_if_missing = false;
    struct agent_conn conn = {.fd = -1, .cancel_fd = -1};
    int rc = session_ensure(&s, p, &use, &conn, err);
    agent_close(&conn);
    return rc;
}

HUTCH_API int hutch_session_create(const hutch_policy *p, const char *key, hutch_error *err)
{
    return bring_up(p, key, true, err);
}

HUTCH_API int hutch_session_start(const hutch_policy *p, const char *key, hutch_error *err)
{
    return bring_up(p, key, false, err);
}

HUTCH_API int hutch_session_stop(const char *key, hutch_error *err)
{
    auto_session struct session s = {.lock_fd = -1};
    if (with_locked(key, &s, err) < 0)
        return -1;
    return session_stop(&s, err);
}

static int json_out(json_t *value, char **out, hutch_error *err)
{
    *out = value ? json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    json_decref(value);
    return *out ? 0 : error_set(err, HUTCH_E_SYSTEM, "out of memory");
}

/* Reads session key's record (no lock): fails when there is none. */
static int load_existing(const char *key, struct session *s, char **json, hutch_error *err)
{
    if (!json)
        return error_set(err, HUTCH_E_INVALID, "a place for the JSON answer is required");
    *json = NULL;
    hutch_error_clear(err);
    if (!key)
        return error_set(err, HUTCH_E_INVALID, "a session key is required");
    if (session_open(s, key, err) < 0 || session_load(s, err) < 0)
        return -1;
    if (!session_exists(s))
        return error_set(err, HUTCH_E_INVALID, "no session %s (see 'hutch session ls')", key);
    return 0;
}

HUTCH_API int hutch_session_status(const char *key, char **json, hutch_error *err)
{
    auto_session struct session s = {.lock_fd = -1};
    if (load_existing(key, &s, json, err) < 0)
        return -1;
    if (session_driver_missing(&s))
        return driver_missing(key, err);
    return json_out(session_describe(&s, true), json, err);
}

HUTCH_API int hutch_session_list(char **json, hutch_error *err)
{
    if (!json)
        return error_set(err, HUTCH_E_INVALID, "a place for the JSON answer is required");
    *json = NULL;
    hutch_error_clear(err);
    char **keys;
    size_t n;
    if (session_list(&keys, &n, err) < 0)
        return -1;
    json_t *all = json_array();
    for (size_t i = 0; i < n; i++) {
        struct session s;
        hutch_error ignored;
        if (session_open(&s, keys[i], &ignored) == 0 && session_load(&s, &ignored) == 0 &&
            session_exists(&s))
            json_array_append_new(all, session_describe(&s, true));
        session_close(&s);
        free(keys[i]);
    }
    free(keys);
    return json_out(all, json, err);
}

HUTCH_API int hutch_session_stats(const char *key, char **json, hutch_error *err)
{
    auto_session struct session s = {.lock_fd = -1};
    if (load_existing(key, &s, json, err) < 0)
        return -1;
    struct session_stats st = {0};
    if (session_stats(&s, &st, err) < 0) {
        if (err->status != HUTCH_E_UNSUPPORTED)
            error_prefix(err, "session %s", key);
        return -1;
    }
    return json_out(json_pack("{s:s, s:I, s:I, s:f, s:s}", "key", key, "pids",
                              (json_int_t)st.pids, "memory_bytes", (json_int_t)st.memory,
                              "cpu_seconds", (double)st.cpu_usec / 1e6, "memory_via",
                              st.memory_via ? st.memory_via : "agent"),
                    json, err);
}

HUTCH_API int hutch_prune(const hutch_policy *p, int dry_run, int remove_workspaces, char **json,
                          hutch_error *err)
{
    if (!json)
        return error_set(err, HUTCH_E_INVALID, "a place for the JSON answer is required");
    *json = NULL;
    hutch_error_clear(err);
    if (!p)
        return error_set(err, HUTCH_E_INVALID, "a policy is required");
    char **keys;
    size_t n;
    if (session_list(&keys, &n, err) < 0)
        return -1;
    json_t *pruned = json_array(), *failed = json_array();
    double now = session_now();
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        struct session s = {.lock_fd = -1};
        char why[160];
        const char *reason = NULL;
        hutch_error e = {0};
        if (rc == 0 && session_open(&s, keys[i], &e) == 0 && session_lock(&s, &e) == 0)
            reason = session_prune_reason(&s, p, now, why, sizeof why);
        if (reason && !dry_run && session_driver_missing(&s)) {
            /* Before anything of it is touched: a build that has the driver does it all. */
            rc = driver_missing(keys[i], err);
        } else if (reason) {
            if (!dry_run && session_remove(&s, remove_workspaces != 0, &e) < 0)
                json_array_append_new(failed, json_pack("{s:s, s:s}", "key", keys[i], "error",
                                                        e.message));
            else
                json_array_append_new(pruned, json_pack("{s:s, s:s}", "key", keys[i], "reason",
                                                        reason));
        }
        session_close(&s);
        free(keys[i]);
    }
    free(keys);
    json_t *out = json_pack("{s:b, s:o, s:o}", "dry_run", dry_run != 0, "pruned", pruned,
                            "failed", failed);
    if (rc < 0) {
        json_decref(out);
        return -1;
    }
    return json_out(out, json, err);
}

HUTCH_API int hutch_tool_allowed(const hutch_policy *p, const char *name)
{
    return p && tool_policy_allows(p, name);
}

HUTCH_API int hutch_session_origin(const char *key, char **config_path, char **settings_json,
                                   hutch_error *err)
{
    hutch_error_clear(err);
    if (!key || !config_path || !settings_json)
        return error_set(err, HUTCH_E_INVALID,
                         "hutch_session_origin: a key and places for the answers are required");
    *config_path = *settings_json = NULL;
    auto_session struct session s = {.lock_fd = -1};
    if (session_open(&s, key, err) < 0 || session_load_record(&s, err) < 0)
        return -1;
    const char *config = session_config_path(&s);
    const json_t *settings = session_create_args(&s);
    if (config && !(*config_path = strdup(config)))
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    if (settings && !(*settings_json = json_dumps(settings, JSON_COMPACT))) {
        free(*config_path);
        *config_path = NULL;
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    }
    return 0;
}

HUTCH_API int hutch_prune_due(double interval_seconds)
{
    return prune_due(interval_seconds);
}

HUTCH_API int hutch_session_audit_path(const char *key, int must_exist, char **path,
                                       hutch_error *err)
{
    hutch_error_clear(err);
    if (!key || !path)
        return error_set(err, HUTCH_E_INVALID,
                         "hutch_session_audit_path: a key and a place for the path are required");
    *path = NULL;
    auto_session struct session s = {.lock_fd = -1};
    if ((must_exist ? load_existing(key, &s, path, err) : session_open(&s, key, err)) < 0)
        return -1;
    if (asprintf(path, "%s/audit.log", s.dir) < 0) {
        *path = NULL;
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    }
    return 0;
}
