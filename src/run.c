/* hutch_run(): picks the backend, refuses policies it cannot enforce, falls
 * back only when the policy allows it, and runs. */
#include "backend/backend.h"
#include "error.h"
#include "policy.h"

int hutch_run(const hutch_policy *p, const hutch_command *cmd, hutch_result *r,
              hutch_error *err)
{
    hutch_error_clear(err);
    memset(r, 0, sizeof *r);
    if (!p || !cmd)
        return error_set(err, HUTCH_E_INVALID, "hutch_run: policy and command are required");
    if (hutch_policy_validate(p, err) < 0)
        return -1;

    const struct backend *b = backend_for(p->backend);
    hutch_error why = {0};
    bool degraded = false;
    if (!b) {
        error_set(&why, HUTCH_E_UNSUPPORTED,
                  "the %s backend is not available in this version of hutch (available: "
                  "spawn, host)",
                  backend_name(p->backend));
    } else if (b->available(&why) == 0) {
        /* Asked-for restrictions the backend cannot apply are refused even
         * with a fallback: the fallback is for a backend that cannot run. */
        if (backend_check_policy(b, p, err) < 0)
            return -1;
    } else {
        b = NULL;
    }
    if (!b) {
        if (p->fallback != FALLBACK_SPAWN) {
            *err = why;
            if (strlen(err->message) + 48 < sizeof err->message)
                strcat(err->message, " (or set --fallback spawn to run unisolated)");
            return -1;
        }
        b = &backend_spawn;
        degraded = true;
    }

    if (b->run(p, cmd, r, err) < 0) {
        hutch_result_free(r);
        return -1;
    }
    snprintf(r->backend, sizeof r->backend, "%s", b->name);
    r->isolated = b->isolated;
    r->degraded = degraded;
    return 0;
}
