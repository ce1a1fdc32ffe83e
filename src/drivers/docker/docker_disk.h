/* The docker backend's side of limits.disk and limits.files
 * (disk_limits.h): the container's tmpfs areas — its /tmp, /var/tmp, /run,
 * /workspace when no host directory is mounted there, --tmpfs mounts and
 * /dev/shm — get size= and nr_inodes=; a writable root gets the engine's
 * StorageOpt size, which its storage driver enforces or refuses. Host
 * directories are refused unless hutch made them size-limited filesystems
 * (session workspaces, src/session/workspace_fs.c): a project quota does not
 * hold in a container, whose user shares the host's user namespace and may
 * take its own files out of the project. */
#ifndef HUTCH_DOCKER_DISK_H
#define HUTCH_DOCKER_DISK_H

#include <jansson.h>
#include <stdbool.h>

#include "base/error.h"
#include "policy/policy.h"

/* Refuses what docker cannot bound (HUTCH_E_UNSUPPORTED): a host workspace
 * (unless workspace_bounded: a session workspace on its own filesystem),
 * --rw mounts, limits.files with a writable root. */
int docker_disk_check(const struct hutch_policy *p, bool read_only_root, bool workspace_bounded,
                      hutch_error *err);

/* Puts the limits into a create body's HostConfig. Podman's tmpfs mounts
 * take no inode limit (4.3 refuses nr_inodes): limits.files is refused
 * there (HUTCH_E_INVALID: a setting to change, not a backend to fall back
 * from). */
int docker_disk_apply(const struct hutch_policy *p, json_t *host_config, bool read_only_root,
                      bool podman, hutch_error *err);

/* After a failed create: says which setting the engine's refusal of the
 * size option is about, and what to do. */
void docker_disk_explain(const struct hutch_policy *p, bool read_only_root, hutch_error *err);

#endif
