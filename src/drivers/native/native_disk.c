#include "drivers/native/native_disk.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/dqblk_xfs.h>
#include <linux/fs.h>
#include <linux/quota.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "drivers/disk_limits.h"

#ifndef SYS_quotactl_fd
#define SYS_quotactl_fd 443
#endif

/* Project ids hutch gives the trees it bounds: one per tree, from a hash of
 * the directory, in a range apart from the small ids administrators number
 * their projects with (/etc/projid). */
#define PROJID_BASE 0x40000000u
#define PROJID_SPAN 0x3fffffffu
/* Deeper trees are refused rather than walked with a descriptor per level. */
#define WALK_DEPTH_MAX 512

/* Operations that mount something on a directory: what is made below
 * them lands in that mount. */
static bool mounts_dir(const struct mount_op *op)
{
    return op->dir && (op->kind == OP_BIND || op->kind == OP_TMPFS || op->kind == OP_PROC ||
                       op->kind == OP_DEVPTS);
}

/* Operations that make an entry (an inode) where they land: a directory, a
 * symlink, or a mount point. */
static bool makes_entry(const struct mount_op *op)
{
    return op->kind == OP_MKDIR || op->kind == OP_SYMLINK || op->kind == OP_BIND ||
           op->kind == OP_DEVICE || op->kind == OP_TMPFS || op->kind == OP_PROC ||
           op->kind == OP_DEVPTS;
}

static bool below(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* The mount operation before op whose directory op lands in, or -1: the
 * root tmpfs. */
static ssize_t landing(const struct plan *pl, size_t op)
{
    for (size_t j = op; j-- > 0;)
        if (mounts_dir(&pl->ops[j]) && below(pl->ops[op].dst, pl->ops[j].dst))
            return (ssize_t)j;
    return -1;
}

int native_disk_plan(struct plan *pl, const struct hutch_policy *p, hutch_error *err)
{
    if (!disk_limited(p))
        return 0;
    /* What setup makes in each tmpfs (and in the root) takes inodes the
     * sandbox's own files must not lose: counted in. */
    uint64_t *own = calloc(pl->len + 1, sizeof *own);
    if (!own)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    uint64_t *root_own = &own[pl->len];
    for (size_t i = 0; i < pl->len; i++) {
        own[i] += 1; /* a tmpfs's root directory */
        if (!makes_entry(&pl->ops[i]))
            continue;
        ssize_t j = landing(pl, i);
        if (j < 0)
            (*root_own)++;
        else
            own[j]++;
    }
    char options[512];
    int r = 0;
    for (size_t i = 0; r == 0 && i < pl->len; i++) {
        struct mount_op *op = &pl->ops[i];
        if (op->kind != OP_TMPFS)
            continue;
        char *copy = NULL;
        if (disk_tmpfs_options(p, op->data, own[i], options, sizeof options, err) < 0)
            r = -1;
        else if (!(copy = strdup(options)))
            r = error_set(err, HUTCH_E_SYSTEM, "out of memory");
        if (r == 0) {
            free(op->data);
            op->data = copy;
        }
    }
    /* A read-only root is filled with mount points before anyone writes. */
    if (r == 0 && !pl->read_only_root) {
        if (disk_tmpfs_options(p, pl->root_options, 1 + *root_own, options, sizeof options,
                               err) < 0)
            r = -1;
        else if (strlen(options) >= sizeof pl->root_options)
            r = error_set(err, HUTCH_E_INVALID, "the root's tmpfs options %s are too long",
                          options);
        else
            memcpy(pl->root_options, options, strlen(options) + 1);
    }
    free(own);
    return r;
}

/* ---- project quotas ------------------------------------------------------------ */

static int quota_call(int fd, int cmd, uint32_t id, void *addr)
{
    return (int)syscall(SYS_quotactl_fd, (unsigned)fd, (unsigned)QCMD(cmd, PRJQUOTA), id, addr);
}

static bool enforced(int fd)
{
    struct fs_quota_statv st = {.qs_version = FS_QSTATV_VERSION1};
    return quota_call(fd, Q_XGETQSTATV, 0, &st) == 0 && (st.qs_flags & FS_QUOTA_PDQ_ENFD);
}

static bool ours(uint32_t id)
{
    return id >= PROJID_BASE && id - PROJID_BASE < PROJID_SPAN;
}

static int set_project(int fd, uint32_t id, bool inherit)
{
    struct fsxattr fa;
    if (ioctl(fd, FS_IOC_FSGETXATTR, &fa) < 0)
        return -1;
    fa.fsx_projid = id;
    if (inherit)
        fa.fsx_xflags |= FS_XFLAG_PROJINHERIT;
    return ioctl(fd, FS_IOC_FSSETXATTR, &fa);
}

/* Gives everything below dirfd on its filesystem the project id, deepest
 * first, without following symlinks. Symlinks, devices, FIFOs and sockets
 * hold no data and are left; new ones inherit the id. */
static int walk(int dirfd, dev_t dev, uint32_t id, int depth, char *path, size_t path_len,
                hutch_error *err)
{
    if (depth > WALK_DEPTH_MAX)
        return error_set(err, HUTCH_E_UNSUPPORTED,
                         "%s is more than %d directories deep: hutch does not put such a tree "
                         "under a project quota",
                         path, WALK_DEPTH_MAX);
    int copy = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    DIR *d = copy < 0 ? NULL : fdopendir(copy);
    if (!d) {
        if (copy >= 0)
            close(copy);
        return error_sys(err, errno, "cannot list %s", path);
    }
    int r = 0;
    struct dirent *e;
    size_t base = strlen(path);
    while (r == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        /* path is for messages only: the walk goes by descriptors. */
        fmt_trunc(path + base, path_len - base, "/%s", e->d_name);
        struct stat st;
        if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            r = errno == ENOENT ? 0 : error_sys(err, errno, "cannot look at %s", path);
            continue;
        }
        if (st.st_dev != dev || (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)))
            continue; /* another filesystem mounted here, or nothing to charge */
        int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
                    (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0);
        autoclose int fd = TEMP_FAILURE_RETRY(openat(dirfd, e->d_name, flags));
        struct stat now;
        if (fd < 0 || fstat(fd, &now) < 0) {
            r = errno == ENOENT ? 0 : error_sys(err, errno, "cannot open %s", path);
            continue;
        }
        if (now.st_ino != st.st_ino || now.st_dev != st.st_dev)
            continue; /* replaced meanwhile: whatever is there now was made under the id */
        if (S_ISDIR(now.st_mode))
            r = walk(fd, dev, id, depth + 1, path, path_len, err);
        if (r == 0 && set_project(fd, id, S_ISDIR(now.st_mode)) < 0)
            r = error_sys(err, errno, "cannot give %s the project id %u", path, (unsigned)id);
    }
    path[base] = '\0';
    closedir(d);
    return r;
}

/* A project id no other tree uses: from the directory's identity, then the
 * next ones while an id holds files or limits already. */
static int pick_project(int fd, const struct stat *st, uint32_t *out, hutch_error *err)
{
    uint64_t h = 1469598103934665603ull;
    const uint64_t parts[2] = {(uint64_t)st->st_dev, (uint64_t)st->st_ino};
    const unsigned char *bytes = (const unsigned char *)parts;
    for (size_t i = 0; i < sizeof parts; i++)
        h = (h ^ bytes[i]) * 1099511628211ull;
    for (uint32_t i = 0; i < 64; i++) {
        uint32_t id = PROJID_BASE + (uint32_t)((h + i) % PROJID_SPAN);
        struct if_dqblk q = {0};
        if (quota_call(fd, Q_GETQUOTA, id, &q) < 0 && errno != ESRCH && errno != ENOENT)
            return error_sys(err, errno, "cannot read the project quota %u", (unsigned)id);
        if (!q.dqb_curspace && !q.dqb_curinodes && !q.dqb_bhardlimit && !q.dqb_ihardlimit) {
            *out = id;
            return 0;
        }
    }
    return error_set(err, HUTCH_E_SYSTEM, "no free project id for the quota: too many in use");
}

/* Puts host path (a directory or a regular file the sandbox writes to)
 * under a project quota of the limits. what names the setting. */
static int bound_path(const struct hutch_policy *p, const char *path, const char *what,
                      const char *drop, bool privileged, bool apply, hutch_status refused,
                      hutch_error *err)
{
    const char *limit = disk_limit_names(p);
    if (!privileged)
        return error_set(err, refused,
                         "%s cannot bound %s %s, a host path: that needs a project quota, which "
                         "only root can set; run as root on a filesystem with project quotas, "
                         "or drop %s or the limit",
                         limit, what, path, drop);
    autoclose int fd = TEMP_FAILURE_RETRY(
        open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return error_sys(err, errno, "%s %s", what, path);
    bool dir = S_ISDIR(st.st_mode);
    if (!dir && !S_ISREG(st.st_mode))
        return error_set(err, refused,
                         "%s cannot bound %s %s: it is neither a directory nor a regular file; "
                         "drop %s or the limit",
                         limit, what, path, drop);
    struct fsxattr fa;
    if (!enforced(fd) || ioctl(fd, FS_IOC_FSGETXATTR, &fa) < 0)
        return error_set(err, refused,
                         "%s cannot bound %s %s: its filesystem does not enforce project quotas "
                         "(xfs or ext4 mounted with prjquota would); use a path on one, or drop "
                         "%s or the limit",
                         limit, what, path, drop);
    if (fa.fsx_projid != 0 && !ours(fa.fsx_projid))
        return error_set(err, refused,
                         "%s cannot bound %s %s: it belongs to project %u, whose quota hutch "
                         "does not manage; use another path, or drop the limit",
                         limit, what, path, (unsigned)fa.fsx_projid);
    if (!apply)
        return 0;
    /* One hutch at a time walks a tree; the next sees it done. */
    if (TEMP_FAILURE_RETRY(flock(fd, LOCK_EX)) < 0 || ioctl(fd, FS_IOC_FSGETXATTR, &fa) < 0)
        return error_sys(err, errno, "cannot lock %s", path);
    uint32_t id = fa.fsx_projid;
    bool done = ours(id) && (!dir || (fa.fsx_xflags & FS_XFLAG_PROJINHERIT));
    if (!done) {
        char walked[PATH_MAX + 256];
        fmt_trunc(walked, sizeof walked, "%s", path); /* for walk()'s messages */
        if (pick_project(fd, &st, &id, err) < 0 ||
            (dir && walk(fd, st.st_dev, id, 0, walked, sizeof walked, err) < 0))
            return -1;
        /* The top last: it marks the tree as done. */
        if (set_project(fd, id, dir) < 0)
            return error_sys(err, errno, "cannot give %s the project id %u", path, (unsigned)id);
    }
    /* Blocks of 1 KiB; the top directory takes one of the inodes. */
    struct if_dqblk q = {
        .dqb_bhardlimit = (p->limits.disk + 1023) / 1024,
        .dqb_ihardlimit = p->limits.files ? p->limits.files + 1 : 0,
        .dqb_valid = QIF_LIMITS,
    };
    if (quota_call(fd, Q_SETQUOTA, id, &q) < 0)
        return error_sys(err, errno, "cannot set the project quota %u of %s", (unsigned)id, path);
    return 0;
}

/* Every host path the sandbox writes to, checked or bounded. */
static int bound_all(const struct hutch_policy *p, const char *workspace, bool privileged,
                     bool apply, hutch_status refused, hutch_error *err)
{
    if (!disk_limited(p))
        return 0;
    if (workspace && bound_path(p, workspace, "the workspace", "--workspace", privileged, apply,
                                refused, err) < 0)
        return -1;
    const struct strlist *rw = &p->filesystem.allow_write;
    for (size_t i = 0; i < rw->len; i++) {
        const char *spec = rw->items[i];
        const char *colon = strchr(spec, ':');
        autofree char *src = colon ? strndup(spec, (size_t)(colon - spec)) : strdup(spec);
        char real[PATH_MAX];
        if (!src)
            return error_set(err, HUTCH_E_SYSTEM, "out of memory");
        if (!realpath(src, real))
            return error_sys(err, errno, "filesystem.allowWrite (--rw): cannot mount %s", src);
        if (bound_path(p, real, "the writable mount (--rw)", "the mount", privileged, apply,
                       refused, err) < 0)
            return -1;
    }
    return 0;
}

int native_disk_check(const struct hutch_policy *p, hutch_error *err)
{
    char real[PATH_MAX];
    if (!disk_limited(p) || (p->workspace && !realpath(p->workspace, real)))
        return 0; /* a missing workspace is reported where it is mounted */
    return bound_all(p, p->workspace ? real : NULL, geteuid() == 0, false, HUTCH_E_UNSUPPORTED,
                     err);
}

int native_disk_binds(const struct hutch_policy *p, const char *workspace, bool privileged,
                      hutch_error *err)
{
    /* Sessions come here without native_disk_check: their refusals are
     * settings to change, not a backend to fall back from. */
    return bound_all(p, workspace, privileged, true, HUTCH_E_INVALID, err);
}
