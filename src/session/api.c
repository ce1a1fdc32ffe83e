/* The public session calls of libhutch (include/hutch.h). */
#include "session/session.h"
#include "session/tool_call.h"

HUTCH_API int hutch_session_exec(const hutch_policy *p, const char *key, const hutch_command *cmd,
                                 hutch_result *r, hutch_error *err)
{
    hutch_error_clear(err);
    memset(r, 0, sizeof *r);
    if (!p || !key || !cmd)
        return error_set(err, HUTCH_E_INVALID,
                         "hutch_session_exec: policy, key and command are required");
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
