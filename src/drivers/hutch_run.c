/* hutch_run(): picks the backend, refuses policies it cannot enforce, falls
 * back only when the policy allows it, and runs. */
#include "drivers/driver.h"
#include "base/result.h"
#include "base/error.h"
#include "base/approval.h"
#include "base/notice.h"
#include "policy/approval_rules.h"
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

/* What a spawn fallback would drop, as config keys; refused when
 * fallbackKeep names any of it. *reason: why the backend did not run and
 * what the fallback does not apply. */
static int plan_fallback(const struct hutch_policy *p, const char *why, struct strlist *dropped,
                         char **reason, hutch_error *err)
{
    if (driver_unenforced(&driver_spawn, p, dropped) < 0)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    bool keep_all = strlist_contains(&p->fallback_keep, "all");
    char list[1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < dropped->len; i++) {
        const char *key = dropped->items[i];
        if (keep_all || strlist_contains(&p->fallback_keep, key))
            return error_set(err, HUTCH_E_UNSUPPORTED,
                             "%s; --fallback spawn would drop %s, which fallbackKeep keeps: make "
                             "the backend available, or take %s out of fallbackKeep",
                             why, key, keep_all ? "all" : key);
        /* A long list is cut with "...": the result's unenforced has it whole. */
        if (!fmt_append(list, sizeof list, &used, "%s%s", i ? ", " : "", key))
            fmt_mark_cut(list, sizeof list, "...");
    }
    int n = dropped->len ? asprintf(reason, "%s; not enforced by the spawn fallback: %s", why,
                                    list)
                         : asprintf(reason, "%s", why);
    if (n < 0) {
        *reason = NULL;
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    }
    return 0;
}

static int run_degraded(const struct hutch_policy *p, const hutch_command *cmd, const char *why,
                        bool started_before, hutch_result *r, hutch_error *err)
{
    autostrlist struct strlist dropped = {0};
    char *reason;
    if (plan_fallback(p, why, &dropped, &reason, err) < 0)
        return -1;
    /* Before the command starts, so a terminal shows it first. */
    notice("warning: %s; %s unisolated with the spawn backend (--fallback spawn)", reason,
           started_before ? "running the command again," : "running");
    memset(r, 0, sizeof *r);
    if (driver_run_once(&driver_spawn, p, cmd, r, err) < 0) {
        free(reason);
        hutch_result_free(r);
        return -1;
    }
    r->degraded = true;
    r->degraded_reason = reason;
    r->unenforced = dropped.items; /* NULL-terminated, as the result's lists are */
    memset(&dropped, 0, sizeof dropped);
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
    if (cmd->tty_fd >= 0)
        return error_set(err, HUTCH_E_INVALID,
                         "a terminal (tty_fd) is for session commands: use hutch_session_exec");
    const struct driver *b;
    bool degraded;
    hutch_error why;
    if (run_prepare(p, &b, &degraded, &why, err) < 0)
        return -1;
    /* Asked once the policy is known to work, before anything starts. */
    char refused[APPROVAL_REASON_MAX];
    if (approval_command(p, cmd, refused, sizeof refused) == APPROVAL_REFUSED)
        return error_set(err, HUTCH_E_NOT_APPROVED, "not approved: %s", refused);
    if (degraded) {
        if (run_degraded(p, cmd, why.message, false, r, err) < 0)
            return -1;
    } else if (!b->isolated && p->backend == BACKEND_HOST) {
        notice("warning: the host backend runs the command with no isolation at all");
    }
    if (!degraded && driver_run_once(b, p, cmd, r, err) < 0) {
        hutch_result_free(r);
        /* A backend that turns out unable to run here (no user namespaces
         * inside a container, say) falls back like an unavailable one. */
        if (err->status != HUTCH_E_UNSUPPORTED || b == &driver_spawn)
            return -1;
        if (p->fallback != FALLBACK_SPAWN) {
            add_fallback_hint(err);
            return -1;
        }
        char failed[sizeof err->message];
        memcpy(failed, err->message, sizeof failed);
        hutch_error_clear(err);
        if (run_degraded(p, cmd, failed, true, r, err) < 0)
            return -1;
        b = &driver_spawn;
    }
    (void)!fmt_fits(r->backend, sizeof r->backend, "%s", b->name); /* short names; never cut */
    r->isolated = b->isolated;
    return 0;
}
