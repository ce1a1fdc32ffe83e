/* hutch_run(): picks the backend, refuses policies it cannot enforce, falls
 * back only when the policy allows it, and runs. */
#include "backend/backend.h"
#include "error.h"
#include "policy.h"

int run_prepare(const struct hutch_policy *p, const struct backend **chosen, bool *degraded,
                hutch_error *err)
{
    if (hutch_policy_validate(p, err) < 0)
        return -1;
    const struct backend *b = backend_for(p->backend);
    hutch_error why = {0};
    *degraded = false;
    if (!b) {
        error_set(&why, HUTCH_E_UNSUPPORTED,
                  "the %s backend is not available in this build of hutch (available: "
                  "native, spawn, host)",
                  backend_name(p->backend));
    } else if (b->available(&why) == 0) {
        /* Asked-for restrictions the backend cannot apply are refused even
         * with a fallback: the fallback is for a backend that cannot run. */
        if (backend_check_policy(b, p, err) < 0)
            return -1;
        *chosen = b;
        return 0;
    }
    if (p->fallback != FALLBACK_SPAWN) {
        *err = why;
        if (strlen(err->message) + 48 < sizeof err->message)
            strcat(err->message, " (or set --fallback spawn to run unisolated)");
        return -1;
    }
    *chosen = &backend_spawn;
    *degraded = true;
    return 0;
}

int hutch_run(const hutch_policy *p, const hutch_command *cmd, hutch_result *r,
              hutch_error *err)
{
    hutch_error_clear(err);
    memset(r, 0, sizeof *r);
    if (!p || !cmd)
        return error_set(err, HUTCH_E_INVALID, "hutch_run: policy and command are required");
    const struct backend *b;
    bool degraded;
    if (run_prepare(p, &b, &degraded, err) < 0)
        return -1;
    if (b->run(p, cmd, r, err) < 0) {
        hutch_result_free(r);
        /* A backend that turns out unable to run here (no user namespaces
         * inside a container, say) falls back like an unavailable one. */
        if (err->status != HUTCH_E_UNSUPPORTED || p->fallback != FALLBACK_SPAWN || degraded ||
            b == &backend_spawn)
            return -1;
        hutch_error_clear(err);
        memset(r, 0, sizeof *r);
        b = &backend_spawn;
        degraded = true;
        if (b->run(p, cmd, r, err) < 0) {
            hutch_result_free(r);
            return -1;
        }
    }
    snprintf(r->backend, sizeof r->backend, "%s", b->name);
    r->isolated = b->isolated;
    r->degraded = degraded;
    return 0;
}
