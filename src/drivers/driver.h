/* The interface every backend implements. A backend declares which of the
 * policy's restrictions it can enforce; hutch_run() refuses to start a
 * command when one that was asked for is not among them (fail closed). */
#ifndef HUTCH_BACKEND_H
#define HUTCH_BACKEND_H

#include "base/error.h"
#include "policy/policy.h"

struct backend {
    const char *name;
    bool isolated;
    unsigned enforces; /* ENF_* bit of the restrictions this backend applies (fields_list.h) */
    /* 0 when the backend can run on this machine for this policy; else why
     * not and the fix. Cheap: called before every run. */
    int (*available)(const struct hutch_policy *p, hutch_error *err);
    /* Optional: refuses policies the field list cannot describe (a value the
     * backend cannot enforce, e.g. one network mode of several). */
    int (*check)(const struct hutch_policy *p, hutch_error *err);
    int (*run)(const struct hutch_policy *p, const hutch_command *cmd, hutch_result *r,
               hutch_error *err);
};

extern const struct backend backend_host;
extern const struct backend backend_spawn;
extern const struct backend backend_native;
#ifndef HUTCH_NO_DOCKER
extern const struct backend backend_docker;
#endif

/* True when the policy asks for the restriction behind field id. */
bool policy_requests(const struct hutch_policy *p, enum field_id id);

/* The backend for a policy's backend kind, or NULL when not in this build. */
const struct backend *backend_for(int kind);

/* Fails with the first restriction the policy asks for that b cannot apply. */
int backend_check_policy(const struct backend *b, const struct hutch_policy *p,
                         hutch_error *err);

/* Runs a command as a child of hutch on the host: shared by host and spawn,
 * and by host sessions. workspace: where it starts (NULL: the policy's
 * --workspace). child_setup runs in the child before exec (rlimits). */
int hostproc_run(const struct hutch_policy *p, const char *workspace, const hutch_command *cmd,
                 hutch_result *r, int (*child_setup)(void *ctx), void *ctx, hutch_error *err);

/* Chooses the backend hutch_run() will use: the policy's, or spawn when it
 * cannot run and the policy allows that fallback (degraded; *why then says
 * what is missing). */
int run_prepare(const struct hutch_policy *p, const struct backend **chosen, bool *degraded,
                hutch_error *why, hutch_error *err);

#endif
