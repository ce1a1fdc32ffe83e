/* Applies a plan (plan.h) inside the sandbox's fresh mount namespace: a
 * staging tmpfs becomes the root with the host's tree at /oldroot, the
 * sandbox's root is built at /newroot from the plan's operations, and a
 * second pivot_root makes it the root and detaches everything else. Runs in
 * the sandbox's init; async-signal-safe. */
#ifndef HUTCH_NATIVE_MOUNTS_H
#define HUTCH_NATIVE_MOUNTS_H

#include "drivers/native/plan.h"

/* On failure writes a setup_message to status_fd and returns -1. */
int mounts_apply(const struct plan *plan, int status_fd);

/* Makes the mount at path (inside the sandbox, after mounts_apply) and those
 * below it read-only. */
int mounts_seal_read_only(const char *path);

#endif
