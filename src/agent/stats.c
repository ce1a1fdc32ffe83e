/* AT_STATS: tasks, resident memory and CPU time from /proc/PID/stat and status. */
#include <dirent.h>
#include <fcntl.h>

#include "agent/agent.h"
#include "base/util.h"

struct proc_entry {
    pid_t pid, ppid;
    uint64_t threads, ticks;
    bool counted;
};

/* Parses /proc/PID/stat. The command name may hold spaces and ')', so the
 * fields are read after its last ')'. */
static bool read_stat(int proc_fd, pid_t pid, struct proc_entry *out)
{
    char path[64], buf[2048];
    fmt_bounded(path, "%d/stat", (int)pid);
    autoclose int fd = TEMP_FAILURE_RETRY(openat(proc_fd, path, O_RDONLY | O_CLOEXEC));
    if (fd < 0)
        return false;
    ssize_t n = TEMP_FAILURE_RETRY(read(fd, buf, sizeof buf - 1));
    if (n <= 0)
        return false;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return false;
    p++;
    while (*p == ' ')
        p++;
    if (!*p)
        return false;
    p++; /* field 3, the state: one letter */
    /* Then 4 (ppid), 14-17 (utime stime cutime cstime), 20 (num_threads). */
    uint64_t ticks = 0;
    for (int field = 4; field <= 20; field++) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p)
            return false;
        uint64_t u = v < 0 ? 0 : (uint64_t)v; /* never negative; a bad line counts nothing */
        if (field == 4)
            out->ppid = (pid_t)v;
        else if (field >= 14 && field <= 17)
            ticks += u;
        else if (field == 20)
            out->threads = u;
        p = end;
    }
    out->ticks = ticks;
    return true;
}

/* Resident bytes from VmRSS in /proc/PID/status: the rss of /proc/PID/stat
 * is the kernel's per-CPU approximation, which says 0 for small processes. */
static uint64_t read_rss(int proc_fd, pid_t pid)
{
    char path[64];
    static char buf[4096];
    fmt_bounded(path, "%d/status", (int)pid);
    autoclose int fd = TEMP_FAILURE_RETRY(openat(proc_fd, path, O_RDONLY | O_CLOEXEC));
    if (fd < 0)
        return 0;
    ssize_t n = TEMP_FAILURE_RETRY(read(fd, buf, sizeof buf - 1));
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *line = strstr(buf, "\nVmRSS:");
    if (!line)
        return 0; /* a kernel thread, or a zombie */
    long long kib = strtoll(line + strlen("\nVmRSS:"), NULL, 10);
    return kib > 0 ? (uint64_t)kib * 1024 : 0;
}

static int by_pid(const void *a, const void *b)
{
    pid_t x = ((const struct proc_entry *)a)->pid, y = ((const struct proc_entry *)b)->pid;
    return (x > y) - (x < y);
}

static struct proc_entry *find(struct proc_entry *all, size_t n, pid_t pid)
{
    struct proc_entry key = {.pid = pid};
    return bsearch(&key, all, n, sizeof *all, by_pid);
}

void stats_collect(bool whole, struct sandbox_stats *out)
{
    memset(out, 0, sizeof *out);
    DIR *proc = opendir("/proc");
    if (!proc)
        return;
    struct proc_entry *all = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(proc))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        if (!array_reserve(&all, &cap, n, sizeof *all, 64))
            break;
        struct proc_entry pe = {.pid = (pid_t)pid};
        if (read_stat(dirfd(proc), pe.pid, &pe))
            all[n++] = pe;
    }

    /* Not PID 1 (a test, or an agent beside others): only our own tree. */
    if (!whole && n) {
        qsort(all, n, sizeof *all, by_pid);
        struct proc_entry *self = find(all, n, getpid());
        if (self)
            self->counted = true;
        for (bool grew = true; grew;) {
            grew = false;
            for (size_t i = 0; i < n; i++) {
                if (all[i].counted)
                    continue;
                struct proc_entry *parent = find(all, n, all[i].ppid);
                if (parent && parent->counted)
                    all[i].counted = grew = true;
            }
        }
    }

    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        hz = 100;
    for (size_t i = 0; i < n; i++) {
        if (!whole && !all[i].counted)
            continue;
        out->pids += all[i].threads;
        out->memory += read_rss(dirfd(proc), all[i].pid);
        out->cpu_usec += all[i].ticks * 1000000u / (uint64_t)hz;
    }
    closedir(proc);
    free(all);
}
