#include "drivers/native/cgroup.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/vfs.h>
#include <time.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static const char *const controller_names[CG_COUNT] = {"memory", "pids", "cpu"};

const char *cgroup_controller_name(enum cgroup_controller c)
{
    return controller_names[c];
}

const char *cgroup_version_name(enum cgroup_version v)
{
    return v == CGROUP_V2 ? "cgroup-v2" : v == CGROUP_V1 ? "cgroup-v1" : "none";
}

const char *cgroup_layout_name(enum cgroup_layout l)
{
    switch (l) {
    case CGROUP_UNIFIED:
        return "v2 (unified)";
    case CGROUP_HYBRID:
        return "hybrid (v1 controllers, v2 without them)";
    case CGROUP_LEGACY:
        return "v1 (legacy)";
    default:
        return "absent";
    }
}

/* True when the comma-separated list has the word. */
static bool has_word(const char *list, size_t len, const char *word)
{
    size_t wlen = strlen(word);
    const char *p = list, *end = list + len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t n = comma ? (size_t)(comma - p) : (size_t)(end - p);
        if (n == wlen && memcmp(p, word, n) == 0)
            return true;
        p += n + 1;
    }
    return false;
}

void cgroup_parse_self(struct cgroup_system *sys, const char *text)
{
    /* Lines: "ID:CONTROLLERS:PATH"; v2 is "0::PATH". */
    const char *line = text;
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        const char *c1 = memchr(line, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
        if (c2) {
            const char *path = c2 + 1;
            int plen = (int)(len - (size_t)(path - line));
            size_t clen = (size_t)(c2 - c1 - 1);
            /* A path too long to keep is left "", unknown: never cut. */
            if (clen == 0 && c1 - line == 1 && line[0] == '0')
                (void)!fmt_fits(sys->v2_own, sizeof sys->v2_own, "%.*s", plen, path);
            for (int c = 0; c < CG_COUNT; c++)
                if (clen && has_word(c1 + 1, clen, controller_names[c]))
                    (void)!fmt_fits(sys->v1_own[c], sizeof sys->v1_own[c], "%.*s", plen, path);
        }
        line = nl ? nl + 1 : NULL;
    }
}

static bool is_cgroup2(const char *path)
{
    struct statfs fs;
    return statfs(path, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

/* Finds the v1 hierarchies of our controllers in /proc/self/mountinfo:
 * "... - cgroup cgroup rw,memory" -> the mount point is field 5. */
static void find_v1_mounts(struct cgroup_system *sys)
{
    autofree char *info = NULL;
    if (read_file_bounded("/proc/self/mountinfo", 4 << 20, &info, NULL) < 0)
        return;
    for (char *line = strtok(info, "\n"); line; line = strtok(NULL, "\n")) {
        char mountpoint[PATH_MAX], fstype[32], options[512];
        const char *sep = strstr(line, " - ");
        if (!sep || sscanf(sep + 3, "%31s %*s %511s", fstype, options) != 2 ||
            strcmp(fstype, "cgroup") != 0)
            continue;
        if (sscanf(line, "%*s %*s %*s %*s %4095s", mountpoint) != 1)
            continue;
        for (int c = 0; c < CG_COUNT; c++)
            if (!sys->v1_mount[c][0] && has_word(options, strlen(options), controller_names[c]))
                (void)!fmt_fits(sys->v1_mount[c], sizeof sys->v1_mount[c], "%s", mountpoint);
    }
}

int cgroup_detect(struct cgroup_system *sys)
{
    memset(sys, 0, sizeof *sys);
    if (is_cgroup2("/sys/fs/cgroup")) {
        sys->layout = CGROUP_UNIFIED;
        fmt_bounded(sys->v2_mount, "/sys/fs/cgroup");
    } else if (is_cgroup2("/sys/fs/cgroup/unified")) {
        sys->layout = CGROUP_HYBRID;
        fmt_bounded(sys->v2_mount, "/sys/fs/cgroup/unified");
    } else {
        struct stat st;
        sys->layout = stat("/sys/fs/cgroup", &st) == 0 ? CGROUP_LEGACY : CGROUP_ABSENT;
    }
    if (sys->v2_mount[0]) {
        char path[PATH_MAX + 32];
        autofree char *controllers = NULL;
        size_t len = 0;
        if (fmt_fits(path, sizeof path, "%s/cgroup.controllers", sys->v2_mount) &&
            read_file_bounded(path, 4096, &controllers, &len) == 0)
            for (int c = 0; c < CG_COUNT; c++) {
                /* space-separated; compare words */
                const char *p = controllers;
                size_t n = strlen(controller_names[c]);
                while ((p = strstr(p, controller_names[c])) != NULL) {
                    bool start = p == controllers || p[-1] == ' ';
                    bool end = p[n] == '\0' || p[n] == ' ' || p[n] == '\n';
                    if (start && end)
                        sys->v2_has[c] = true;
                    p += n;
                }
            }
    }
    if (sys->layout != CGROUP_UNIFIED)
        find_v1_mounts(sys);
    autofree char *self = NULL;
    if (read_file_bounded("/proc/self/cgroup", 1 << 16, &self, NULL) == 0)
        cgroup_parse_self(sys, self);
    return 0;
}

static int write_text(const char *dir, const char *file, const char *value)
{
    char path[PATH_MAX + 64];
    if (!fmt_fits(path, sizeof path, "%s/%s", dir, file)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return write_file_text(path, value);
}

static bool file_exists(const char *dir, const char *file)
{
    char path[PATH_MAX + 64];
    return fmt_fits(path, sizeof path, "%s/%s", dir, file) && access(path, F_OK) == 0;
}

/* The run's cgroup name; false (and a reason) when it does not fit. */
static bool run_name(const struct cgroup_want *w, char *buf, size_t len, struct cgroup_run *run)
{
    bool ok;
    if (w->name) {
        ok = fmt_fits(buf, len, "%s", w->name);
    } else {
        static atomic_uint counter;
        struct timespec ts;
        clock_read(CLOCK_MONOTONIC, &ts);
        ok = fmt_fits(buf, len, "hutch-%d-%u-%lx", (int)getpid(), atomic_fetch_add(&counter, 1),
                      (unsigned long)ts.tv_nsec);
    }
    if (!ok)
        fmt_trunc(run->reason, sizeof run->reason, "the cgroup name %.64s... is too long",
                  w->name ? w->name : "");
    return ok;
}

/* A path that does not fit is never cut: the run goes without a cgroup. */
static int too_long(struct cgroup_run *run, const char *what)
{
    fmt_trunc(run->reason, sizeof run->reason, "the path of %s is too long", what);
    return 0;
}

static bool wants(const struct cgroup_want *w, enum cgroup_controller c)
{
    return c == CG_MEMORY ? w->memory > 0 : c == CG_PIDS ? w->pids > 0 : w->cpus > 0;
}

static int set_limits(const char *const dirs[CG_COUNT], enum cgroup_version v,
                      const struct cgroup_want *w, hutch_error *err)
{
    char value[64];
    if (w->memory) {
        const char *dir = dirs[CG_MEMORY];
        fmt_bounded(value, "%llu", (unsigned long long)w->memory);
        if (v == CGROUP_V2) {
            if (write_text(dir, "memory.max", value) < 0)
                return error_sys(err, errno, "cannot set memory.max in %s", dir);
            /* No swap: the limit is the limit. */
            if (file_exists(dir, "memory.swap.max") && write_text(dir, "memory.swap.max", "0") < 0)
                return error_sys(err, errno, "cannot set memory.swap.max in %s", dir);
            (void)write_text(dir, "memory.oom.group", "1");
        } else {
            if (write_text(dir, "memory.limit_in_bytes", value) < 0)
                return error_sys(err, errno, "cannot set memory.limit_in_bytes in %s", dir);
            if (file_exists(dir, "memory.memsw.limit_in_bytes") &&
                write_text(dir, "memory.memsw.limit_in_bytes", value) < 0)
                return error_sys(err, errno, "cannot set memory.memsw.limit_in_bytes in %s", dir);
        }
    }
    if (w->pids) {
        fmt_bounded(value, "%llu", (unsigned long long)w->pids);
        if (write_text(dirs[CG_PIDS], "pids.max", value) < 0)
            return error_sys(err, errno, "cannot set pids.max in %s", dirs[CG_PIDS]);
    }
    if (w->cpus > 0) {
        const long period = 100000;
        long quota = (long)(w->cpus * (double)period);
        if (quota < 1000)
            quota = 1000; /* the kernel's minimum */
        if (v == CGROUP_V2) {
            fmt_bounded(value, "%ld %ld", quota, period);
            if (write_text(dirs[CG_CPU], "cpu.max", value) < 0)
                return error_sys(err, errno, "cannot set cpu.max in %s", dirs[CG_CPU]);
        } else {
            fmt_bounded(value, "%ld", period);
            if (write_text(dirs[CG_CPU], "cpu.cfs_period_us", value) < 0)
                return error_sys(err, errno, "cannot set cpu.cfs_period_us in %s", dirs[CG_CPU]);
            fmt_bounded(value, "%ld", quota);
            if (write_text(dirs[CG_CPU], "cpu.cfs_quota_us", value) < 0)
                return error_sys(err, errno, "cannot set cpu.cfs_quota_us in %s", dirs[CG_CPU]);
        }
    }
    return 0;
}

/* Makes sure parent hands the controllers we want down to its children. */
static int enable_controllers(const char *parent, const struct cgroup_want *w)
{
    char path[PATH_MAX + 32];
    if (!fmt_fits(path, sizeof path, "%s/cgroup.subtree_control", parent)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    autofree char *enabled = NULL;
    if (read_file_bounded(path, 4096, &enabled, NULL) < 0)
        return -1;
    char change[64] = "";
    size_t used = 0;
    for (int c = 0; c < CG_COUNT; c++) {
        if (!wants(w, c))
            continue;
        const char *name = controller_names[c];
        const char *p = strstr(enabled, name);
        if (p && (p == enabled || p[-1] == ' '))
            continue;
        if (!fmt_append(change, sizeof change, &used, "%s+%s", used ? " " : "", name)) {
            errno = ENAMETOOLONG;
            return -1;
        }
    }
    return change[0] ? write_text(parent, "cgroup.subtree_control", change) : 0;
}

static int create_v2(const struct cgroup_system *sys, const struct cgroup_want *w,
                     struct cgroup_run *run, hutch_error *err)
{
    char parent[PATH_MAX];
    if (geteuid() == 0 && strcmp(sys->v2_own, "/") == 0) {
        /* The root cgroup may hold processes and still delegate. */
        if (!fmt_fits(parent, sizeof parent, "%s/hutch", sys->v2_mount))
            return too_long(run, "hutch's cgroup");
        if (mkdir(parent, 0755) < 0 && errno != EEXIST) {
            fmt_trunc(run->reason, sizeof run->reason, "cannot create %s: %s", parent,
                      strerror(errno));
            return 0;
        }
        if (enable_controllers(sys->v2_mount, w) < 0) {
            fmt_trunc(run->reason, sizeof run->reason,
                      "cannot enable controllers in %s/cgroup.subtree_control: %s",
                      sys->v2_mount, strerror(errno));
            return 0;
        }
    } else {
        /* A cgroup with processes cannot hand controllers down, so the run
         * goes next to ours: in our parent, which must be delegated to us. */
        char own[sizeof sys->v2_own];
        memcpy(own, sys->v2_own, sizeof own);
        char *slash = strrchr(own, '/');
        if (!slash || slash == own) {
            fmt_trunc(run->reason, sizeof run->reason,
                      "hutch runs in the root cgroup without being root");
            return 0;
        }
        *slash = '\0';
        if (!fmt_fits(parent, sizeof parent, "%s%s", sys->v2_mount, own))
            return too_long(run, "hutch's parent cgroup");
    }
    if (enable_controllers(parent, w) < 0) {
        fmt_trunc(run->reason, sizeof run->reason,
                  "cannot enable the controllers in %s/cgroup.subtree_control: %s", parent,
                  strerror(errno));
        return 0;
    }
    char name[64];
    if (!run_name(w, name, sizeof name, run))
        return 0;
    if (!fmt_fits(run->dirs[0], sizeof run->dirs[0], "%s/%s", parent, name))
        return too_long(run, "the run's cgroup");
    if (w->name) /* a session's, left behind by one that died: empty, so removable */
        (void)rmdir(run->dirs[0]);
    if (mkdir(run->dirs[0], 0755) < 0) {
        fmt_trunc(run->reason, sizeof run->reason, "cannot create %s: %s", run->dirs[0],
                  strerror(errno));
        run->dirs[0][0] = '\0';
        return 0;
    }
    run->version = CGROUP_V2;
    const char *dirs[CG_COUNT] = {run->dirs[0], run->dirs[0], run->dirs[0]};
    if (set_limits(dirs, CGROUP_V2, w, err) < 0)
        return -1;
    run->dir_fd = TEMP_FAILURE_RETRY(open(run->dirs[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (run->dir_fd < 0)
        return error_sys(err, errno, "cannot open %s", run->dirs[0]);
    return 0;
}

static int create_v1(const struct cgroup_system *sys, const struct cgroup_want *w,
                     struct cgroup_run *run, hutch_error *err)
{
    char name[64];
    if (!run_name(w, name, sizeof name, run))
        return 0;
    for (int c = 0; c < CG_COUNT; c++) {
        if (!wants(w, c))
            continue;
        const char *own = strcmp(sys->v1_own[c], "/") == 0 ? "" : sys->v1_own[c];
        if (!fmt_fits(run->dirs[c], sizeof run->dirs[c], "%s%s/%s", sys->v1_mount[c], own,
                      name)) {
            cgroup_run_destroy(run);
            return too_long(run, "the run's cgroup");
        }
        if (w->name)
            (void)rmdir(run->dirs[c]);
        if (mkdir(run->dirs[c], 0755) < 0) {
            fmt_trunc(run->reason, sizeof run->reason, "cannot create %s: %s", run->dirs[c],
                      strerror(errno));
            run->dirs[c][0] = '\0';
            cgroup_run_destroy(run);
            return 0;
        }
    }
    run->version = CGROUP_V1;
    const char *dirs[CG_COUNT] = {run->dirs[0], run->dirs[1], run->dirs[2]};
    return set_limits(dirs, CGROUP_V1, w, err);
}

int cgroup_run_create(const struct cgroup_system *sys, const struct cgroup_want *w,
                      struct cgroup_run *run, hutch_error *err)
{
    memset(run, 0, sizeof *run);
    run->dir_fd = -1;
    bool v2_ok = sys->v2_mount[0] != '\0', v1_ok = true;
    for (int c = 0; c < CG_COUNT; c++) {
        if (!wants(w, c))
            continue;
        v2_ok &= sys->v2_has[c];
        v1_ok &= sys->v1_mount[c][0] != '\0';
    }
    int r = 0;
    if (v2_ok) {
        r = create_v2(sys, w, run, err);
        if (r < 0 || run->version != CGROUP_NONE)
            return r;
    }
    if (v1_ok && sys->layout != CGROUP_UNIFIED) {
        char v2_reason[sizeof run->reason];
        memcpy(v2_reason, run->reason, sizeof v2_reason);
        r = create_v1(sys, w, run, err);
        if (r < 0 || run->version != CGROUP_NONE)
            return r;
        if (v2_reason[0]) {
            size_t used = strlen(run->reason);
            fmt_trunc(run->reason + used, sizeof run->reason - used, "; v2: %s", v2_reason);
        }
        return 0;
    }
    if (!run->reason[0])
        fmt_trunc(run->reason, sizeof run->reason,
                  "this machine's cgroups (%s) lack a controller that is needed",
                  cgroup_layout_name(sys->layout));
    return 0;
}

int cgroup_run_attach(const struct cgroup_run *run, pid_t pid, hutch_error *err)
{
    if (run->version == CGROUP_NONE)
        return 0;
    char value[32];
    fmt_bounded(value, "%d", (int)pid);
    if (run->version == CGROUP_V2) {
        /* Through the directory opened when the cgroup was made: the
         * kernel applies the same delegation checks as CLONE_INTO_CGROUP. */
        int fd = TEMP_FAILURE_RETRY(openat(run->dir_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC));
        ssize_t n = fd < 0 ? -1 : TEMP_FAILURE_RETRY(write(fd, value, strlen(value)));
        int e = errno;
        if (fd >= 0)
            close(fd);
        return n == (ssize_t)strlen(value) ? 0
                                           : error_sys(err, e, "cannot move the sandbox into %s",
                                                       run->dirs[0]);
    }
    for (int c = 0; c < CG_COUNT; c++)
        if (run->dirs[c][0] && write_text(run->dirs[c], "cgroup.procs", value) < 0)
            return error_sys(err, errno, "cannot move the sandbox into %s", run->dirs[c]);
    return 0;
}

static long read_counter(const char *dir, const char *file, const char *key)
{
    char path[PATH_MAX + 64];
    autofree char *text = NULL;
    if (!fmt_fits(path, sizeof path, "%s/%s", dir, file) ||
        read_file_bounded(path, 1 << 16, &text, NULL) < 0)
        return -1;
    size_t klen = strlen(key);
    for (char *line = text; line && *line;) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
            return strtol(line + klen + 1, NULL, 10);
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return -1;
}

long cgroup_dir_oom_kills(const char *dir)
{
    long n = read_counter(dir, "memory.events", "oom_kill");
    return n >= 0 ? n : read_counter(dir, "memory.oom_control", "oom_kill");
}

bool cgroup_run_oom_killed(const struct cgroup_run *run)
{
    if (run->version == CGROUP_V2)
        return read_counter(run->dirs[0], "memory.events", "oom_kill") > 0;
    if (run->version == CGROUP_V1 && run->dirs[CG_MEMORY][0])
        return read_counter(run->dirs[CG_MEMORY], "memory.oom_control", "oom_kill") > 0;
    return false;
}

void cgroup_run_destroy(struct cgroup_run *run)
{
    close_fd(&run->dir_fd);
    for (int c = 0; c < CG_COUNT; c++) {
        if (!run->dirs[c][0])
            continue;
        /* The last processes may take a moment to leave. */
        for (int tries = 0; tries < 100; tries++) {
            if (rmdir(run->dirs[c]) == 0 || errno != EBUSY)
                break;
            struct timespec pause = {0, 1000000};
            nanosleep(&pause, NULL);
        }
        run->dirs[c][0] = '\0';
    }
}
