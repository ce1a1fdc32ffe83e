/* The native backend's side of limits.disk and limits.files
 * (disk_limits.h): its own writable areas are tmpfs mounts, given size= and
 * nr_inodes=; a host directory or file mounted writable (--workspace, --rw)
 * is bounded by a project quota, set by root where the filesystem enforces
 * them. The command runs in a user namespace of its own, so it cannot take
 * its files out of the project (the kernel lets only the initial user
 * namespace change project ids). Anything else is refused: the command
 * never runs with the limit missing. */
#ifndef HUTCH_NATIVE_DISK_H
#define HUTCH_NATIVE_DISK_H

#include <stdbool.h>

#include "base/error.h"
#include "drivers/native/plan.h"
#include "policy/policy.h"

/* Puts the limits on every tmpfs of the plan (the workspace's, /tmp,
 * /dev/shm, /dev, --tmpfs mounts) and on a writable root. */
int native_disk_plan(struct plan *plan, const struct hutch_policy *p, hutch_error *err);

/* Refuses (HUTCH_E_UNSUPPORTED) limits the native backend cannot enforce
 * for policy p: host paths it could not bound (native_disk_binds). */
int native_disk_check(const struct hutch_policy *p, hutch_error *err);

/* Bounds the host paths the sandbox may write to: workspace (a host
 * directory, or NULL when it is a tmpfs or already a size-limited
 * filesystem) and every --rw mount. Needs root and a filesystem that
 * enforces project quotas; refuses (HUTCH_E_INVALID) otherwise. */
int native_disk_binds(const struct hutch_policy *p, const char *workspace, bool privileged,
                      hutch_error *err);

#endif
