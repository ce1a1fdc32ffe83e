/* limits.disk and limits.files: how much a sandbox may keep in each of its
 * writable areas. Every area is a filesystem the kernel bounds on its own —
 * a tmpfs with size= and nr_inodes=, a filesystem image of that size, a
 * project quota — so the limit holds per area: one filesystem cannot share
 * a budget with another. The backends pick the mechanism (src/drivers/native/native_disk.c,
 * src/drivers/docker/docker_disk.c, src/session/workspace_fs.c); this is what they share. */
#ifndef HUTCH_DISK_LIMITS_H
#define HUTCH_DISK_LIMITS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "policy/policy.h"

/* limits.disk or limits.files is set. */
bool disk_limited(const struct hutch_policy *p);

/* The name of the limit that is set, with its flag, for messages:
 * "limits.disk (--disk)", "limits.files (--files)" or both. */
const char *disk_limit_names(const struct hutch_policy *p);

/* The options of a tmpfs area under the limits: options (may be NULL or
 * empty), with size= and nr_inodes= set to limits.disk and limits.files +
 * own_inodes: what the area holds before the sandbox writes anything (its
 * root directory, the mount points and links setup makes in it), so that
 * the sandbox may still make limits.files of its own. A smaller size,
 * nr_blocks or nr_inodes in options is kept; a larger one, a percentage or
 * 0 (which means unlimited to tmpfs) gives way to the limit. Without
 * limits, options unchanged. Fails when out is too small. */
int disk_tmpfs_options(const struct hutch_policy *p, const char *options, uint64_t own_inodes,
                       char *out, size_t len, hutch_error *err);

#endif
