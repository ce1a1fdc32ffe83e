/* A session's workspace under limits.disk and limits.files: a file system
 * of its own. hutch makes an ext4 image of limits.disk bytes, with
 * limits.files inodes, beside the workspace (<workspace>.img), once, when
 * the session is created, and root loop-mounts it on the host at the
 * workspace's path, so that the host still sees a directory and a sandbox
 * can write no more than the image holds. The directory below the mount is
 * made immutable: when the image is not mounted (stopped, rebooted), nothing
 * can be written there by mistake. The session's runtime directory (/.hutch
 * inside, where the agent makes its socket) gets a small tmpfs for the same
 * reason. Mounted again when the session starts after a reboot, unmounted
 * when it stops or is removed, deleted with the workspace.
 *
 * Only for workspaces hutch made (under workspaceRoot) and only as root:
 * anything else is refused with the setting and the way out. */
#ifndef HUTCH_SESSION_WORKSPACE_FS_H
#define HUTCH_SESSION_WORKSPACE_FS_H

#include <stdbool.h>

#include "base/error.h"
#include "policy/policy.h"
#include "session/session.h"

/* Before the sandbox is made or started: when the policy limits the disk,
 * or the workspace already is an image, makes it (the first time) and
 * mounts it, and the runtime directory's tmpfs. Records the image in the
 * record ("workspace_image"). Does nothing for host and adopted sessions. */
int workspace_fs_up(struct session *s, const struct hutch_policy *p, hutch_error *err);

/* The workspace is a size-limited filesystem of its own (recorded by
 * workspace_fs_up). */
bool workspace_fs_bounded(const struct session *s);

/* After the sandbox is gone: unmounts what workspace_fs_up mounted. Never
 * fails: a mount still in use on the host is detached. */
void workspace_fs_down(struct session *s);

/* With the workspace: deletes the image and lets go of the directory
 * below it, which the caller then removes. After workspace_fs_down. */
int workspace_fs_delete(struct session *s, hutch_error *err);

#endif
