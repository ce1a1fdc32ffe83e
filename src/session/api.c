/* The public session calls of libhutch (include/hutch.h). */
#include "base/result.h"
#include "session/session.h"
#include "session/tool_call.h"

static int session_exec_full(const hutch_policy *p, const char *key, const hutch_command *cmd,
                             hutch_result *r, hutch_error *err);

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

static int session_exec_full(const hutch_policy *p, const char *key, const hutch_command *cmd,
                             hutch_result *r, hutch_error *err)
{
    memset(r, 0, sizeof *r);
    if (hutch_policy_validate(p, err) < 0)
        return -1;
    struct session s;
    if (session_open(&s, p->per_session ? key : SHARED_SESSION_KEY, err) < 0 ||
        session_lock(&s, err) < 0) {
        session_close(&s);
        return -1;
    }
    struct session_use use = {.create_if_missing = p->auto_create};
    struct agent_conn conn = {.fd = -1, .cancel_fd = -1};
    int rc = session_ensure(&s, p, &use, &conn, err);
    session_unlock(&s);
    if (rc == 0)
        rc = session_run(&s, p, &conn, cmd, r, err);
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

HUTCH_API int hutch_tool_call(const hutch_policy *p, const char *key, const char *name,
                              const char *args_json, char **result_json, hutch_error *err)
{
    hutch_error_clear(err);
    *result_json = NULL;
    if (!p || !key || !name || !args_json)
        return error_set(err, HUTCH_E_INVALID,
                         "hutch_tool_call: policy, key, name and arguments are required");
    json_error_t jerr;
    json_t *args = json_loads(args_json, 0, &jerr);
    if (!args)
        return error_set(err, HUTCH_E_INVALID, "the tool's arguments are not valid JSON (%s)",
                         jerr.text);
    json_t *result = NULL;
    bool unknown;
    struct tool_call_opts opts = {.content_fd = -1, .cancel_fd = -1};
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
    struct session_use use = {.create_if_missing = create, .fail_if_exists = create};
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
        return error_set(err, HUTCH_E_UNSUPPORTED,
                         "session %s needs a driver this build of hutch does not have", key);
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
            rc = error_set(err, HUTCH_E_UNSUPPORTED,
                           "session %s needs a driver this build of hutch does not have",
                           keys[i]);
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
