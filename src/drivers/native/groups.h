/* Supplementary groups in the native sandbox. An unprivileged caller maps
 * its own user namespace, and the kernel then requires setgroups to be
 * denied in it: the sandbox would keep every supplementary group of the
 * caller, and they still open host files and sockets by group permission
 * (docker.sock for the docker group). The only way to drop them is a gid
 * map written by newgidmap (setuid, from shadow's uidmap package), which
 * leaves setgroups allowed when a subordinate gid of the caller's is mapped
 * too; the sandbox's init then calls setgroups(0, NULL). docs/native.md. */
#ifndef HUTCH_NATIVE_GROUPS_H
#define HUTCH_NATIVE_GROUPS_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/error.h"

/* True when the caller holds a group besides its effective gid. */
bool groups_held(void);

/* Writes pid's gid map with newgidmap: inside maps onto outside, and one
 * subordinate gid of the caller's onto another inside id, so that setgroups
 * stays allowed. Fails (HUTCH_E_UNSUPPORTED) with what to do when
 * newgidmap or a subordinate gid range is missing. */
int groups_map_dropping(pid_t pid, gid_t inside, gid_t outside, hutch_error *err);

#endif
