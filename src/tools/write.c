/* write {path, content}: a whole file, replaced atomically; and the
 * replacement itself, which edit uses too. */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "tools/internal.h"

/* A fresh name for a temporary file; false when buf is too small for it. */
static bool temp_name(char *buf, size_t size)
{
    unsigned char r[6];
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        /* Without entropy yet: O_EXCL still makes the name ours. */
        struct timespec ts;
        clock_read(CLOCK_MONOTONIC, &ts);
        uint64_t v = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 20);
        memcpy(r, &v, sizeof r);
    }
    return fmt_fits(buf, size, ".hutch-%02x%02x%02x%02x%02x%02x.tmp", r[0], r[1], r[2], r[3], r[4],
                    r[5]);
}

/* Whether the caller gave up (cancel_fd readable or hung up). */
static bool cancelled(int cancel_fd)
{
    if (cancel_fd <= 0)
        return false;
    struct pollfd p = {.fd = cancel_fd, .events = POLLIN | POLLRDHUP};
    return TEMP_FAILURE_RETRY(poll(&p, 1, 0)) > 0 && p.revents;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Copies src_fd to its end into fd, through a fixed buffer. Waits in
 * poll() rather than in read(), so that the caller giving up (cancel_fd)
 * is noticed while the sender is silent. */
static int copy_stream(int src_fd, int fd, int cancel_fd, uint64_t *written)
{
    char buf[TOOL_CHUNK];
    for (;;) {
        struct pollfd p[2] = {{.fd = src_fd, .events = POLLIN},
                              {.fd = cancel_fd > 0 ? cancel_fd : -1,
                               .events = POLLIN | POLLRDHUP}};
        if (TEMP_FAILURE_RETRY(poll(p, 2, -1)) < 0)
            return -1;
        if (p[1].revents) {
            errno = ECANCELED;
            return -1;
        }
        ssize_t n = TEMP_FAILURE_RETRY(read(src_fd, buf, sizeof buf));
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        if (write_all(fd, buf, (size_t)n) < 0)
            return -1;
        *written += (uint64_t)n;
    }
}

/* The old file (exists) or its absence is untouched by every failure: the
 * new content only ever went to a temporary file, removed again. */
static void write_error(int errnum, const char *doing, const char *shown, bool exists,
                        hutch_error *err)
{
    if (errnum == ENOSPC || errnum == EDQUOT)
        error_set(err, HUTCH_E_SYSTEM,
                  "cannot %s %s: no space left on the device (%s): %s was not %s; free some "
                  "space (remove files you do not need) and retry", doing, shown,
                  errnum == EDQUOT ? "disk quota exceeded" : "the disk or its limit is full", shown,
                  exists ? "changed" : "created");
    else if (errnum == EFBIG)
        error_set(err, HUTCH_E_SYSTEM, "cannot %s %s: over the file size limit", doing, shown);
    else if (errnum == EROFS)
        error_set(err, HUTCH_E_SYSTEM, "cannot %s %s: it is on a read-only filesystem", doing,
                  shown);
    else if (errnum == EACCES || errnum == EPERM)
        error_set(err, HUTCH_E_SYSTEM, "cannot %s %s: permission denied", doing, shown);
    else
        error_sys(err, errnum, "cannot %s %s", doing, shown);
}

int replace_file(int dirfd, const char *name, const char *shown, const struct replace_source *src,
                 const struct stat *expect, uint64_t *written, bool *created, hutch_error *err)
{
    *written = 0;
    struct stat old;
    bool exists = fstatat(dirfd, name, &old, AT_SYMLINK_NOFOLLOW) == 0;
    if (!exists && errno != ENOENT) {
        write_error(errno, "write", shown, false, err);
        return -1;
    }
    if (exists && S_ISDIR(old.st_mode)) {
        error_set(err, HUTCH_E_INVALID, "%s is a directory: give a file name", shown);
        return -1;
    }
    if (expect && (!exists || !same_file(expect, &old))) {
        error_set(err, HUTCH_E_INVALID,
                  "%s changed while it was being edited: read it again and retry", shown);
        return -1;
    }
    *created = !exists;

    char tmp[64];
    autoclose int fd = -1;
    for (int i = 0; i < 16 && fd < 0; i++) {
        if (!temp_name(tmp, sizeof tmp))
            break;
        fd = TEMP_FAILURE_RETRY(
            openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666));
        if (fd < 0 && errno != EEXIST) {
            write_error(errno, "write", shown, exists, err);
            return -1;
        }
    }
    if (fd < 0) {
        error_set(err, HUTCH_E_INVALID, "cannot write %s: no free temporary name", shown);
        return -1;
    }
    /* The new file keeps what the old one had: owner (when we may) first,
     * since chown drops set-id bits, then the permission bits. */
    if (exists && S_ISREG(old.st_mode)) {
        if ((old.st_uid != geteuid() || old.st_gid != getegid()) &&
            fchown(fd, old.st_uid, old.st_gid) < 0) {
            /* Not ours to give away: the new file stays ours. */
        }
        (void)fchmod(fd, old.st_mode & 0777);
    }

    int r = src->fd >= 0 ? copy_stream(src->fd, fd, src->cancel_fd, written)
                         : write_all(fd, src->data, src->len);
    if (src->fd < 0 && r == 0)
        *written = src->len;
    int errnum = errno;
    if (r < 0 && errnum == ECANCELED) {
        error_set(err, HUTCH_E_INVALID, "the write of %s was cancelled", shown);
        goto fail;
    }
    /* Where space is only found short at write-back (NFS, a full disk
     * under a loop device), close says so: never rename such a file in. */
    if (r == 0 && close(steal_fd(&fd)) < 0) {
        r = -1;
        errnum = errno;
    }
    if (r < 0) {
        write_error(errnum, "write", shown, exists, err);
        goto fail;
    }
    if (cancelled(src->cancel_fd)) {
        /* The content may have ended early because its sender died. */
        error_set(err, HUTCH_E_INVALID, "the write of %s was cancelled", shown);
        goto fail;
    }
    if (expect) {
        /* Once more right before the rename: the window stays tiny. */
        if (fstatat(dirfd, name, &old, AT_SYMLINK_NOFOLLOW) < 0 || !same_file(expect, &old)) {
            error_set(err, HUTCH_E_INVALID,
                      "%s changed while it was being edited: read it again and retry", shown);
            goto fail;
        }
    }
    if (renameat(dirfd, tmp, dirfd, name) < 0) {
        write_error(errno, "replace", shown, exists, err);
        goto fail;
    }
    return 0;
fail:
    (void)unlinkat(dirfd, tmp, 0);
    return -1;
}

json_t *tool_write(const json_t *args, int content_fd, const struct tool_env *env)
{
    hutch_error err;
    const char *path = NULL, *content = NULL;
    size_t path_len = 0, content_len = 0;
    if (arg_string(args, "path", &path, &path_len, &err) < 0 ||
        arg_bytes(args, "content", &content, &content_len, &err) < 0)
        return tool_fail("write: %s", err.message);
    if (!path)
        return tool_fail("write needs a path");
    if (content_fd < 0 && !content)
        return tool_fail("write needs content: the whole new text of the file (\"\" for an "
                         "empty file)");

    struct tool_path p __attribute__((cleanup(path_release))) = {.rootfd = -1};
    if (path_resolve(&env->roots, path, path_len, PATH_WRITE, &p, &err) < 0)
        return tool_fail_error(&err);
    const char *name;
    autoclose int dirfd = path_parent(&p, true, &name, &err);
    if (dirfd < 0)
        return tool_fail_error(&err);
    struct replace_source src = {
        .data = content, .len = content_len, .fd = content_fd, .cancel_fd = env->cancel_fd};
    uint64_t written;
    bool created;
    if (replace_file(dirfd, name, path, &src, NULL, &written, &created, &err) < 0)
        return tool_fail_error(&err);

    char text[TOOL_PATH_MAX + 128];
    size_t n = fmt_trunc(text, sizeof text, "Wrote %" PRIu64 " bytes to %s", written, path);
    json_t *r = tool_ok(text, n);
    if (!tool_set(r, "path", tool_string(path, path_len)) ||
        !tool_set(r, "bytes", json_integer((json_int_t)written)) ||
        !tool_set(r, "created", json_boolean(created)))
        return NULL;
    return r;
}
