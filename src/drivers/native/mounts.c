#include "drivers/native/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "drivers/native/setup.h"

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#define MOUNT_ATTR_NOEXEC 0x00000008
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
/* The new mount API (Linux 5.2; mount_setattr already needs 5.12). */
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#define SYS_move_mount 429
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#define HOW_RESOLVE_NO_SYMLINKS 0x04

struct hutch_open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};

struct hutch_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};

int setup_fail(int fd, int stage, int err, const char *fmt, ...)
{
    struct setup_message m = {.stage = stage, .err = err};
    va_list ap;
    va_start(ap, fmt);
    vfmt_trunc(m.what, sizeof m.what, fmt, ap); /* for a message: cut on purpose */
    va_end(ap);
    (void)!write(fd, &m, sizeof m);
    return -1;
}

/* mount_setattr keeps the flags the kernel locked on mounts from a more
 * privileged namespace (nosuid, nodev...), where a remount would have to
 * repeat them. */
static int set_attributes(const char *path, uint64_t attrs, bool recursive)
{
    struct hutch_mount_attr attr = {.attr_set = attrs};
    return (int)syscall(SYS_mount_setattr, AT_FDCWD, path, recursive ? AT_RECURSIVE : 0, &attr,
                        sizeof attr);
}

/* mount_setattr() on a detached tree (from open_tree), before it is attached. */
static int set_tree_attributes(int tree, uint64_t attrs)
{
    struct hutch_mount_attr attr = {.attr_set = attrs};
    return (int)syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
                        sizeof attr);
}

/* The target of a deny rule, opened without following any symlink: the plan
 * checked the host side, and anything that changed since (a sandbox sharing
 * the workspace) makes setup fail rather than land the mount elsewhere. */
static int open_exact(const char *path)
{
    struct hutch_open_how how = {.flags = O_PATH | O_CLOEXEC,
                                 .resolve = HOW_RESOLVE_NO_SYMLINKS};
    return (int)TEMP_FAILURE_RETRY(syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how));
}

/* Mounts a copy of source (a path, or the target itself when NULL) on the
 * target, with the mount attributes attrs added (0: none); by descriptor,
 * so nothing is looked up twice. */
static int graft(const char *source, const char *target, uint64_t attrs)
{
    int target_fd = open_exact(target);
    if (target_fd < 0)
        return -1;
    int tree = source ? (int)syscall(SYS_open_tree, AT_FDCWD, source,
                                     OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)
                      : (int)syscall(SYS_open_tree, target_fd, "",
                                     OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH |
                                         AT_RECURSIVE);
    int r = tree < 0 ? -1 : 0;
    if (r == 0 && attrs)
        r = set_tree_attributes(tree, attrs);
    if (r == 0)
        r = (int)syscall(SYS_move_mount, tree, "", target_fd, "",
                         MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
    int saved = errno;
    if (tree >= 0)
        close(tree);
    close(target_fd);
    errno = saved;
    return r;
}

/* The mount point itself; the plan already created its parents. */
static int make_mount_point(const char *path, bool dir)
{
    if (dir)
        return mkdir(path, 0755) < 0 && errno != EEXIST ? -1 : 0;
    /* One call makes the file where open and close take two; whatever is
     * there already goes the open() way, which refuses a symlink. */
    if (mknod(path, S_IFREG | 0444, 0) == 0)
        return 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0444);
    if (fd < 0)
        return errno == EEXIST || errno == EISDIR ? 0 : -1;
    close(fd);
    return 0;
}

static const char *inside(const struct mount_op *op)
{
    const char *p = op->dst + strlen(STAGE_NEW_ROOT);
    return *p ? p : "/";
}

/* Where setup builds the sandbox's root, and where it finds the host's.
 *
 * Staged, the general case: a tmpfs over the host's /tmp becomes / (the
 * first pivot_root), with the host's tree below it at STAGE_OLD_ROOT, so
 * that host paths under /tmp stay reachable as bind sources; the root is
 * built at STAGE_NEW_ROOT, then made / (the second). The staging root,
 * read-only, nosuid, nodev and noexec, holds the empty file and directory
 * the masks are cloned from.
 *
 * Direct (plan->direct: no bind source is / or below /tmp, no inode limit
 * on the root): the root's tmpfs itself goes over the host's /tmp and is
 * built there from the host's own paths; its empty entries for the masks
 * are removed before anything runs. One pivot_root instead of two: each
 * walks every thread of the system (chroot_fs_refs), 0.05 ms on a quiet
 * machine and several times that on a busy one. Paths are looked up the
 * same way in both: absolute symlinks resolve against the host's tree. */
#define DIRECT_ROOT "/tmp"
#define DIRECT_EMPTY_DIR DIRECT_ROOT "/.hutch-empty-dir"
#define DIRECT_EMPTY_FILE DIRECT_ROOT "/.hutch-empty-file"

struct setup_paths {
    const char *dst, *src;          /* of the operation at hand */
    const char *empty_dir, *empty_file; /* where masks are cloned from */
    char buf[PATH_MAX];
};

static int paths_of(const struct plan *plan, const struct mount_op *op, struct setup_paths *sp)
{
    if (!plan->direct) {
        sp->dst = op->dst;
        sp->src = op->src;
        return 0;
    }
    if (!str_join_fits(sp->buf, sizeof sp->buf, DIRECT_ROOT, op->dst + strlen(STAGE_NEW_ROOT),
                       NULL)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    sp->dst = sp->buf;
    sp->src = op->src && op->kind != OP_SYMLINK ? op->src + strlen(STAGE_OLD_ROOT) : op->src;
    return 0;
}

static int apply_op(const struct mount_op *op, const struct setup_paths *sp, int status_fd)
{
    const uint64_t safe = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    const char *dst = sp->dst, *src = sp->src;
    switch (op->kind) {
    case OP_BIND:
        if (make_mount_point(dst, op->dir) < 0)
            return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "create mount point %s",
                              inside(op));
        if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
            return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "bind %s at %s",
                              op->src + strlen(STAGE_OLD_ROOT), inside(op));
        if (set_attributes(dst, safe | (op->writable ? 0 : MOUNT_ATTR_RDONLY), true) < 0)
            return setup_fail(status_fd, STAGE_INIT_FAILED, errno,
                              "make %s %s (mount_setattr needs Linux 5.12)", inside(op),
                              op->writable ? "nosuid" : "read-only");
        return 0;
    case OP_DEVICE:
        /* The bind keeps the host /dev mount's own flags (nosuid, noexec). */
        if (make_mount_point(dst, false) < 0 || mount(src, dst, NULL, MS_BIND, NULL) < 0)
            return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "device %s", inside(op));
        return 0;
    case OP_MKDIR:
        if (mkdir(dst, 0755) < 0 && errno != EEXIST)
            return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "create directory %s",
                              inside(op));
        return 0;
    case OP_TMPFS:
        if (make_mount_point(dst, true) < 0 ||
            mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV, op->data) < 0)
            return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "tmpfs at %s (%s)",
                              inside(op), op->data ? op->data : "");
        return 0;
    case OP_PROC:
        if (make_mount_point(dst, true) < 0 ||
            mount("proc", dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "procfs at %s", inside(op));
        return 0;
    case OP_DEVPTS:
        if (make_mount_point(dst, true) < 0 ||
            mount("devpts", dst, "devpts", MS_NOSUID | MS_NOEXEC,
                  "newinstance,ptmxmode=0666,mode=0620") < 0)
            return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "devpts at %s", inside(op));
        return 0;
    case OP_SYMLINK:
        if (symlink(src, dst) < 0 && errno != EEXIST)
            return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "symlink %s", inside(op));
        return 0;
    case OP_MASK:
        /* An empty file or directory, read-only, nosuid, nodev, noexec. */
        if (graft(op->dir ? sp->empty_dir : sp->empty_file, dst,
                  MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                      MOUNT_ATTR_NOEXEC) < 0)
            return setup_fail(status_fd, STAGE_INIT_FAILED, errno,
                              "hide %s (it changed during setup, or the kernel lacks open_tree: "
                              "Linux 5.12 or newer is needed)",
                              inside(op));
        return 0;
    case OP_READ_ONLY:
        if (graft(NULL, dst, MOUNT_ATTR_RDONLY | safe) < 0)
            return setup_fail(status_fd, STAGE_INIT_FAILED, errno,
                              "make %s read-only (it changed during setup?)", inside(op));
        return 0;
    case OP_PIN:
        if (graft(NULL, dst, 0) < 0)
            return setup_fail(status_fd, STAGE_INIT_FAILED, errno,
                              "pin %s in place (it changed during setup?)", inside(op));
        return 0;
    }
    return setup_fail(status_fd, STAGE_INIT_FAILED, EINVAL, "unknown setup operation");
}

int mounts_seal_read_only(const char *path)
{
    return set_attributes(path, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, true);
}

static int apply_ops(const struct plan *plan, struct setup_paths *sp, int status_fd)
{
    for (size_t i = 0; i < plan->len; i++) {
        if (paths_of(plan, &plan->ops[i], sp) < 0)
            return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "%s", inside(&plan->ops[i]));
        if (apply_op(&plan->ops[i], sp, status_fd) < 0)
            return -1;
    }
    return 0;
}

/* The empty entries masks are cloned from, in the current directory. */
static int make_empties(const char *dir, const char *file)
{
    if (mkdir(dir, 0) < 0)
        return -1;
    int fd = open(file, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int apply_staged(const struct plan *plan, int status_fd)
{
    /* The staging root: a tmpfs that becomes / with the host's tree below it
     * at /oldroot, so host paths under /tmp stay reachable as sources. */
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0 ||
        chdir("/tmp") < 0)
        return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "mount the staging tmpfs");
    if (mkdir("newroot", 0755) < 0 || mkdir("oldroot", 0700) < 0 ||
        make_empties("empty-dir", "empty-file") < 0)
        return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "prepare the staging tmpfs");
    if (syscall(SYS_pivot_root, ".", "oldroot") < 0 || chdir("/") < 0)
        return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "pivot_root into staging");
    if (set_attributes("/", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                MOUNT_ATTR_NOEXEC,
                       false) < 0)
        return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "make the staging root read-only");
    if (mount("tmpfs", STAGE_NEW_ROOT, "tmpfs", MS_NOSUID | MS_NODEV, plan->root_options) < 0)
        return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "mount the sandbox's root tmpfs");

    struct setup_paths sp = {.empty_dir = "/empty-dir", .empty_file = "/empty-file"};
    if (apply_ops(plan, &sp, status_fd) < 0)
        return -1;

    if (plan->read_only_root && set_attributes(STAGE_NEW_ROOT, MOUNT_ATTR_RDONLY, false) < 0)
        return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "make the root read-only");
    if (chdir(STAGE_NEW_ROOT) < 0)
        return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "pivot_root into the sandbox");
    return 0;
}

static int apply_direct(const struct plan *plan, int status_fd)
{
    if (mount("tmpfs", DIRECT_ROOT, "tmpfs", MS_NOSUID | MS_NODEV, plan->root_options) < 0 ||
        chdir(DIRECT_ROOT) < 0)
        return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "mount the sandbox's root tmpfs");
    if (make_empties(DIRECT_EMPTY_DIR, DIRECT_EMPTY_FILE) < 0)
        return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "prepare the sandbox's root");

    struct setup_paths sp = {.empty_dir = DIRECT_EMPTY_DIR, .empty_file = DIRECT_EMPTY_FILE};
    if (apply_ops(plan, &sp, status_fd) < 0)
        return -1;

    /* The masks keep their clones; nothing inside ever sees these. */
    if (rmdir(DIRECT_EMPTY_DIR) < 0 || unlink(DIRECT_EMPTY_FILE) < 0)
        return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "tidy the sandbox's root");
    if (plan->read_only_root && set_attributes(DIRECT_ROOT, MOUNT_ATTR_RDONLY, false) < 0)
        return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "make the root read-only");
    return 0;
}

int mounts_apply(const struct plan *plan, int status_fd)
{
    /* Nothing we mount may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "make the mount tree private");
    /* Either way ends in the new root's directory. */
    if ((plan->direct ? apply_direct : apply_staged)(plan, status_fd) < 0)
        return -1;
    /* pivot_root(".", ".") stacks the old root on top of the new one; the
     * lazy unmount then detaches the host's whole tree (and the staging
     * root with it). */
    if (syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
        return setup_fail(status_fd, STAGE_INIT_FAILED, errno, "pivot_root into the sandbox");
    return 0;
}
