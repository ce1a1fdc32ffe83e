/* Session state on disk: one directory per session under the state root,
 * holding the record (record.json, replaced atomically), the lock file and
 * the agent's log, and the runtime directory the sandbox sees. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "session/session.h"

double session_now(void)
{
    struct timespec ts;
    clock_read(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int mkdir_p(const char *path, mode_t mode, hutch_error *err)
{
    char buf[PATH_MAX];
    if (fmt_checked(err, buf, sizeof buf, "%s", path) < 0)
        return -1;
    for (char *slash = strchr(buf + 1, '/');; slash = strchr(slash + 1, '/')) {
        if (slash)
            *slash = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return error_sys(err, errno, "cannot create %s", buf);
        if (!slash)
            return 0;
        *slash = '/';
    }
}

int session_state_root(char *out, size_t len, hutch_error *err)
{
    const char *dir = getenv("HUTCH_STATE_DIR");
    int r;
    if (dir && dir[0] == '/')
        r = fmt_checked(err, out, len, "%s", dir);
    else if (geteuid() == 0)
        r = fmt_checked(err, out, len, "/var/lib/hutch");
    else if ((dir = getenv("XDG_STATE_HOME")) && dir[0] == '/')
        r = fmt_checked(err, out, len, "%s/hutch", dir);
    else if ((dir = getenv("HOME")) && dir[0] == '/')
        r = fmt_checked(err, out, len, "%s/.local/state/hutch", dir);
    else
        return error_set(err, HUTCH_E_INVALID,
                         "no place for session state: set HOME, XDG_STATE_HOME or "
                         "HUTCH_STATE_DIR to an absolute path");
    if (r < 0)
        error_prefix(err, "the place for session state");
    return r;
}

int session_open(struct session *s, const char *key, hutch_error *err)
{
    memset(s, 0, sizeof *s);
    s->lock_fd = -1;
    if (session_key_check(key, err) < 0)
        return -1;
    if (!(s->key = strdup(key)))
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    session_name(key, s->name, sizeof s->name);
    char root[PATH_MAX - 128];
    if (session_state_root(root, sizeof root, err) < 0)
        return -1;
    if (!(s->dir = str_join(root, "/sessions/", s->name, NULL)) ||
        !(s->runtime_dir = str_join(s->dir, "/run", NULL)) ||
        !(s->socket_path = str_join(s->runtime_dir, "/" AGENT_SOCKET_NAME, NULL)))
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    if (strlen(s->socket_path) >= PATH_MAX)
        return error_set(err, HUTCH_E_INVALID,
                         "the session's directory %s is too long: set HUTCH_STATE_DIR to a "
                         "shorter path", s->dir);
    return 0;
}

void session_close(struct session *s)
{
    session_unlock(s);
    record_free(s->record);
    s->record = NULL;
    free(s->key);
    free(s->dir);
    free(s->runtime_dir);
    free(s->socket_path);
    s->key = s->dir = s->runtime_dir = s->socket_path = NULL;
}

/* path = the session's file name: its directory and name, which fit. */
#define SESSION_FILE_MAX (PATH_MAX + 16)
static int session_file(const struct session *s, const char *name, char path[SESSION_FILE_MAX],
                        hutch_error *err)
{
    if (!str_join_fits(path, SESSION_FILE_MAX, s->dir, "/", name, NULL))
        return error_set(err, HUTCH_E_INVALID, "the session's directory %s is too long", s->dir);
    return 0;
}

/* Forgets the record read into memory; path = its file's. */
static int drop_record(struct session *s, char path[SESSION_FILE_MAX], hutch_error *err)
{
    record_free(s->record);
    s->record = NULL;
    return session_file(s, "record.json", path, err);
}

/* ---- usage: the counters every command changes --------------------------------- */

/* They live in the lock file, written in place under the lock: a command
 * does not rewrite the record for them. The record keeps what they were
 * at its last write (and all an older hutch wrote): the larger of the
 * two counts. Fixed width, so a write never leaves an older tail. */
#define USAGE_WIDTH 20
#define USAGE_LEN (2 * USAGE_WIDTH + 2)

/* text: len bytes and a NUL. */
static void usage_merge(struct session_record *r, const char *text, size_t len)
{
    long long count, used_us;
    char end;
    if (len != USAGE_LEN || strlen(text) != len || text[USAGE_LEN - 1] != '\n' ||
        sscanf(text, "%lld %lld%c", &count, &used_us, &end) != 3 || end != '\n' || count < 0 ||
        used_us < 0)
        return; /* none yet, or not ours: the record's */
    if (count > r->exec_count)
        r->exec_count = count;
    if ((double)used_us / 1e6 > r->last_used_at)
        r->last_used_at = (double)used_us / 1e6;
}

static void usage_load(struct session *s)
{
    char text[USAGE_LEN + 2]; /* one byte more than a usage line: longer is not one */
    ssize_t n;
    if (s->lock_fd >= 0) {
        n = TEMP_FAILURE_RETRY(pread(s->lock_fd, text, sizeof text - 1, 0));
    } else {
        char path[PATH_MAX + 16];
        autoclose int fd = str_join_fits(path, sizeof path, s->dir, "/lock", NULL)
                               ? TEMP_FAILURE_RETRY(open_cloexec(path, O_RDONLY | O_NOFOLLOW))
                               : -1;
        n = fd < 0 ? -1 : TEMP_FAILURE_RETRY(pread(fd, text, sizeof text - 1, 0));
    }
    if (n > 0) {
        text[n] = '\0';
        usage_merge(s->record, text, (size_t)n);
    }
}

int session_save_usage(struct session *s, hutch_error *err)
{
    if (!s->record)
        return 0;
    if (s->lock_fd < 0 || record_digest(s->record) != s->loaded_digest)
        return session_save(s, err);
    char text[USAGE_LEN + 1];
    long long used_us = (long long)(s->record->last_used_at * 1e6);
    if (!fmt_fits(text, sizeof text, "%*lld %*lld\n", USAGE_WIDTH, s->record->exec_count,
                  USAGE_WIDTH, used_us))
        return session_save(s, err); /* numbers that wide: the record has room */
    if (TEMP_FAILURE_RETRY(pwrite(s->lock_fd, text, USAGE_LEN, 0)) != USAGE_LEN)
        return error_sys(err, errno, "cannot write the use of session %s to %s/lock", s->key,
                         s->dir);
    return 0;
}

int session_load_record(struct session *s, hutch_error *err)
{
    char path[SESSION_FILE_MAX];
    if (drop_record(s, path, err) < 0)
        return -1;
    autofree char *text = NULL;
    size_t len = 0;
    if (read_file_bounded(path, 1 << 20, &text, &len) < 0) {
        if (errno == ENOENT)
            return 0;
        return error_sys(err, errno, "cannot read the session record %s", path);
    }
    return record_parse(text, len, path, &s->record, err);
}

int session_load(struct session *s, hutch_error *err)
{
    if (session_load_record(s, err) < 0)
        return -1;
    if (s->record) {
        s->loaded_digest = record_digest(s->record);
        usage_load(s);
    }
    return 0;
}

int session_lock(struct session *s, hutch_error *err)
{
    if (s->lock_fd >= 0)
        return session_load(s, err);
    char path[SESSION_FILE_MAX];
    if (session_file(s, "lock", path, err) < 0)
        return -1;
    for (;;) {
        int fd = TEMP_FAILURE_RETRY(open_cloexec(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0600));
        if (fd < 0 && errno == ENOENT) { /* a new session: its directory first */
            if (mkdir_p(s->dir, 0700, err) < 0)
                return -1;
            fd = TEMP_FAILURE_RETRY(open_cloexec(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0600));
        }
        if (fd < 0)
            return error_sys(err, errno, "cannot open the session lock %s", path);
        if (TEMP_FAILURE_RETRY(flock(fd, LOCK_EX)) < 0) {
            int e = errno;
            close(fd);
            return error_sys(err, e, "cannot lock the session (%s)", path);
        }
        /* Removing a session removes its lock and directory too
         * (session_forget): a lock taken on a file no longer there guards
         * nothing, so the one there now is locked instead. */
        struct stat held, now;
        if (fstat(fd, &held) == 0 && lstat(path, &now) == 0 && held.st_ino == now.st_ino &&
            held.st_dev == now.st_dev) {
            s->lock_fd = fd;
            return session_load(s, err);
        }
        close(fd);
    }
}

void session_unlock(struct session *s)
{
    close_fd(&s->lock_fd);
}

/* renameat2's flag; musl's headers may lack it. */
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* The record is replaced atomically: the new text goes to a second file,
 * record.next, which then trades names with record.json (renameat2 with
 * RENAME_EXCHANGE), so the old record becomes the next one to overwrite.
 * Readers see one whole record or the other, never a mix; and no inode is
 * created or freed per use, which costs a journal commit on some file
 * systems. Where the exchange is not supported: a fresh temp file and
 * rename. Callers hold the session's lock, so there is one writer. */
int session_save(struct session *s, hutch_error *err)
{
    if (!s->record)
        return 0;
    char path[SESSION_FILE_MAX], next[SESSION_FILE_MAX];
    if (session_file(s, "record.json", path, err) < 0 ||
        session_file(s, "record.next", next, err) < 0)
        return -1;
    autoclose int fd =
        TEMP_FAILURE_RETRY(open(next, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd < 0)
        return error_sys(err, errno, "cannot write the session record %s", next);
    /* Overwritten, then cut to length: truncating to zero first would free
     * and reallocate its blocks every time. */
    size_t len;
    if (record_write(s->record, fd, &len) < 0 || ftruncate(fd, (off_t)len) < 0) {
        int e = errno;
        unlink(next);
        return error_sys(err, e, "cannot write the session record %s", next);
    }
    /* No record yet (nothing to exchange with), or no support for it:
     * a plain rename. */
    if (syscall(SYS_renameat2, AT_FDCWD, next, AT_FDCWD, path, RENAME_EXCHANGE) < 0 &&
        rename(next, path) < 0) {
        int e = errno;
        unlink(next);
        return error_sys(err, e, "cannot replace the session record %s", path);
    }
    s->loaded_digest = record_digest(s->record);
    return 0;
}

void session_audit_append(const struct session *s, const json_t *line)
{
    char path[PATH_MAX + 16];
    if (!fmt_fits(path, sizeof path, "%s/audit.log", s->dir))
        return;
    char *out = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!out)
        return;
    size_t len = strlen(out);
    out[len] = '\n'; /* over the NUL: the line goes out in one write */
    int fd = TEMP_FAILURE_RETRY(
        open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd >= 0) {
        (void)!write(fd, out, len + 1);
        close(fd);
    }
    free(out);
}

int session_forget(struct session *s, hutch_error *err)
{
    char path[SESSION_FILE_MAX];
    if (drop_record(s, path, err) < 0)
        return -1;
    if (unlink(path) < 0 && errno != ENOENT)
        return error_sys(err, errno, "cannot remove the session record %s", path);
    /* Everything else but the lock first. */
    autoclose int dfd = TEMP_FAILURE_RETRY(open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dfd < 0)
        return 0;
    DIR *d = fdopendir(dup(dfd));
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, "lock") == 0)
            continue;
        char child[PATH_MAX * 2]; /* a name is at most NAME_MAX: always fits */
        int r = str_join_fits(child, sizeof child, s->dir, "/", e->d_name, NULL)
                    ? remove_tree(child, err)
                    : error_set(err, HUTCH_E_INVALID, "%s/%s: the path is too long", s->dir,
                                e->d_name);
        if (r < 0) {
            closedir(d);
            return -1;
        }
    }
    closedir(d);
    /* Then the lock and the directory, while this caller holds the lock:
     * one waiting for it finds its file gone and takes a new one
     * (session_lock), so no empty directory is left per key. */
    if (s->lock_fd >= 0) {
        char lock[PATH_MAX + 16];
        if (str_join_fits(lock, sizeof lock, s->dir, "/lock", NULL) && unlink(lock) == 0)
            (void)rmdir(s->dir);
    }
    return 0;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int session_list(char ***keys, size_t *n, hutch_error *err)
{
    *keys = NULL;
    *n = 0;
    char root[PATH_MAX - 64], dir[PATH_MAX];
    if (session_state_root(root, sizeof root, err) < 0)
        return -1;
    fmt_bounded(dir, "%s/sessions", root);
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : error_sys(err, errno, "cannot list %s", dir);
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX * 2];
        fmt_bounded(path, "%s/%s/record.json", dir, e->d_name);
        autofree char *text = NULL;
        size_t len = 0;
        struct session_record *rec = NULL;
        if (read_file_bounded(path, 1 << 20, &text, &len) < 0 ||
            record_parse(text, len, path, &rec, NULL) < 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(*keys, cap * sizeof *grown);
            if (!grown) {
                record_free(rec);
                closedir(d);
                return error_set(err, HUTCH_E_SYSTEM, "out of memory");
            }
            *keys = grown;
        }
        (*keys)[(*n)++] = rec->key;
        rec->key = NULL;
        record_free(rec);
    }
    closedir(d);
    if (*n)
        qsort(*keys, *n, sizeof **keys, compare_strings);
    return 0;
}

/* ---- removing trees without following links ------------------------------------ */

static int remove_at(int at, const char *name, const char *shown, int depth, hutch_error *err)
{
    if (unlinkat(at, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return error_sys(err, errno, "cannot remove %s", shown);
    if (depth > 256)
        return error_set(err, HUTCH_E_SYSTEM, "cannot remove %s: nested too deeply", shown);
    DIR *d = opendir_at(at, name, O_NOFOLLOW);
    if (!d)
        return error_sys(err, errno, "cannot remove %s", shown);
    struct dirent *e;
    int r = 0;
    while (r == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        r = remove_at(dirfd(d), e->d_name, shown, depth + 1, err);
    }
    closedir(d);
    if (r == 0 && unlinkat(at, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return error_sys(err, errno, "cannot remove %s", shown);
    return r;
}

int remove_tree(const char *path, hutch_error *err)
{
    return remove_at(AT_FDCWD, path, path, 0, err);
}

/* Field 22 of /proc/PID/stat: tells a pid from a later one with the same number. */
unsigned long long session_pid_start_time(pid_t pid)
{
    char path[64];
    fmt_bounded(path, "/proc/%d/stat", (int)pid);
    autofree char *text = NULL;
    if (read_file_bounded(path, 4096, &text, NULL) < 0)
        return 0;
    char *p = strrchr(text, ')');
    /* A zombie is gone, even while nobody has reaped it yet. */
    if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
        return 0;
    p++;
    for (int field = 3; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}
