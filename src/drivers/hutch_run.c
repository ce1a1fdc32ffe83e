/* hutch_run(): picks the backend, refuses policies it cannot enforce, falls
 * back only when the policy allows it, and runs. */
#include "drivers/driver.h"
#include "base/result.h"
#include "base/error.h"
#include "base/notice.h"
#include "policy/policy.h"

/* A backend that cannot run here fails closed; the message says how to run
 * anyway, once. */
static void add_fallback_hint(hutch_error *err)
{
    static const char hint[] = ", or pass --fallback spawn to run without isolation";
    if (!strstr(err->message, "--fallback") &&
        strlen(err->message) + sizeof hint <= sizeof err->message)
        strcat(err->message, hint);
}

int run_prepare(const struct hutch_policy *p, const struct driver **chosen, bool *degraded,
                hutch_error *why, hutch_error *err)
{
    hutch_error_clear(why);
    if (hutch_policy_validate(p, err) < 0)
        return -1;
    const struct driver *b = driver_for(p->backend);
    *degraded = false;
    if (!b) {
        error_set(why, HUTCH_E_UNSUPPORTED,
                  "the %s backend is not available in this build of hutch (available: "
                  "native, spawn, host)",
                  backend_name(p->backend));
    } else if (b->available(p, why) == 0) {
        /* Asked-for restrictions the backend cannot apply are refused even
         * with a fallback: the fallback is for a backend that cannot run. */
        if (driver_check_policy(b, p, err) < 0)
            return -1;
        *chosen = b;
        return 0;
    }
    /* Only a backend that cannot run falls back; a bad setting is an error. */
    if (p->fallback != FALLBACK_SPAWN || why->status != HUTCH_E_UNSUPPORTED) {
        *err = *why;
        if (why->status == HUTCH_E_UNSUPPORTED)
            add_fallback_hint(err);
        return -1;
    }
    *chosen = &driver_spawn;
    *degraded = true;
    return 0;
}

static int run(const hutch_policy *p, const hutch_command *cmd, hutch_result *r,
               hutch_error *err);

int hutch_run_v1(const hutch_policy *p, const hutch_command *caller_cmd, size_t cmd_size,
                 hutch_result *caller_r, size_t result_size, hutch_error *err)
{
    hutch_command cmd;
    hutch_result r;
    if (api_command_in(p != NULL, "hutch_run: policy, command and result are required",
                       caller_cmd, cmd_size, caller_r, result_size, &cmd, err) < 0)
        return -1;
    return api_result_out(run(p, &cmd, &r, err), &r, caller_r, result_size);
}

static int run(const hutch_policy *p, const hutch_command *cmd, hutch_result *r,
               hutch_error *err)
{
    memset(r, 0, sizeof *r);
    const struct driver *b;
    bool degraded;
    hutch_error why;
    if (cmd->tty_fd >= 0)
        return error_set(err, HUTCH_E_INVALID,
                         "a terminal (tty_fd) is for session commands: use hutch_session_exec");
    if (run_prepare(p, &b, &degraded, &why, err) < 0)
        return -1;
    /* Before the command starts, so a terminal shows it first. */
    if (degraded)
        notice("warning: %s; running unisolated with the spawn backend (--fallback spawn)",
               why.message);
    else if (!b->isolated && p->backend == BACKEND_HOST)
        notice("warning: the host backend runs the command with no isolation at all");
    if (driver_run_once(b, p, cmd, r, err) < 0) {
        hutch_result_free(r);
        /* A backend that turns out unable to run here (no user namespaces
         * inside a container, say) falls back like an unavailable one. */
        if (err->status != HUTCH_E_UNSUPPORTED || degraded || b == &driver_spawn)
            return -1;
        if (p->fallback != FALLBACK_SPAWN) {
            add_fallback_hint(err);
            return -1;
        }
        char *reason = strdup(err->message);
        hutch_error_clear(err);
        memset(r, 0, sizeof *r);
        b = &driver_spawn;
        degraded = true;
        if (driver_run_once(b, p, cmd, r, err) < 0) {
            free(reason);
            hutch_result_free(r);
            return -1;
        }
        r->degraded_reason = reason;
        notice("warning: %s; the command ran unisolated with the spawn backend (--fallback "
               "spawn)",
               reason);
    }
    (void)!fmt_fits(r->backend, sizeof r->backend, "%s", b->name); /* short names; never cut */
    r->isolated = b->isolated;
    r->degraded = degraded;
    if (degraded && !r->degraded_reason)
        r->degraded_reason = strdup(why.message);
    return 0;
}
