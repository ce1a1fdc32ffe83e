/* Starting a run with vfork + execve, and signalling its processes. */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "agent/agent.h"
#include "drivers/native/landlock.h"
#include "tools/tools.h"
#include "base/cpu_stay.h"
#include "base/proctag.h"
#include "base/util.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define RUN_TAG "HUTCH_RUN="

struct rlimit run_nofile = {RLIM_INFINITY, RLIM_INFINITY};

/* Everything the vfork child needs, prepared before it exists: it may not
 * allocate (it shares the agent's memory and heap). */
struct exec_plan {
    char **argv, **envp;
    const char *path; /* the request's PATH, or the default */
    const char *cwd;  /* NULL: the agent's own */
    const int *fds;
    uint64_t file_size;
    bool tty;
    const struct cpu_stay *cpus; /* the agent's CPUs, given back before the exec */
};

enum stage {
    STAGE_NONE,
    STAGE_SETSID,
    STAGE_FDS,
    STAGE_TTY,
    STAGE_CONFINE,
    STAGE_RLIMIT,
    STAGE_CWD,
    STAGE_EXEC,
};

/* Written by the vfork child (which shares our memory) before it exits. */
static volatile struct {
    int stage, err;
} child_failure;

/* ---- the child ----------------------------------------------------------------- */

/* execvp's search, but through the request's PATH rather than ours. */
static void exec_search(const struct exec_plan *p)
{
    const char *file = p->argv[0];
    if (!*file) {
        errno = ENOENT;
        return;
    }
    if (strchr(file, '/')) {
        execve(file, p->argv, p->envp);
        return;
    }
    size_t flen = strlen(file);
    if (flen > NAME_MAX) {
        errno = ENAMETOOLONG;
        return;
    }
    char buf[PATH_MAX + NAME_MAX + 2];
    bool denied = false;
    for (const char *dir = p->path;;) {
        const char *end = strchrnul(dir, ':');
        size_t dlen = (size_t)(end - dir);
        if (dlen < PATH_MAX) {
            /* An empty entry is the working directory. */
            memcpy(buf, dir, dlen);
            size_t at = dlen;
            if (dlen)
                buf[at++] = '/';
            memcpy(buf + at, file, flen + 1);
            execve(buf, p->argv, p->envp);
            if (errno == EACCES)
                denied = true;
            else if (errno != ENOENT && errno != ENOTDIR)
                return;
        }
        if (!*end)
            break;
        dir = end + 1;
    }
    /* As execvp: a file found but not executable says so, else not found. */
    errno = denied ? EACCES : ENOENT;
}

static void __attribute__((noreturn)) child_fail(enum stage stage)
{
    child_failure.err = errno;
    child_failure.stage = stage;
    _exit(127);
}

static void close_from_3(void)
{
    if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
        return;
    struct rlimit rl;
    rlim_t max = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
    if (max > 65536)
        max = 65536;
    for (int fd = 3; fd < (int)max; fd++)
        (void)close(fd);
}

/* Runs in the vfork child: system calls only, no allocation, no return. */
static void __attribute__((noreturn)) child_exec(const struct exec_plan *p)
{
    /* Nothing of the agent's signal handling carries over: exec resets
     * handlers by itself, so only what the agent ignores (SIGPIPE) and its
     * mask need resetting. One call each: every system call here passes
     * the seccomp filter, and this is on the path of every command. */
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    (void)sigaction(SIGPIPE, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    /* A session and process group of its own: the run is signalled as one. */
    if (setsid() < 0)
        child_fail(STAGE_SETSID);
    /* Above 2 first, so that no dup2 overwrites a source still to be copied
     * (the agent keeps 0-2 open, but may have started without them). */
    int moved[3];
    for (int i = 0; i < 3; i++)
        if ((moved[i] = fcntl(p->fds[i], F_DUPFD, 3)) < 0)
            child_fail(STAGE_FDS);
    for (int i = 0; i < 3; i++)
        if (dup2(moved[i], i) < 0)
            child_fail(STAGE_FDS);
    if (p->tty && ioctl(0, TIOCSCTTY, 0) < 0)
        child_fail(STAGE_TTY);
    if (tool_commands_ruleset >= 0 && landlock_apply(tool_commands_ruleset) < 0)
        child_fail(STAGE_CONFINE);
    close_from_3();
    (void)setrlimit(RLIMIT_NOFILE, &run_nofile);
    if (p->file_size) {
        struct rlimit fs = {.rlim_cur = p->file_size, .rlim_max = p->file_size};
        if (setrlimit(RLIMIT_FSIZE, &fs) < 0)
            child_fail(STAGE_RLIMIT);
    }
    if (p->cwd && chdir(p->cwd) < 0)
        child_fail(STAGE_CWD);
    /* Before the exec: the command never runs, forks or reads its affinity
     * with the agent's pin (base/cpu_stay.h). */
    cpu_stay_release(p->cpus);
    exec_search(p);
    child_fail(STAGE_EXEC);
}

/* ---- the agent's side ------------------------------------------------------------ */

static bool is_tag_entry(struct agent_str s)
{
    return s.len >= strlen(RUN_TAG) && memcmp(s.s, RUN_TAG, strlen(RUN_TAG)) == 0;
}

/* One block with argv, envp and their strings: the request's environment
 * (its own HUTCH_RUN dropped) plus ours. */
static char *build_plan(const struct agent_msg *msg, const char *tag, struct exec_plan *p)
{
    size_t strings = strlen(tag) + 1;
    for (size_t i = 0; i < msg->nargs; i++)
        strings += msg->args[i].len + 1;
    for (size_t i = 0; i < msg->nenv; i++)
        strings += msg->env[i].len + 1;
    strings += msg->cwd.s ? msg->cwd.len + 1 : 0;
    /* Bounded by AGENT_MAX_BODY and the arg/env limits: no overflow. */
    size_t ptrs = (msg->nargs + 1 + msg->nenv + 2) * sizeof(char *);
    char *block = malloc(ptrs + strings);
    if (!block)
        return NULL;
    p->argv = (char **)(void *)block;
    p->envp = p->argv + msg->nargs + 1;
    char *s = block + ptrs;

    for (size_t i = 0; i < msg->nargs; i++) {
        p->argv[i] = s;
        memcpy(s, msg->args[i].s, msg->args[i].len);
        s += msg->args[i].len;
        *s++ = '\0';
    }
    p->argv[msg->nargs] = NULL;

    size_t n = 0;
    p->path = NULL;
    for (size_t i = 0; i < msg->nenv; i++) {
        if (is_tag_entry(msg->env[i]))
            continue; /* a run cannot pose as another */
        p->envp[n++] = s;
        memcpy(s, msg->env[i].s, msg->env[i].len);
        if (!p->path && msg->env[i].len >= 5 && memcmp(s, "PATH=", 5) == 0)
            p->path = s + 5;
        s += msg->env[i].len;
        *s++ = '\0';
    }
    p->envp[n++] = s;
    memcpy(s, tag, strlen(tag) + 1);
    s += strlen(tag) + 1;
    p->envp[n] = NULL;
    if (!p->path)
        p->path = DEFAULT_PATH;

    p->cwd = NULL;
    if (msg->cwd.s) {
        p->cwd = s;
        memcpy(s, msg->cwd.s, msg->cwd.len);
        s[msg->cwd.len] = '\0';
    }
    return block;
}

int run_start(struct run *r, const struct agent_msg *msg, int fds[3], struct run_failure *f)
{
    static unsigned long long counter;
    memset(r, 0, sizeof *r);
    r->held[0] = r->held[1] = -1;
    /* Both fit whatever the numbers: the compiler checks (fmt_bounded). */
    fmt_bounded(r->id, "%u.%llu", (unsigned)getpid(), ++counter);
    char tag[sizeof RUN_TAG + sizeof r->id];
    fmt_bounded(tag, RUN_TAG "%s", r->id);

    struct exec_plan plan = {.fds = fds, .file_size = msg->file_size, .tty = msg->tty};
    autofree char *block = build_plan(msg, tag, &plan);
    if (!block) {
        for (int i = 0; i < 3; i++)
            close_fd(&fds[i]);
        *f = (struct run_failure){.kind = AE_SYSTEM, .err = ENOMEM, .step = "allocate"};
        return -1;
    }

    child_failure.stage = STAGE_NONE;
    child_failure.err = 0;
    /* The child starts on the agent's CPU instead of waking an idle one,
     * and so does the agent's wake-up at its exit (base/cpu_stay.h). */
    struct cpu_stay stay;
    cpu_stay_here(&stay);
    plan.cpus = &stay;
    /* vfork: the agent waits only for the exec, and copies no page tables. */
    pid_t pid = vfork();
    if (pid == 0)
        child_exec(&plan);
    int fork_errno = errno;
    cpu_stay_release(&stay);
    close_fd(&fds[0]);
    bool started = pid > 0 && child_failure.stage == STAGE_NONE;
    for (int i = 1; i < 3; i++) {
        if (started)
            r->held[i - 1] = steal_fd(&fds[i]);
        else
            close_fd(&fds[i]);
    }
    if (pid < 0) {
        *f = (struct run_failure){.kind = AE_SYSTEM, .err = fork_errno, .step = "vfork"};
        return -1;
    }
    if (child_failure.stage != STAGE_NONE) {
        int status;
        (void)TEMP_FAILURE_RETRY(waitpid(pid, &status, 0));
        static const char *const steps[] = {
            [STAGE_SETSID] = "setsid",
            [STAGE_FDS] = "put the passed descriptors on 0-2",
            [STAGE_TTY] = "make fd 0 the controlling terminal",
            [STAGE_CONFINE] = "confine the command with Landlock",
            [STAGE_RLIMIT] = "set the file size limit",
        };
        enum stage stage = (enum stage)child_failure.stage;
        *f = (struct run_failure){
            .kind = stage == STAGE_CWD    ? AE_CWD
                    : stage == STAGE_EXEC ? AE_EXEC
                                          : AE_SYSTEM,
            .err = child_failure.err,
            .step = stage < ARRAY_SIZE(steps) ? steps[stage] : NULL,
        };
        return -1;
    }
    r->pid = pid;
    r->grace_ms = msg->grace_ms;
    if (msg->timeout_ms)
        r->term_at = monotonic_ms() + (double)msg->timeout_ms;
    return 0;
}

/* ---- signalling ------------------------------------------------------------------ */

void run_signal(const struct run *r, int sig)
{
    if (r->pid <= 0)
        return;
    (void)kill(-r->pid, sig);
    char entry[sizeof RUN_TAG + sizeof r->id];
    fmt_bounded(entry, RUN_TAG "%s", r->id);
    proctag_signal(entry, sig);
}

static int ms_until(double at, double now)
{
    double d = at - now;
    return d <= 0 ? 0 : d > 1e9 ? 1000000000 : (int)d + 1;
}

int run_tick(struct run *r, double now)
{
    if (r->term_at && now >= r->term_at) {
        r->term_at = 0;
        r->timed_out = true;
        run_signal(r, SIGTERM);
        r->kill_at = now + (double)r->grace_ms;
    }
    if (r->kill_at && now >= r->kill_at) {
        r->kill_at = 0;
        run_signal(r, SIGKILL);
    }
    int next = -1;
    if (r->term_at)
        next = ms_until(r->term_at, now);
    if (r->kill_at) {
        int k = ms_until(r->kill_at, now);
        next = next < 0 || k < next ? k : next;
    }
    return next;
}
