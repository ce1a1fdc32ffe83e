/* Deny rules (filesystem.denyRead and denyWrite) against the mounts that a
 * sandbox shows. Where a sandbox can write, it could rename an ancestor of a
 * rule's target, or delete and recreate the target, so that the next sandbox
 * looks the rule's path up and finds nothing to hide. So the rules are
 * resolved here, on the host, before anything starts:
 *   - a target the sandbox would see must exist, else the run fails closed;
 *   - the walk to it follows no symlink once inside a mounted tree (the
 *     sandbox may have planted one), and a file with other hard links is
 *     refused (another name would show it);
 *   - every directory between a writable mount's root and a target is
 *     "pinned": bound onto itself, a mount point, which rename, rmdir and
 *     unlink refuse (EBUSY), as they refuse the masked or read-only target.
 * Pure host-side logic, shared by the native and docker backends, which
 * turn the result into their own mounts. docs/native.md#deny-rules. */
#ifndef HUTCH_DENY_H
#define HUTCH_DENY_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "policy/policy.h"
#include "base/strlist.h"

/* A bind as the sandbox will see it: host path (canonical), inside path. */
struct deny_view {
    const char *host;
    const char *inside;
    bool writable;
};

/* One place where the sandbox sees a target. */
struct deny_place {
    char *inside;
    char *host;
    bool dir;
    bool hide; /* denyRead (and secrets): hide it; denyWrite: make it read-only */
};

struct deny_plan {
    struct deny_place *places;
    size_t n_places, cap_places;
    struct strlist pins;      /* inside directories to pin, shallowest first */
    struct strlist pin_hosts; /* the host directory behind each pin */
};

/* Resolves the rules of fs, and the host's own secrets (hidden where they
 * show, if they exist; may be NULL), against the views. Fails with
 * HUTCH_E_INVALID and a message naming the rule when one cannot be applied. */
int deny_plan_build(const struct filesystem_policy *fs, const char *const *secrets,
                    size_t n_secrets, const struct deny_view *views, size_t n_views,
                    struct deny_plan *plan, hutch_error *err);

void deny_plan_free(struct deny_plan *plan);

#endif
