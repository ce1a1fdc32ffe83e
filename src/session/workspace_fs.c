#include "session/workspace_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <poll.h>
#include <spawn.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "drivers/disk_limits.h"
#include "base/launch.h"
#include "base/notice.h"

/* From <linux/fs.h>, which clashes with <sys/mount.h>. */
#ifndef FS_IOC_GETFLAGS
#define FS_IOC_GETFLAGS _IOR('f', 1, long)
#define FS_IOC_SETFLAGS _IOW('f', 2, long)
#endif
#ifndef FS_IMMUTABLE_FL
#define FS_IMMUTABLE_FL 0x00000010
#endif
#ifndef LOOP_CONFIGURE
#define LOOP_CONFIGURE 0x4C0A
#endif
#ifndef LOOP_MAJOR
#define LOOP_MAJOR 7
#endif

#define IMAGE_SUFFIX ".img"
/* The label says how many files the image was made for ("hutch:200"):
 * ext4 rounds the inode count up, so the count cannot tell. */
#define LABEL_PREFIX "hutch:"
/* ext4 reserves the first 10 inodes (the root directory is one of them),
 * and mkfs makes lost+found. */
#define EXT4_OWN_INODES 11
/* The runtime directory holds the agent's and the proxy's sockets. Open to
 * every user (sticky): the backend hands it to the sandbox's user when it
 * makes the sandbox, but a fresh one (a restart after a reboot) must let
 * the agent in too. The state directory around it keeps the host's other
 * users out. */
#define RUNTIME_OPTIONS "mode=1777,size=64k,nr_inodes=32"
#define MKFS_OUTPUT_MAX 600

static const char *const mkfs_paths[] = {"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4",
                                         "/usr/local/sbin/mkfs.ext4"};

bool workspace_fs_bounded(const struct session *s)
{
    return s->record && s->record->workspace_image != NULL;
}

/* false (out "", which names nothing) when it does not fit: never cut. */
static bool image_path(const char *workspace, char *out, size_t len)
{
    return fmt_fits(out, len, "%s" IMAGE_SUFFIX, workspace);
}

/* ---- loop devices ------------------------------------------------------------ */

/* An open loop device backed by the image (device and inode of img), or -1.
 * Holding it open keeps the device bound to the image (autoclear happens
 * at the last close). */
static int loop_open_backing(const struct stat *img, char *dev, size_t dev_len)
{
    DIR *d = opendir("/sys/block");
    if (!d)
        return -1;
    int found = -1;
    struct dirent *e;
    while (found < 0 && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "loop", 4) != 0)
            continue;
        char path[PATH_MAX];
        fmt_bounded(path, "/sys/block/%s/loop/backing_file", e->d_name);
        if (access(path, F_OK) < 0)
            continue; /* not bound */
        fmt_bounded(path, "/dev/%s", e->d_name);
        int fd = TEMP_FAILURE_RETRY(open(path, O_RDWR | O_CLOEXEC));
        struct loop_info64 info;
        if (fd >= 0 && ioctl(fd, LOOP_GET_STATUS64, &info) == 0 &&
            info.lo_inode == (uint64_t)img->st_ino &&
            info.lo_device == (uint64_t)img->st_dev && fmt_fits(dev, dev_len, "%s", path)) {
            found = fd;
        } else if (fd >= 0) {
            close(fd);
        }
    }
    closedir(d);
    return found;
}

/* A new loop device for the image, open, that goes away when the last user
 * of it (our descriptor, then the mount) is gone. */
static int loop_attach(const char *img, char *dev, size_t dev_len, hutch_error *err)
{
    autoclose int control = TEMP_FAILURE_RETRY(open("/dev/loop-control", O_RDWR | O_CLOEXEC));
    if (control < 0)
        return error_sys(err, errno,
                         "cannot open /dev/loop-control to mount the workspace's filesystem "
                         "(is the loop module loaded?)");
    autoclose int backing = TEMP_FAILURE_RETRY(open(img, O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    if (backing < 0)
        return error_sys(err, errno, "cannot open the workspace's filesystem %s", img);
    for (int tries = 0; tries < 32; tries++) {
        int n = ioctl(control, LOOP_CTL_GET_FREE);
        if (n < 0)
            return error_sys(err, errno, "no free loop device for the workspace's filesystem");
        if (fmt_checked(err, dev, dev_len, "/dev/loop%d", n) < 0)
            return -1;
        int fd = TEMP_FAILURE_RETRY(open(dev, O_RDWR | O_CLOEXEC));
        if (fd < 0)
            return error_sys(err, errno, "cannot open %s", dev);
        struct loop_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.fd = (unsigned)backing;
        cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
        fmt_trunc((char *)cfg.info.lo_file_name, LO_NAME_SIZE, "%s", img); /* shown: cut */
        if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0)
            return fd;
        int e = errno;
        if (e == EINVAL || e == ENOTTY) {
            /* Before Linux 5.8: the two-step way. */
            struct loop_info64 info;
            memset(&info, 0, sizeof info);
            info.lo_flags = LO_FLAGS_AUTOCLEAR;
            if (ioctl(fd, LOOP_SET_FD, backing) == 0) {
                if (ioctl(fd, LOOP_SET_STATUS64, &info) == 0)
                    return fd;
                e = errno;
                (void)ioctl(fd, LOOP_CLR_FD, 0);
            } else {
                e = errno;
            }
        }
        close(fd);
        if (e != EBUSY) /* another process took it: take the next */
            return error_sys(err, e, "cannot attach %s to %s", img, dev);
    }
    return error_set(err, HUTCH_E_SYSTEM, "no free loop device for the workspace's filesystem");
}

/* The workspace shows our image now: mounted there, from a loop device
 * backed by the image. */
static bool mounted_here(const char *workspace, const struct stat *img)
{
    struct stat ws;
    if (stat(workspace, &ws) < 0 || major(ws.st_dev) != LOOP_MAJOR)
        return false;
    char path[64];
    fmt_bounded(path, "/dev/block/%u:%u", major(ws.st_dev), minor(ws.st_dev));
    autoclose int fd = TEMP_FAILURE_RETRY(open(path, O_RDONLY | O_CLOEXEC));
    if (fd < 0) {
        fmt_bounded(path, "/dev/loop%u", minor(ws.st_dev));
        fd = TEMP_FAILURE_RETRY(open(path, O_RDONLY | O_CLOEXEC));
    }
    struct loop_info64 info;
    return fd >= 0 && ioctl(fd, LOOP_GET_STATUS64, &info) == 0 &&
           info.lo_inode == (uint64_t)img->st_ino && info.lo_device == (uint64_t)img->st_dev;
}

/* A mount point: on another device than its parent. */
static bool is_mount_point(const char *path)
{
    char parent[PATH_MAX + 4];
    struct stat a, b;
    return fmt_fits(parent, sizeof parent, "%s/..", path) && stat(path, &a) == 0 &&
           stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

/* ---- the directory below the mount -------------------------------------------- */

static bool dir_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT;
    bool empty = true;
    struct dirent *e;
    while (empty && (e = readdir(d)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

/* Immutable: nobody, root included, can create anything in it. Where the
 * filesystem has no such flag, it becomes root's with mode 0. */
static int seal(const char *path, bool sealed, hutch_error *err)
{
    autoclose int fd =
        TEMP_FAILURE_RETRY(open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd < 0)
        return error_sys(err, errno, "cannot open the workspace %s", path);
    int flags = 0;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
        int want = sealed ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
        if (want == flags || ioctl(fd, FS_IOC_SETFLAGS, &want) == 0)
            return 0;
    }
    if (!sealed)
        return 0;
    if (fchown(fd, 0, 0) < 0 || fchmod(fd, 0) < 0)
        return error_sys(err, errno, "cannot close the workspace %s below its filesystem", path);
    return 0;
}

/* ---- the image ------------------------------------------------------------------ */

/* What the image was made for: the file count in its label (-1 when the
 * label is not ours), and how many inodes it has. */
static int image_files(const char *img, int64_t *files, uint32_t *inodes)
{
    *files = -1;
    autoclose int fd = TEMP_FAILURE_RETRY(open(img, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    unsigned char sb[1024];
    if (fd < 0 || TEMP_FAILURE_RETRY(pread(fd, sb, sizeof sb, 1024)) != (ssize_t)sizeof sb)
        return -1;
    if (sb[0x38] != 0x53 || sb[0x39] != 0xef) /* EXT4_SUPER_MAGIC, little-endian */
        return -1;
    *inodes = (uint32_t)sb[0] | (uint32_t)sb[1] << 8 | (uint32_t)sb[2] << 16 |
              (uint32_t)sb[3] << 24;
    char label[17];
    memcpy(label, sb + 0x78, 16);
    label[16] = '\0';
    if (strncmp(label, LABEL_PREFIX, strlen(LABEL_PREFIX)) == 0) {
        char *end;
        unsigned long long n = strtoull(label + strlen(LABEL_PREFIX), &end, 10);
        if (*end == '\0')
            *files = (int64_t)n;
    }
    return 0;
}

/* Runs mkfs.ext4 on path; its output, cut, goes into the error. */
static int run_mkfs(char *const argv[], hutch_error *err)
{
    const char *mkfs = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(mkfs_paths) && !mkfs; i++)
        if (access(mkfs_paths[i], X_OK) == 0)
            mkfs = mkfs_paths[i];
    if (!mkfs)
        return error_set(err, HUTCH_E_INVALID,
                         "mkfs.ext4 is not installed, and a session's workspace under "
                         "limits.disk (--disk) is an ext4 filesystem: install e2fsprogs, or drop "
                         "the limit");
    char text[MKFS_OUTPUT_MAX + 1];
    int status;
    if (run_tool(mkfs, argv, text, sizeof text, &status, err) < 0)
        return -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return error_set(err, HUTCH_E_SYSTEM, "%s failed (status %d): %s", mkfs,
                         WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), text);
    return 0;
}

/* A new image of limits.disk bytes for limits.files files, in place at img. */
static int make_image(const char *img, const struct hutch_policy *p, hutch_error *err)
{
    char tmp[PATH_MAX + 8];
    if (fmt_checked(err, tmp, sizeof tmp, "%s.new", img) < 0)
        return -1;
    (void)unlink(tmp); /* a half-made one from a creation that died */
    autoclose int fd = TEMP_FAILURE_RETRY(
        open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (fd < 0)
        return error_sys(err, errno, "cannot create the workspace's filesystem %s", tmp);
    /* Sparse: the host's disk is used as the sandbox writes, never beyond
     * the image's size. */
    if (ftruncate(fd, (off_t)p->limits.disk) < 0) {
        int e = errno;
        (void)unlink(tmp);
        return error_sys(err, e, "cannot size the workspace's filesystem %s", tmp);
    }
    char label[32], inodes[32];
    fmt_bounded(label, LABEL_PREFIX "%" PRIu64, p->limits.files);
    const uint64_t want = p->limits.files + EXT4_OWN_INODES;
    /* No blocks reserved for root: the sandbox's user gets the whole size,
     * whoever it is. */
    char *argv[16] = {(char *)"mkfs.ext4", (char *)"-q", (char *)"-F", (char *)"-m",
                      (char *)"0", (char *)"-L", label, (char *)"-E",
                      (char *)"nodiscard,lazy_itable_init=1,lazy_journal_init=1", (char *)"-O",
                      (char *)"^resize_inode"};
    size_t n = 11;
    if (p->limits.files) {
        argv[n++] = (char *)"-N";
        argv[n++] = inodes;
    }
    argv[n++] = tmp;
    argv[n] = NULL;
    /* mkfs fills whole inode table blocks, then rounds the count per group
     * down to a multiple of 8: ask again for more until there are enough. */
    for (uint64_t ask = want, tries = 0;; tries++) {
        fmt_bounded(inodes, "%" PRIu64, ask);
        int64_t label_files;
        uint32_t got = 0;
        if (run_mkfs(argv, err) < 0) {
            (void)unlink(tmp);
            return -1;
        }
        if (image_files(tmp, &label_files, &got) < 0) {
            (void)unlink(tmp);
            return error_set(err, HUTCH_E_SYSTEM, "mkfs.ext4 made no ext4 filesystem in %s",
                             tmp);
        }
        if (!p->limits.files || got >= want)
            break;
        if (tries == 4) {
            (void)unlink(tmp);
            return error_set(err, HUTCH_E_SYSTEM,
                             "mkfs.ext4 made %u inodes in %s, fewer than the %" PRIu64
                             " asked for: lower limits.files or raise limits.disk",
                             got, tmp, want);
        }
        ask += want - got + 8;
    }
    if (rename(tmp, img) < 0) {
        int e = errno;
        (void)unlink(tmp);
        return error_sys(err, e, "cannot put the workspace's filesystem at %s", img);
    }
    return 0;
}

/* Mounts the image at the workspace, unless it is there already. */
static int mount_image(const char *img, const char *workspace, bool fresh, hutch_error *err)
{
    struct stat st;
    if (lstat(img, &st) < 0 || !S_ISREG(st.st_mode))
        return error_sys(err, errno ? errno : EINVAL, "the workspace's filesystem %s", img);
    if (mounted_here(workspace, &st))
        return 0;
    if (is_mount_point(workspace))
        return error_set(err, HUTCH_E_INVALID,
                         "the workspace %s is a mount point of something else than its "
                         "filesystem %s: unmount it",
                         workspace, img);
    if (!dir_empty(workspace))
        return error_set(err, HUTCH_E_INVALID,
                         "the workspace %s holds files outside its filesystem %s: move them "
                         "away, then retry",
                         workspace, img);
    if (seal(workspace, true, err) < 0)
        return -1;
    /* The same filesystem when a loop device still serves it (a mount that
     * was detached while in use): two would corrupt it. */
    char dev[64];
    int fd = loop_open_backing(&st, dev, sizeof dev);
    if (fd < 0 && (fd = loop_attach(img, dev, sizeof dev, err)) < 0)
        return -1;
    /* The image is sparse: its inode tables read as zeros already, and
     * zeroing them (the kernel's default) would only fill the host's disk. */
    int r = mount(dev, workspace, "ext4", MS_NOSUID | MS_NODEV, "noinit_itable");
    int e = errno;
    close(fd);
    if (r < 0)
        return error_sys(err, e, "cannot mount the workspace's filesystem %s at %s", img,
                         workspace);
    /* Like a workspace directory hutch makes; the backends hand it over. */
    if (fresh && chmod(workspace, 0700) < 0)
        return error_sys(err, errno, "cannot set the mode of %s", workspace);
    return 0;
}

static bool tmpfs_mounted(const char *path)
{
    struct statfs sf;
    return is_mount_point(path) && statfs(path, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
}

static int mount_runtime(const struct session *s, hutch_error *err)
{
    if (mkdir(s->runtime_dir, 0700) < 0 && errno != EEXIST)
        return error_sys(err, errno, "cannot create %s", s->runtime_dir);
    if (tmpfs_mounted(s->runtime_dir))
        return 0;
    if (mount("tmpfs", s->runtime_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              RUNTIME_OPTIONS) < 0)
        return error_sys(err, errno, "cannot mount a tmpfs at %s", s->runtime_dir);
    return 0;
}

/* ---- the lifecycle ------------------------------------------------------------- */

static bool sandboxed(const struct session *s)
{
    return s->record->kind != SESSION_KIND_HOST && !s->record->adopted;
}

int workspace_fs_up(struct session *s, const struct hutch_policy *p, hutch_error *err)
{
    (void)record_set(&s->record->workspace_image, NULL);
    const char *workspace = s->record->workspace;
    if (!workspace || !s->record->workspace_owned)
        return 0; /* --workspace DIR: the backend's business (a project quota) */
    char img[PATH_MAX + 8];
    if (!image_path(workspace, img, sizeof img))
        return error_set(err, HUTCH_E_INVALID, "the workspace's path %.200s... is too long",
                         workspace);
    struct stat st;
    bool have = lstat(img, &st) == 0;
    /* A session on the host (mode off) is unsandboxed on purpose, limits
     * and all; an image it already has still holds its files. */
    bool limited = sandboxed(s) && disk_limited(p);
    if (!have && !limited)
        return 0;
    const char *limit = disk_limit_names(p);
    const char *engine = p->docker.host ? p->docker.host : getenv("DOCKER_HOST");
    if (limited && s->record->kind == SESSION_KIND_DOCKER && engine &&
        strncmp(engine, "tcp://", 6) == 0)
        return error_set(err, HUTCH_E_INVALID,
                         "%s for session %s needs a local engine: its workspace is a filesystem "
                         "mounted on this host, which the engine at %s may not be on; use a "
                         "unix socket, or drop the limit",
                         limit, s->key, engine);
    if (geteuid() != 0)
        return have ? error_set(err, HUTCH_E_INVALID,
                                "the workspace of session %s is the filesystem %s, which only "
                                "root can mount: run hutch as root",
                                s->key, img)
                    : error_set(err, HUTCH_E_INVALID,
                                "%s for session %s needs root: its workspace becomes a "
                                "filesystem of that size, mounted on the host; run hutch as "
                                "root, or drop the limit (one-shot runs without --workspace "
                                "are limited unprivileged too)",
                                limit, s->key);
    if (limited && !p->limits.disk)
        return error_set(err, HUTCH_E_INVALID,
                         "limits.files (--files) for session %s needs limits.disk (--disk) too: "
                         "its workspace becomes a filesystem of that size",
                         s->key);
    if (limited && p->limits.files > UINT32_MAX - EXT4_OWN_INODES)
        return error_set(err, HUTCH_E_INVALID,
                         "limits.files (--files) %" PRIu64 " is more than a workspace can hold "
                         "(%u): lower it",
                         p->limits.files, (unsigned)(UINT32_MAX - EXT4_OWN_INODES));
    bool fresh = false;
    if (!have) {
        if (!dir_empty(workspace))
            return error_set(err, HUTCH_E_INVALID,
                             "%s for session %s needs a new workspace, and %s already holds "
                             "files: remove it with 'hutch session rm %s --workspaces', or "
                             "drop the limit",
                             limit, s->key, workspace, s->key);
        if (make_image(img, p, err) < 0)
            return -1;
        fresh = true;
    } else if (limited) {
        int64_t files;
        uint32_t inodes;
        if (!S_ISREG(st.st_mode) || image_files(img, &files, &inodes) < 0 || files < 0)
            return error_set(err, HUTCH_E_INVALID,
                             "%s is not a workspace filesystem hutch made: move it away", img);
        if ((uint64_t)st.st_size != p->limits.disk || (uint64_t)files != p->limits.files)
            return error_set(err, HUTCH_E_INVALID,
                             "the workspace of session %s is a filesystem made for "
                             "limits.disk %jd bytes and limits.files %jd, not %" PRIu64
                             " and %" PRIu64 ": keep those limits, or start over with 'hutch "
                             "session rm %s --workspaces'",
                             s->key, (intmax_t)st.st_size, (intmax_t)files, p->limits.disk,
                             p->limits.files, s->key);
    }
    if (mount_image(img, workspace, fresh, err) < 0 || (limited && mount_runtime(s, err) < 0)) {
        workspace_fs_down(s);
        return -1;
    }
    if (!limited && s->created_now)
        notice("the workspace of session %s stays the filesystem %s, of %jd bytes; "
               "remove it with 'hutch session rm %s --workspaces' to drop that limit",
                s->key, img, (intmax_t)st.st_size, s->key);
    if (record_set(&s->record->workspace_image, img) < 0) {
        workspace_fs_down(s);
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    }
    return 0;
}

void workspace_fs_down(struct session *s)
{
    const char *workspace = s->record ? s->record->workspace : NULL;
    if (geteuid() != 0)
        return; /* nothing was mounted */
    if (workspace && s->record->workspace_owned) {
        char img[PATH_MAX + 8];
        image_path(workspace, img, sizeof img);
        struct stat st;
        /* Only our own mount: whatever else is there stays. A mount still
         * in use on the host (a shell in it) is detached, and comes back
         * the same when the session starts again (loop_open_backing). */
        if (lstat(img, &st) == 0 && mounted_here(workspace, &st))
            (void)umount2(workspace, MNT_DETACH);
    }
    if (tmpfs_mounted(s->runtime_dir))
        (void)umount2(s->runtime_dir, MNT_DETACH);
}

int workspace_fs_delete(struct session *s, hutch_error *err)
{
    const char *workspace = s->record ? s->record->workspace : NULL;
    if (!workspace || !s->record->workspace_owned)
        return 0;
    char img[PATH_MAX + 8];
    image_path(workspace, img, sizeof img);
    if (access(img, F_OK) < 0)
        return 0;
    if (geteuid() != 0)
        return error_set(err, HUTCH_E_INVALID,
                         "the workspace of session %s is the filesystem %s, which only root can "
                         "remove: run hutch as root",
                         s->key, img);
    if (is_mount_point(workspace))
        return error_set(err, HUTCH_E_SYSTEM,
                         "the workspace %s is still mounted: unmount it, then retry", workspace);
    if (access(workspace, F_OK) == 0 && seal(workspace, false, err) < 0)
        return -1;
    if (unlink(img) < 0 && errno != ENOENT)
        return error_sys(err, errno, "cannot remove the workspace's filesystem %s", img);
    return 0;
}
