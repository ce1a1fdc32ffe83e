#include "drivers/docker/docker_disk.h"

#include <inttypes.h>

#include "drivers/disk_limits.h"

/* Docker's own /dev/shm has a size (ShmSize) but no inode limit: under the
 * limits it is a tmpfs of ours, with Docker's options. */
#define SHM_OPTIONS "rw,nosuid,nodev,noexec,mode=1777"

int docker_disk_check(const struct hutch_policy *p, bool read_only_root, bool workspace_bounded,
                      hutch_error *err)
{
    if (!disk_limited(p))
        return 0;
    const char *limit = disk_limit_names(p);
    if (p->workspace && !workspace_bounded)
        return error_set(err, HUTCH_E_UNSUPPORTED,
                         "%s cannot bound the workspace %s (--workspace) in a docker container: "
                         "a host directory would need a project quota, which the container's "
                         "user can take its own files out of; use a session's own workspace "
                         "(hutch makes it a filesystem of that size, as root), or drop "
                         "--workspace or the limit",
                         limit, p->workspace);
    if (p->filesystem.allow_write.len > 0)
        return error_set(err, HUTCH_E_UNSUPPORTED,
                         "%s cannot bound the writable mount %s (--rw) in a docker container: a "
                         "host directory would need a project quota, which the container's user "
                         "can take its own files out of; mount it read-only (--ro), or drop the "
                         "limit",
                         limit, p->filesystem.allow_write.items[0]);
    if (!read_only_root && p->limits.files)
        return error_set(err, HUTCH_E_UNSUPPORTED,
                         "limits.files (--files) cannot bound a writable container root "
                         "(docker.readOnlyRoot false): the engine limits a container's size, "
                         "not its files; keep the root read-only (its tmpfs areas are bounded), "
                         "or drop the limit");
    return 0;
}

int docker_disk_apply(const struct hutch_policy *p, json_t *host_config, bool read_only_root,
                      bool podman, hutch_error *err)
{
    if (!disk_limited(p))
        return 0;
    if (podman && p->limits.files)
        return error_set(err, HUTCH_E_INVALID,
                         "limits.files (--files) cannot be enforced by Podman, whose tmpfs "
                         "mounts take no inode limit (nr_inodes): drop the limit (limits.disk "
                         "works), or use Docker");
    json_t *tmpfs = json_object_get(host_config, "Tmpfs");
    if (!json_is_object(tmpfs))
        return error_set(err, HUTCH_E_SYSTEM, "the container's tmpfs list is missing");
    if (!json_object_get(tmpfs, "/dev/shm") &&
        json_object_set_new(tmpfs, "/dev/shm", json_string(SHM_OPTIONS)) < 0)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    const char *path;
    json_t *value;
    char options[1024];
    json_object_foreach(tmpfs, path, value)
    {
        /* An empty tmpfs: its root directory is its one inode. */
        if (disk_tmpfs_options(p, json_string_value(value), 1, options, sizeof options, err) < 0)
            return -1;
        if (json_object_set_new(tmpfs, path, json_string(options)) < 0)
            return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    }
    if (!read_only_root && p->limits.disk) {
        /* The storage driver enforces it, or the engine refuses to create
         * the container (docker_disk_explain). */
        char size[32];
        fmt_bounded(size, "%" PRIu64, p->limits.disk);
        if (json_object_set_new(host_config, "StorageOpt", json_pack("{s:s}", "size", size)) < 0)
            return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    }
    return 0;
}

void docker_disk_explain(const struct hutch_policy *p, bool read_only_root, hutch_error *err)
{
    if (!err || read_only_root || !p->limits.disk ||
        (!strstr(err->message, "storage-opt") && !strstr(err->message, "storage opt") &&
         !strstr(err->message, "StorageOpt") && !strstr(err->message, "quota")))
        return;
    error_prefix(err,
                 "limits.disk (--disk) with a writable container root (docker.readOnlyRoot "
                 "false) needs a storage driver that limits a container's size, and the engine's "
                 "does not; keep the root read-only (its tmpfs areas are bounded), or drop the "
                 "limit");
    /* A setting to change: no backend to fall back to would enforce it. */
    err->status = HUTCH_E_INVALID;
}
