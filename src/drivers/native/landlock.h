/* Landlock: writes allowed only beneath the sandbox's writable paths, on top
 * of the mount table's read-only binds. Best effort by the kernel's ABI. */
#ifndef HUTCH_NATIVE_LANDLOCK_H
#define HUTCH_NATIVE_LANDLOCK_H

#include <stdbool.h>
#include <stddef.h>

/* The kernel's Landlock ABI version, 0 when Landlock is unavailable. */
int landlock_abi(void);

/* Restricts the calling thread (no_new_privs must be set). dirs get every
 * write right beneath them, files the right to write and truncate. With ABI 6
 * or newer, abstract unix sockets and signals outside the sandbox are out of
 * reach too. Async-signal-safe. Returns 0 when applied, 1 when the kernel has
 * no Landlock, -1 on error. */
int landlock_lock_down(int abi, const char *const *dirs, size_t n_dirs,
                       const char *const *files, size_t n_files);

/* A ruleset (its fd, for landlock_apply in each child) that keeps commands
 * from changing the directory /hidden (a session's /.hutch) while leaving
 * the rest of the file system as writable as its mounts make it: every
 * top-level entry of / but hidden gets every write right beneath it, / itself
 * every right but removing, renaming into or out of, and binding sockets.
 * With ABI 6 or newer, signals and abstract unix sockets outside the
 * commands' domain (the agent's) are out of reach too. -1 with errno
 * (EOPNOTSUPP without Landlock). */
int landlock_ruleset_hiding(int abi, const char *hidden);

/* Restricts the calling thread with such a ruleset, after setting
 * no_new_privs. Async-signal-safe. */
int landlock_apply(int ruleset);

#endif
