/* Running a command as a plain child of hutch on the host: what the host
 * and spawn drivers, and host sessions, have in common. */
#ifndef HUTCH_HOSTPROC_H
#define HUTCH_HOSTPROC_H

#include "base/error.h"
#include "policy/policy.h"

/* workspace: where the command starts (NULL: the policy's --workspace).
 * child_setup runs in the child before exec (rlimits). */
int hostproc_run(const struct hutch_policy *p, const char *workspace, const hutch_command *cmd,
                 hutch_result *r, int (*child_setup)(void *ctx), void *ctx, hutch_error *err);

#endif
