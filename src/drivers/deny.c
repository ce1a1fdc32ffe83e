#include "drivers/deny.h"

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "policy/fields.h"
#include "base/util.h"

struct resolver {
    const struct deny_view *views;
    size_t n_views;
    struct deny_plan *plan;
    hutch_error *err;
};

static int oom(hutch_error *err)
{
    return error_set(err, HUTCH_E_SYSTEM, "out of memory");
}

static bool seen(const struct resolver *r, const char *host)
{
    const char *rest;
    for (size_t i = 0; i < r->n_views; i++)
        if (path_under(host, r->views[i].host, &rest))
            return true;
    return false;
}

enum walk_result { WALK_FOUND, WALK_MISSING, WALK_SYMLINK, WALK_TOO_LONG };

/* Resolves an absolute host path like realpath(), but never follows a
 * symlink that lies in a mounted tree. cur gets the resolved path, or the
 * place where the walk stopped. */
static enum walk_result walk_host_path(const struct resolver *r, const char *path,
                                       char cur[PATH_MAX])
{
    char todo[PATH_MAX * 2];
    if (!str_join_fits(todo, sizeof todo, path, NULL))
        return WALK_TOO_LONG;
    memcpy(cur, "/", 2);
    const char *p = todo;
    for (int links = 0; *p;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = strchrnul(p, '/');
        size_t n = (size_t)(end - p);
        char comp[NAME_MAX + 1];
        if (n > NAME_MAX)
            return WALK_TOO_LONG;
        memcpy(comp, p, n);
        comp[n] = '\0';
        p = end;
        if (strcmp(comp, ".") == 0)
            continue;
        if (strcmp(comp, "..") == 0) {
            char *slash = strrchr(cur, '/');
            slash[slash == cur ? 1 : 0] = '\0';
            continue;
        }
        /* next fits in cur (PATH_MAX) whenever it is kept. */
        char next[PATH_MAX];
        if (!str_join_fits(next, sizeof next, cur, strcmp(cur, "/") == 0 ? "" : "/", comp, NULL))
            return WALK_TOO_LONG;
        struct stat st;
        if (lstat(next, &st) < 0) {
            memcpy(cur, next, strlen(next) + 1);
            return WALK_MISSING;
        }
        if (!S_ISLNK(st.st_mode)) {
            memcpy(cur, next, strlen(next) + 1);
            continue;
        }
        char target[PATH_MAX];
        ssize_t len;
        if (seen(r, next) || ++links > 40 ||
            (len = readlink(next, target, sizeof target - 1)) < 0) {
            memcpy(cur, next, strlen(next) + 1);
            return WALK_SYMLINK;
        }
        target[len] = '\0';
        /* The link's target, then what was left after the link. */
        char rest[sizeof todo];
        if (!str_join_fits(rest, sizeof rest, target, p, NULL))
            return WALK_TOO_LONG;
        memcpy(todo, rest, strlen(rest) + 1);
        p = todo;
        if (target[0] == '/')
            memcpy(cur, "/", 2);
    }
    return WALK_FOUND;
}

static int add_place(struct resolver *r, const char *inside, const char *host, bool dir,
                     bool hide)
{
    struct deny_plan *pl = r->plan;
    for (size_t i = 0; i < pl->n_places; i++)
        if (strcmp(pl->places[i].inside, inside) == 0) {
            pl->places[i].hide |= hide; /* hidden wins over read-only */
            return 0;
        }
    /* Room for the host's secrets at once: growing by one moved the array
     * through every size class of the allocator. */
    if (!array_reserve(&pl->places, &pl->cap_places, pl->n_places, sizeof *pl->places, 32))
        return oom(r->err);
    pl->places[pl->n_places] =
        (struct deny_place){.inside = strdup(inside), .host = strdup(host), .dir = dir,
                            .hide = hide};
    pl->n_places++;
    if (!pl->places[pl->n_places - 1].inside || !pl->places[pl->n_places - 1].host)
        return oom(r->err);
    return 0;
}

/* Pins the directories between a writable view's root and inside. */
static int add_pins(struct resolver *r, const struct deny_view *v, const char *inside)
{
    char dir[PATH_MAX];
    size_t from = strcmp(v->inside, "/") == 0 ? 0 : strlen(v->inside);
    if (str_join_checked(r->err, dir, sizeof dir, inside, NULL) < 0)
        return -1;
    if (strlen(dir) <= from)
        return 0;
    for (char *slash = strchr(dir + from + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (!strlist_contains(&r->plan->pins, dir)) {
            char host[PATH_MAX * 2];
            if (str_join_checked(r->err, host, sizeof host, v->host, dir + from, NULL) < 0)
                return -1;
            if (strlist_push(&r->plan->pins, dir) < 0 ||
                strlist_push(&r->plan->pin_hosts, host) < 0)
                return oom(r->err);
        }
        *slash = '/';
    }
    return 0;
}

/* Every place the sandbox sees the host path real (canonical, existing). */
static int place_everywhere(struct resolver *r, const char *real, const struct stat *st,
                            bool hide)
{
    for (size_t i = 0; i < r->n_views; i++) {
        const struct deny_view *v = &r->views[i];
        const char *rest;
        if (!path_under(real, v->host, &rest))
            continue;
        char inside[PATH_MAX * 2];
        if (str_join_checked(r->err, inside, sizeof inside,
                             strcmp(v->inside, "/") == 0 ? "" : v->inside, rest, NULL) < 0)
            return -1;
        if (add_place(r, *inside ? inside : "/", real, S_ISDIR(st->st_mode), hide) < 0 ||
            (v->writable && add_pins(r, v, inside) < 0))
            return -1;
    }
    return 0;
}

/* A rule of the user's: fails closed where it cannot be applied as named. */
static int apply_rule(struct resolver *r, const char *path, bool hide, const struct field *f)
{
    char real[PATH_MAX];
    enum walk_result w = walk_host_path(r, path, real);
    if (!seen(r, real)) {
        /* Not a host path the sandbox sees: perhaps one as the sandbox sees it. */
        for (size_t i = 0; i < r->n_views; i++) {
            const char *rest;
            char host[PATH_MAX * 2];
            if (strcmp(r->views[i].inside, "/") == 0 ||
                !path_under(path, r->views[i].inside, &rest))
                continue;
            w = str_join_fits(host, sizeof host, r->views[i].host, rest, NULL)
                    ? walk_host_path(r, host, real)
                    : WALK_TOO_LONG;
            break;
        }
    }
    if (w == WALK_TOO_LONG)
        return error_set(r->err, HUTCH_E_INVALID, "%s (--%s): %s is too long a path", f->key,
                         f->flag, path);
    if (!seen(r, real))
        return 0; /* nowhere in the sandbox's view: nothing to hide, nothing can appear */
    if (w == WALK_MISSING)
        return error_set(r->err, HUTCH_E_INVALID,
                         "%s (--%s): %s is not there (%s is missing), but the sandbox would see "
                         "that place: hutch does not run with a rule it cannot apply; restore "
                         "it, or remove the rule",
                         f->key, f->flag, path, real);
    if (w == WALK_SYMLINK)
        return error_set(r->err, HUTCH_E_INVALID,
                         "%s (--%s): %s leads through the symlink %s inside a mounted "
                         "directory, which a sandbox may have planted: name the real path",
                         f->key, f->flag, path, real);
    struct stat st;
    if (lstat(real, &st) < 0)
        return error_sys(r->err, errno, "%s (--%s): cannot inspect %s", f->key, f->flag, real);
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1)
        return error_set(r->err, HUTCH_E_INVALID,
                         "%s (--%s): %s has %lu hard links, and another name would show it: "
                         "remove the other links (find / -xdev -samefile %s)",
                         f->key, f->flag, real, (unsigned long)st.st_nlink, real);
    return place_everywhere(r, real, &st, hide);
}

/* Absolute, without empty, "." or ".." components or a trailing slash. */
static bool clean_absolute(const char *path)
{
    if (path[0] != '/' || path[1] == '\0')
        return false;
    for (const char *c = path + 1;;) {
        size_t n = strcspn(c, "/");
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        if (c[n] == '\0')
            return true;
        c += n + 1;
    }
}

/* realpath() of an existing path and lstat() of the result; -1 when it does
 * not exist. A clean absolute path with no symlink on the way is its own
 * real path: one lookup (openat2 refusing symlinks) tells, where realpath()
 * takes a readlink() per component. Anything else goes the realpath() way. */
static int realpath_lstat(const char *path, char real[PATH_MAX], struct stat *st)
{
    if (clean_absolute(path) && strlen(path) < PATH_MAX) {
        struct {
            uint64_t flags, mode, resolve;
        } how = {.flags = O_PATH | O_CLOEXEC, .resolve = 0x04 /* RESOLVE_NO_SYMLINKS */};
        autoclose int fd =
            (int)TEMP_FAILURE_RETRY(syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how));
        if (fd >= 0 && fstat(fd, st) == 0) {
            memcpy(real, path, strlen(path) + 1);
            return 0;
        }
        if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
            return -1; /* a component is missing: realpath() fails as well */
        /* ELOOP: a symlink on the way; ENOSYS: no openat2 (before Linux 5.6). */
    }
    if (!realpath(path, real) || lstat(real, st) < 0)
        return -1;
    return 0;
}

/* A secret of the host's own (/etc/shadow...): hidden wherever it shows, if
 * it exists. These are the host's, so their symlinks are followed. */
static int hide_secret(struct resolver *r, const char *path)
{
    char real[PATH_MAX];
    struct stat st;
    if (realpath_lstat(path, real, &st) < 0)
        return 0;
    return place_everywhere(r, real, &st, true);
}

static size_t depth(const char *path)
{
    size_t d = 0;
    for (; *path; path++)
        d += *path == '/';
    return d;
}

/* Pins shallowest first, so that a pin never covers a deeper mount. */
static void sort_pins(struct deny_plan *pl)
{
    for (size_t i = 1; i < pl->pins.len; i++)
        for (size_t j = i; j > 0 && depth(pl->pins.items[j - 1]) > depth(pl->pins.items[j]); j--) {
            char *t = pl->pins.items[j];
            pl->pins.items[j] = pl->pins.items[j - 1];
            pl->pins.items[j - 1] = t;
            t = pl->pin_hosts.items[j];
            pl->pin_hosts.items[j] = pl->pin_hosts.items[j - 1];
            pl->pin_hosts.items[j - 1] = t;
        }
}

int deny_plan_build(const struct filesystem_policy *fs, const char *const *secrets,
                    size_t n_secrets, const struct deny_view *views, size_t n_views,
                    struct deny_plan *plan, hutch_error *err)
{
    memset(plan, 0, sizeof *plan);
    struct resolver r = {.views = views, .n_views = n_views, .plan = plan, .err = err};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < fs->deny_write.len; i++)
        rc = apply_rule(&r, fs->deny_write.items[i], false, &fields[F_FS_DENY_WRITE]);
    for (size_t i = 0; rc == 0 && i < n_secrets; i++)
        rc = hide_secret(&r, secrets[i]);
    for (size_t i = 0; rc == 0 && i < fs->deny_read.len; i++)
        rc = apply_rule(&r, fs->deny_read.items[i], true, &fields[F_FS_DENY_READ]);
    if (rc < 0) {
        deny_plan_free(plan);
        return -1;
    }
    sort_pins(plan);
    return 0;
}

void deny_plan_free(struct deny_plan *plan)
{
    for (size_t i = 0; i < plan->n_places; i++) {
        free(plan->places[i].inside);
        free(plan->places[i].host);
    }
    free(plan->places);
    strlist_clear(&plan->pins);
    strlist_clear(&plan->pin_hosts);
    memset(plan, 0, sizeof *plan);
}
