/* Paths of the file tools: which root a path lies in, and opening it
 * beneath that root with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS).
 * The kernel does the walk, so neither "..", an absolute or escaping
 * symlink, a /proc magic link nor a symlink swapped in mid-walk can lead
 * out of the root: a lexical check alone could not hold against a sandbox
 * that changes its files while we look. */
#include <fcntl.h>
#include <sys/syscall.h>

#include "tools/internal.h"

#ifndef SYS_openat2
#define SYS_openat2 437 /* the same number on every architecture */
#endif

/* struct open_how and the RESOLVE_* bits of <linux/openat2.h>, which musl
 * and older kernel headers lack. */
struct how {
    uint64_t flags, mode, resolve;
};
#define HOW_RESOLVE_NO_MAGICLINKS 0x02
#define HOW_RESOLVE_BENEATH 0x08

/* How often a walk that raced a rename (EAGAIN) is tried again. */
#define OPEN_TRIES 64

/* ---- lexical part: which root ----------------------------------------------------- */

/* Copies path into out, collapsing repeated slashes and dropping "."
 * components ("a/./b//c" -> "a/b/c"); a trailing slash is kept, since it
 * says "a directory". Never resolves "..": only the kernel can do that
 * safely. Returns the length, or -1 when it does not fit. */
static ssize_t normalize(const char *in, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    bool absolute = len > 0 && in[0] == '/';
    if (absolute) {
        if (cap < 2)
            return -1;
        out[o++] = '/';
    }
    size_t i = 0;
    bool trailing = len > 0 && in[len - 1] == '/';
    while (i < len) {
        while (i < len && in[i] == '/')
            i++;
        size_t start = i;
        while (i < len && in[i] != '/')
            i++;
        size_t n = i - start;
        if (n == 0 || (n == 1 && in[start] == '.'))
            continue;
        if (o > 0 && out[o - 1] != '/') {
            if (o + 1 >= cap)
                return -1;
            out[o++] = '/';
        }
        if (o + n >= cap)
            return -1;
        memcpy(out + o, in + start, n);
        o += n;
    }
    if (trailing && o > 0 && out[o - 1] != '/') {
        if (o + 1 >= cap)
            return -1;
        out[o++] = '/';
    }
    if (o == 0) { /* "." or "./" */
        if (cap < 2)
            return -1;
        out[o++] = '.';
    }
    out[o] = '\0';
    return (ssize_t)o;
}

/* Length of root without trailing slashes ("/" stays 1). */
static size_t root_len(const char *root)
{
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    return n;
}

/* Whether root (absolute) holds abs by whole components; *rest then points
 * at what follows the root in abs. */
static bool root_holds(const char *root, const char *abs, const char **rest)
{
    size_t n = root_len(root);
    if (n == 0 || root[0] != '/')
        return false;
    if (n == 1) { /* "/" */
        *rest = abs + 1;
        return true;
    }
    if (strncmp(root, abs, n) != 0 || (abs[n] != '/' && abs[n] != '\0'))
        return false;
    *rest = abs[n] == '/' ? abs + n + 1 : abs + n;
    return true;
}

/* "/workspace, /tmp" for messages: whole names, as many as fit. */
static void list_roots(const char *const *roots, size_t n, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if (!fmt_append(buf, size, &o, "%s%s", i ? ", " : "", roots[i]))
            break;
    if (n == 0)
        fmt_trunc(buf, size, "none");
}

int path_resolve(const struct tool_roots *roots, const char *path, size_t len,
                 enum path_access access, struct tool_path *out, hutch_error *err)
{
    out->rootfd = -1;
    out->root = NULL;
    out->rest[0] = '\0';
    out->shown = path ? path : "";
    if (!path || len == 0) {
        error_set(err, HUTCH_E_INVALID,
                  "the path is empty: give a file path, relative to the workspace (%s) or absolute",
                  roots->workspace);
        return -1;
    }
    if (memchr(path, '\0', len)) {
        out->shown = "(a path with NUL)";
        error_set(err, HUTCH_E_INVALID, "the path contains a NUL byte: paths cannot");
        return -1;
    }
    if (len > TOOL_PATH_MAX) {
        out->shown = "(a long path)";
        error_set(err, HUTCH_E_INVALID, "the path is %zu bytes long: the limit is %d", len,
                  TOOL_PATH_MAX);
        return -1;
    }

    /* Relative paths start at the workspace; then both kinds go through
     * the same choice of root. */
    char joined[2 * TOOL_PATH_MAX + 8];
    if (path[0] == '/') {
        memcpy(joined, path, len);
        joined[len] = '\0';
    } else {
        if (!fmt_fits(joined, sizeof joined, "%s/%.*s", roots->workspace, (int)len, path)) {
            error_set(err, HUTCH_E_INVALID, "the path is too long");
            return -1;
        }
    }
    char abs[sizeof joined];
    if (normalize(joined, strlen(joined), abs, sizeof abs) < 0 || abs[0] != '/') {
        error_set(err, HUTCH_E_INVALID, "the path is too long");
        return -1;
    }

    const char *const *list = access == PATH_WRITE ? roots->writable : roots->readable;
    size_t n = access == PATH_WRITE ? roots->n_writable : roots->n_readable;
    const char *best = NULL, *best_rest = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *rest;
        if (!list[i] || !root_holds(list[i], abs, &rest))
            continue;
        /* The outermost root: the widest "beneath". */
        if (!best || root_len(list[i]) < root_len(best)) {
            best = list[i];
            best_rest = rest;
        }
    }
    if (!best) {
        char names[512];
        list_roots(list, n, names, sizeof names);
        if (access == PATH_WRITE)
            error_set(err, HUTCH_E_INVALID,
                      "%s is not in a writable place: write and edit may only change files under "
                      "%s", path, names);
        else
            error_set(err, HUTCH_E_INVALID,
                      "%s is outside the workspace and the readable roots: use a path under %s",
                      path, names);
        return -1;
    }
    size_t rest_len = strlen(best_rest);
    if (rest_len + 1 >= sizeof out->rest) {
        error_set(err, HUTCH_E_INVALID, "the path is too long");
        return -1;
    }
    if (rest_len == 0)
        memcpy(out->rest, ".", 2);
    else
        memcpy(out->rest, best_rest, rest_len + 1);
    out->root = best;

    /* The roots themselves are the host's choice, and trusted. */
    out->rootfd = TEMP_FAILURE_RETRY(open(best, O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (out->rootfd < 0) {
        error_sys(err, errno, "cannot open the root %s", best);
        return -1;
    }
    return 0;
}

void path_release(struct tool_path *p)
{
    close_fd(&p->rootfd);
}

int path_open(const struct tool_path *p, const char *rest, int flags, mode_t mode)
{
    struct how how = {
        .flags = (uint64_t)(unsigned)(flags | O_CLOEXEC),
        .mode = (flags & O_CREAT) ? mode : 0,
        .resolve = HOW_RESOLVE_BENEATH | HOW_RESOLVE_NO_MAGICLINKS,
    };
    for (int i = 0; i < OPEN_TRIES; i++) {
        long fd = syscall(SYS_openat2, p->rootfd, rest, &how, sizeof how);
        if (fd >= 0)
            return (int)fd;
        /* EAGAIN: a rename or mount raced the check of "..": try again. */
        if (errno != EAGAIN && errno != EINTR)
            return -1;
    }
    return -1;
}

void path_error(const struct tool_path *p, int errnum, const char *doing, hutch_error *err)
{
    const char *path = p->shown;
    switch (errnum) {
    case ENOENT:
        error_set(err, HUTCH_E_SYSTEM, "%s does not exist%s", path,
                  path[0] == '/' ? "" : " (relative paths start at the workspace)");
        break;
    case EXDEV:
        error_set(err, HUTCH_E_SYSTEM,
                  "%s leads outside %s (through .. or a symlink that points out of it): the "
                  "tools stay inside the workspace and the allowed roots", path,
                  p->root ? p->root : "its root");
        break;
    case ELOOP:
        error_set(err, HUTCH_E_SYSTEM,
                  "%s goes through a symlink loop, too many symlinks, or a /proc magic link: "
                  "not followed", path);
        break;
    case ENOTDIR:
        error_set(err, HUTCH_E_SYSTEM, "a part of %s is not a directory", path);
        break;
    case EACCES:
    case EPERM:
        error_set(err, HUTCH_E_SYSTEM, "cannot %s %s: permission denied", doing, path);
        break;
    case EROFS:
        error_set(err, HUTCH_E_SYSTEM, "cannot %s %s: it is on a read-only filesystem", doing,
                  path);
        break;
    case ENAMETOOLONG:
        error_set(err, HUTCH_E_SYSTEM, "%s is too long, or has a name that is too long", path);
        break;
    case ENOSYS:
        error_set(err, HUTCH_E_SYSTEM,
                  "this kernel has no openat2 (Linux 5.6 or later is needed): the file tools "
                  "cannot confine paths safely without it");
        break;
    case ENOSPC:
    case EDQUOT:
        error_set(err, HUTCH_E_SYSTEM, "cannot %s %s: no space left on the device", doing, path);
        break;
    default:
        error_sys(err, errnum, "cannot %s %s", doing, path);
        break;
    }
}

/* Opens the directory rest[0..len) beneath the root, making it (and its
 * missing parents) when create. Walks prefix by prefix from the root, so
 * that every step is checked beneath it; mkdirat() only ever creates a
 * name in a directory already opened that way. */
static int open_dir(struct tool_path *p, const char *dir, bool create, hutch_error *err)
{
    int fd = path_open(p, dir, O_PATH | O_DIRECTORY, 0);
    if (fd >= 0 || errno != ENOENT || !create) {
        if (fd < 0)
            path_error(p, errno, "open the directory of", err);
        return fd;
    }
    char prefix[sizeof p->rest];
    size_t len = strlen(dir);
    autoclose int parent = -1;
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        while (i < len && dir[i] != '/')
            i++;
        memcpy(prefix, dir, i);
        prefix[i] = '\0';
        const char *name = dir + start;
        size_t nlen = i - start;
        while (i < len && dir[i] == '/')
            i++;
        int sub = path_open(p, prefix, O_PATH | O_DIRECTORY, 0);
        if (sub < 0 && errno == ENOENT) {
            char comp[256];
            if (nlen >= sizeof comp) {
                path_error(p, ENAMETOOLONG, "create", err);
                return -1;
            }
            memcpy(comp, name, nlen);
            comp[nlen] = '\0';
            if (mkdirat(parent >= 0 ? parent : p->rootfd, comp, 0777) < 0 && errno != EEXIST) {
                path_error(p, errno, "create the directories of", err);
                return -1;
            }
            sub = path_open(p, prefix, O_PATH | O_DIRECTORY, 0);
            if (sub < 0 && errno == ENOENT) {
                error_set(err, HUTCH_E_INVALID,
                          "cannot create the directories of %s: %.*s is in the way (a dangling "
                          "symlink?)", p->shown, (int)i, dir);
                return -1;
            }
        }
        if (sub < 0) {
            path_error(p, errno, "open the directory of", err);
            return -1;
        }
        close_fd(&parent);
        parent = sub;
    }
    return steal_fd(&parent);
}

int path_parent(struct tool_path *p, bool create, const char **name, hutch_error *err)
{
    size_t len = strlen(p->rest);
    if (len == 0 || p->rest[len - 1] == '/' || strcmp(p->rest, ".") == 0) {
        error_set(err, HUTCH_E_INVALID, "%s names a directory: give a file name", p->shown);
        return -1;
    }
    char *slash = strrchr(p->rest, '/');
    const char *last = slash ? slash + 1 : p->rest;
    if (strcmp(last, ".") == 0 || strcmp(last, "..") == 0) {
        error_set(err, HUTCH_E_INVALID, "%s names a directory: give a file name", p->shown);
        return -1;
    }
    if (strlen(last) > 255) {
        path_error(p, ENAMETOOLONG, "write", err);
        return -1;
    }
    int fd;
    if (!slash) {
        fd = path_open(p, ".", O_PATH | O_DIRECTORY, 0);
        if (fd < 0)
            path_error(p, errno, "open the directory of", err);
    } else {
        *slash = '\0';
        fd = open_dir(p, p->rest, create, err);
        *slash = '/';
    }
    *name = last;
    return fd;
}
