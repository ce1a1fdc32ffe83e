#include "drivers/native/sandbox.h"

#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "drivers/native/caps.h"
#include "drivers/native/groups.h"
#include "drivers/native/landlock.h"
#include "drivers/native/mounts.h"
#include "drivers/native/seccomp.h"
#include "drivers/native/setup.h"
#include "base/supervise.h"

/* The fds the sandbox's processes keep while setting up. */
#define STATUS_FD SETUP_STATUS_FD
#define REPORT_FD SETUP_REPORT_FD
#define CANCEL_FD 5 /* one-shot runs: the sync socket, where later bytes are cancels */
#define INIT_BINARY_FD 6 /* one-shot runs: hutch-init, which init becomes */
#define BUILT_FD 7       /* hutch-init with a proxy: the built pipe (reap.c) */

/* The sandbox's processes run on stacks AddressSanitizer does not know of:
 * its bookkeeping before every noreturn call (exit, exec's failure path,
 * the functions below that never return) would take them for an overflow
 * of the caller's stack and print a warning into the command's stderr.
 * The functions of this file that run there are left uninstrumented;
 * whatever they call is checked as usual. */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_UNDER_ASAN 1
#endif
#endif
#ifdef SANDBOX_UNDER_ASAN
#include <sanitizer/asan_interface.h>
#define SANDBOX_SIDE __attribute__((no_sanitize_address))
/* The checked functions those processes call mark their frames' red zones
 * in the caller's shadow memory, and a process that execs never unwinds
 * to clear them: the next stacks mapped at the same address would start
 * with stale marks and the first large local there would be reported as
 * an underflow (it was, in CI). The stacks' shadow is cleared whenever
 * they are mapped or unmapped. */
#define STACKS_FORGET_FRAMES(base, len) __asan_unpoison_memory_region((base), (len))
#else
#define SANDBOX_SIDE
#define STACKS_FORGET_FRAMES(base, len) ((void)(base), (void)(len))
#endif

/* init and the command's process each run on one of these, in the caller's
 * memory, until they exec. Setup's deepest path (the command's exec with a
 * PATH search, Landlock's path walk) needs a few pages; what is not touched
 * costs nothing. */
#define CHILD_STACK_SIZE (256 * 1024)

/* ---- the command (PID 2 inside) ------------------------------------------- */

static int set_limit(int resource, uint64_t value)
{
    struct rlimit rl = {.rlim_cur = value, .rlim_max = value};
    return setrlimit(resource, &rl);
}

/* execvp with the command's environment: the PATH searched is envp's, as
 * if environ were envp. environ itself is the caller's, shared with this
 * process until exec, and stays as it is. Same search as musl's execvp:
 * EACCES is kept when a later entry is missing, any other error stops. */
static int exec_in_env(char *const argv[], char *const envp[])
{
    const char *file = argv[0];
    if (strchr(file, '/'))
        return execve(file, argv, envp);
    const char *path = "/usr/local/bin:/bin:/usr/bin";
    for (char *const *e = envp; *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0)
            path = *e + 5;
    bool seen_eacces = false;
    char candidate[PATH_MAX];
    for (const char *p = path;;) {
        const char *end = strchrnul(p, ':');
        size_t dir_len = (size_t)(end - p);
        if (dir_len + 1 + strlen(file) < sizeof candidate) {
            memcpy(candidate, p, dir_len);
            /* An empty entry is the current directory. */
            char *name = candidate + dir_len;
            if (dir_len)
                *name++ = '/';
            memcpy(name, file, strlen(file) + 1);
            execve(candidate, argv, envp);
            if (errno == EACCES)
                seen_eacces = true;
            else if (errno != ENOENT && errno != ENOTDIR)
                return -1;
        }
        if (!*end)
            break;
        p = end + 1;
    }
    errno = seen_eacces ? EACCES : ENOENT;
    return -1;
}

SANDBOX_SIDE static void __attribute__((noreturn)) command_main(const struct sandbox_spec *spec)
{
    /* A session of its own: no controlling terminal to inject input into. */
    if (setsid() < 0) {
        setup_fail(STATUS_FD, STAGE_COMMAND_FAILED, errno, "setsid");
        _exit(127);
    }
    /* init reset every disposition before starting us; only the mask remains. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        setup_fail(STATUS_FD, STAGE_COMMAND_FAILED, errno, "set no_new_privs");
        _exit(127);
    }
    const struct plan *pl = spec->plan;
    if (landlock_lock_down(spec->landlock_abi, (const char *const *)pl->writable_dirs.items,
                           pl->writable_dirs.len, (const char *const *)pl->writable_files.items,
                           pl->writable_files.len) < 0) {
        setup_fail(STATUS_FD, STAGE_COMMAND_FAILED, errno, "apply the Landlock ruleset");
        _exit(127);
    }
    if (caps_drop_all() < 0) {
        setup_fail(STATUS_FD, STAGE_COMMAND_FAILED, errno, "drop capabilities");
        _exit(127);
    }
    if (set_limit(RLIMIT_CORE, 0) < 0 ||
        (spec->rlimit_nproc && set_limit(RLIMIT_NPROC, spec->rlimit_nproc) < 0) ||
        (spec->rlimit_as && set_limit(RLIMIT_AS, spec->rlimit_as) < 0) ||
        (spec->rlimit_fsize && set_limit(RLIMIT_FSIZE, spec->rlimit_fsize) < 0)) {
        setup_fail(STATUS_FD, STAGE_COMMAND_FAILED, errno, "set resource limits");
        _exit(127);
    }
    if (chdir(spec->workdir) < 0) {
        setup_fail(STATUS_FD, STAGE_WORKDIR, errno, "%s", spec->workdir);
        _exit(127);
    }
    if (seccomp_lock_down() < 0) {
        setup_fail(STATUS_FD, STAGE_COMMAND_FAILED, errno, "load the seccomp filter");
        _exit(127);
    }
    exec_in_env(spec->argv, spec->envp);
    setup_fail(STATUS_FD, STAGE_EXEC, errno, "%s", spec->argv[0]);
    _exit(127);
}

/* ---- init (PID 1 inside) --------------------------------------------------- */

/* Credentials change through the raw system calls: libc's wrappers would
 * apply the change to every thread of the caller, whose memory (and, to
 * libc, whose thread list) init shares. */
static int set_no_groups(void)
{
    return (int)syscall(SYS_setgroups, 0, NULL);
}

static int set_ids(uid_t uid, gid_t gid)
{
    if (syscall(SYS_setresgid, gid, gid, gid) < 0)
        return -1;
    return (int)syscall(SYS_setresuid, uid, uid, uid);
}

/* The namespace maps only the sandbox's user: switch to it, keeping the
 * namespace's capabilities for the mounts. In the nested mode the first
 * namespace maps every id onto itself, so that setup reads the host with
 * root's reach (bind sources in 0700 directories); init stays uid 0 there
 * until nest_user_namespace(). */
static int switch_user_keeping_caps(uid_t uid, gid_t gid)
{
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || set_ids(uid, gid) < 0 ||
        caps_raise_effective() < 0)
        return -1;
    return prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
}

static int become_setup_user(const struct sandbox_spec *spec, bool drop_groups)
{
    /* root's groups, or the caller's where newgidmap left setgroups allowed
     * (groups.h): none of them reach the sandbox. */
    if ((spec->userns != USERNS_CALLER || drop_groups) && set_no_groups() < 0)
        return -1;
    if (spec->userns == USERNS_ROOT_NESTED)
        return 0;
    return switch_user_keeping_caps(spec->uid, spec->gid);
}

/* A change of uid clears the parent-death signal set at the start, so a
 * hutch killed after it would leave the sandbox running with no timeout and
 * no one to stop it. Set it again after the last change, then look whether
 * hutch died in between: nobody reads the status pipe then. */
SANDBOX_SIDE static void stay_tied_to_hutch(void)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        _exit(1);
    struct pollfd pfd = {.fd = STATUS_FD, .events = POLLOUT};
    if (TEMP_FAILURE_RETRY(poll(&pfd, 1, 0)) > 0 && (pfd.revents & (POLLERR | POLLHUP)))
        _exit(1);
}

/* As root, after setup: become the sandbox's user, then enter a nested user
 * namespace that maps that user alone. Host root and every other id are
 * unrepresentable there, whatever the command later manages to do. */
static int nest_user_namespace(const struct sandbox_spec *spec)
{
    char map[32];
    /* The uid change made us undumpable, which would leave the id maps in /proc/self
     * owned by root; the maps are ours to write. */
    if (set_ids(spec->uid, spec->gid) < 0 || unshare(CLONE_NEWUSER) < 0 ||
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
        return -1;
    fmt_bounded(map, "%u %u 1\n", (unsigned)spec->uid, (unsigned)spec->uid);
    if (write_file_text("/proc/self/uid_map", map) < 0 ||
        write_file_text("/proc/self/setgroups", "deny") < 0)
        return -1;
    fmt_bounded(map, "%u %u 1\n", (unsigned)spec->gid, (unsigned)spec->gid);
    return write_file_text("/proc/self/gid_map", map);
}

/* A session's agent socket, made while its directory is still writable,
 * which it then stops being for every process of the sandbox. */
static int bind_agent_socket(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0); /* no close-on-exec: for hutch-init */
    if (fd < 0)
        return -1;
    (void)unlink(path); /* an earlier agent's */
    mode_t old = umask(0177);
    int r = bind(fd, (struct sockaddr *)&addr, sizeof addr);
    umask(old);
    if (r == 0)
        r = listen(fd, 128);
    if (r == 0 && fd != SANDBOX_AGENT_FD) {
        r = dup2(fd, SANDBOX_AGENT_FD) < 0 ? -1 : 0;
        int saved = errno;
        close(fd);
        errno = saved;
    }
    if (r < 0)
        return -1;
    char dir[PATH_MAX];
    if (!fmt_fits(dir, sizeof dir, "%s", path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    *strrchr(dir, '/') = '\0';
    return mounts_seal_read_only(dir);
}

static int loopback_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct ifreq ifr = {0};
    fmt_bounded(ifr.ifr_name, "lo");
    int r = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (r == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        r = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return r;
}

/* Puts the command's stdio at 0, 1, 2, the status and report pipes at 3
 * and 4 and, in a one-shot run (cancel not -1), the cancel socket at 5 and
 * hutch-init at 6, all close-on-exec; closes every other fd inherited from
 * the caller. */
static int arrange_fds(const struct sandbox_spec *spec, int status, int report, int cancel)
{
    /* Every source out of the way first: any of them may sit where another
     * one goes. */
    int in = fcntl(spec->stdin_fd, F_DUPFD_CLOEXEC, 10);
    int out = fcntl(spec->stdout_fd, F_DUPFD_CLOEXEC, 10);
    int errfd = fcntl(spec->stderr_fd, F_DUPFD_CLOEXEC, 10);
    int st = fcntl(status, F_DUPFD_CLOEXEC, 10);
    int rep = fcntl(report, F_DUPFD_CLOEXEC, 10);
    int can = cancel < 0 ? -1 : fcntl(cancel, F_DUPFD_CLOEXEC, 10);
    int binary = cancel < 0 ? -1 : fcntl(spec->init_binary_fd, F_DUPFD_CLOEXEC, 10);
    if (in < 0 || out < 0 || errfd < 0 || st < 0 || rep < 0 ||
        (cancel >= 0 && (can < 0 || binary < 0)))
        return -1;
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0 ||
        dup3(st, STATUS_FD, O_CLOEXEC) < 0 || dup3(rep, REPORT_FD, O_CLOEXEC) < 0)
        return -1;
    if (cancel < 0)
        return (int)syscall(SYS_close_range, REPORT_FD + 1, ~0U, 0);
    if (dup3(can, CANCEL_FD, O_CLOEXEC) < 0 || dup3(binary, INIT_BINARY_FD, O_CLOEXEC) < 0)
        return -1;
    return (int)syscall(SYS_close_range, INIT_BINARY_FD + 1, ~0U, 0);
}

/* The signal hutch was cancelled with while the sandbox was being set up,
 * or 0. */
static int cancel_requested(void)
{
    struct pollfd pfd = {.fd = CANCEL_FD, .events = POLLIN};
    unsigned char sig;
    if (TEMP_FAILURE_RETRY(poll(&pfd, 1, 0)) == 1 && (pfd.revents & POLLIN) &&
        TEMP_FAILURE_RETRY(read(CANCEL_FD, &sig, 1)) == 1)
        return sig;
    return 0;
}

/* What init is started with; it lives in sandbox_start()'s frame, which
 * outlasts every use of the caller's memory by the sandbox's processes. */
struct init_start {
    const struct sandbox_spec *spec;
    int sync_fd, status_fd, report_fd;
    int parent_ends[3]; /* the parent's ends, in init's copy of the fd table */
    char *setup_stack;  /* top of the stack of a one-shot run's PID 2 */
};

/* What PID 1 does first, in both kinds of sandbox: from the go-ahead to
 * the sandbox's user, fds, cgroup namespace and hostname. */
SANDBOX_SIDE static void init_prepare(const struct sandbox_spec *spec,
                                      const struct init_start *start)
{
    int sync_fd = start->sync_fd, status_fd = start->status_fd;
    for (size_t i = 0; i < ARRAY_SIZE(start->parent_ends); i++)
        close(start->parent_ends[i]);
    /* Nothing before the go-ahead: the parent writes the id maps meanwhile,
     * and the two share memory (errno included). */
    char go; /* 'g', or 'G': the gid map lets us drop the caller's groups */
    if (TEMP_FAILURE_RETRY(read(sync_fd, &go, 1)) != 1)
        _exit(1); /* the parent gave up */
    /* The caller's signal handlers and ignored signals mean nothing here. */
    for (int sig = 1; sig < 64; sig++)
        if (spec->changed_signals & (1ULL << (sig - 1)))
            signal(sig, SIG_DFL);
    /* Nothing run in the sandbox ever needs the bounding set: emptied once
     * here, for every process of the sandbox. The capabilities setup uses
     * are in the permitted and effective sets, which this leaves alone. A
     * nested user namespace starts with a full set again: caps_drop_all()
     * empties that one. */
    if (caps_drop_bounding() < 0) {
        setup_fail(status_fd, STAGE_INIT_FAILED, errno, "empty the capability bounding set");
        _exit(1);
    }
    if (spec->new_net && loopback_up() < 0) {
        setup_fail(status_fd, STAGE_INIT_FAILED, errno, "bring up loopback");
        _exit(1);
    }
    /* A one-shot run's sync socket stays: hutch sends a cancel on it. */
    if (spec->command_is_init)
        close(sync_fd);
    if (arrange_fds(spec, status_fd, start->report_fd, spec->command_is_init ? -1 : sync_fd) < 0) {
        setup_fail(status_fd, STAGE_INIT_FAILED, errno, "arrange file descriptors");
        _exit(1);
    }
    prctl(PR_SET_NAME, "hutch-init", 0, 0, 0);
    if (become_setup_user(spec, go == 'G') < 0) {
        setup_fail(STATUS_FD, STAGE_INIT_FAILED, errno, "switch to uid %u gid %u",
                   (unsigned)spec->uid, (unsigned)spec->gid);
        _exit(1);
    }
    if (spec->cgroup && spec->cgroup->version != CGROUP_NONE && unshare(CLONE_NEWCGROUP) < 0) {
        setup_fail(STATUS_FD, STAGE_INIT_FAILED, errno, "create the cgroup namespace");
        _exit(1);
    }
    if (sethostname("hutch", 5) < 0) {
        setup_fail(STATUS_FD, STAGE_INIT_FAILED, errno, "set the hostname");
        _exit(1);
    }
}

/* The filesystem, a session's agent socket and, for root, the nested user
 * namespace: what the command needs around it. */
SANDBOX_SIDE static void build_sandbox(const struct sandbox_spec *spec)
{
    if (mounts_apply(spec->plan, STATUS_FD) < 0)
        _exit(1);
    if (spec->agent_socket && bind_agent_socket(spec->agent_socket) < 0) {
        setup_fail(STATUS_FD, STAGE_INIT_FAILED, errno, "make the agent's socket %s",
                   spec->agent_socket);
        _exit(1);
    }
    if (spec->userns == USERNS_ROOT_NESTED && nest_user_namespace(spec) < 0) {
        setup_fail(STATUS_FD, STAGE_INIT_FAILED, errno,
                   "enter a user namespace for uid %u gid %u", (unsigned)spec->uid,
                   (unsigned)spec->gid);
        _exit(1);
    }
}

/* PID 2 of a one-shot run: builds the sandbox, then becomes the command.
 * PID 1 meanwhile becomes hutch-init. Two pipes order them:
 *  - built: with a proxy, PID 2 closes its write end once the sandbox is
 *    built; hutch-init starts the bridge only then, so that the bridge's
 *    root is the sandbox's (a process forked while pivot_root runs may
 *    keep the old one).
 *  - release: PID 2 waits for end of file on it before the command runs.
 *    It comes once PID 1 is hutch-init (its exec closes the write end: PID
 *    1 no longer shows hutch's memory, command line included, to anyone)
 *    and, with a proxy, once the bridge listens (the command's first
 *    connection must not find the ports closed). */
struct setup_start {
    const struct sandbox_spec *spec;
    int release_read, release_write, built_read, built_write; /* built: -1 without a proxy */
};

SANDBOX_SIDE static int setup_entry(void *arg)
{
    const struct setup_start *start = arg;
    const struct sandbox_spec *spec = start->spec;
    int release = start->release_read, built = start->built_write;
    /* This process's copies of PID 1's ends. */
    close(start->release_write);
    if (start->built_read >= 0)
        close(start->built_read);
    build_sandbox(spec);
    if (built >= 0)
        close(built);
    char byte;
    while (read(release, &byte, 1) < 0 && errno == EINTR)
        ;
    close(release);
    /* hutch sends no signal before hutch-init reported (a namespace's
     * init would not get it, having no handler): it cancels through
     * CANCEL_FD, read last thing before the command starts, and forwards
     * the signal itself when it came too late for that. */
    int cancelled = cancel_requested();
    if (cancelled) {
        struct setup_message m = {.stage = STAGE_CANCELLED, .err = cancelled};
        (void)!write(STATUS_FD, &m, sizeof m);
        _exit(0);
    }
    command_main(spec);
}

/* PID 1 of a one-shot run, once PID 2 exists: execs hutch-init --reap
 * (src/agent/reap.c), which starts the network bridge, forwards signals,
 * reaps, and reports the command's status on REPORT_FD. It does so in
 * parallel with PID 2's setup, and holds nothing of the caller's memory:
 * by the time the command runs, PID 1 is no process in hutch's memory.
 * PID 2 checks errno (EEXIST and the like) as it goes, and the two share
 * it: nothing here fails by design (the bounding set, whose reading ends
 * in EINVAL, was emptied before PID 2 existed). */
SANDBOX_SIDE static void __attribute__((noreturn))
become_reaper(const struct sandbox_spec *spec, pid_t command, const struct setup_start *fds)
{
    char command_pid[16], name[] = "hutch-init", mode[] = "--reap";
    fmt_bounded(command_pid, "%d", (int)command);
    char *argv[] = {name, mode, command_pid, (char *)spec->proxy_socket, NULL};
    char *envp[] = {NULL};
    /* Not host root, not the caller's groups, no capability, and no
     * privilege any exec could give; the status and report pipes and, with
     * a proxy, the release pipe's write end at 5 and the built pipe's read
     * end at 7 (reap.c), nothing else. */
    bool proxy = spec->proxy_socket;
    if ((spec->userns != USERNS_ROOT_NESTED ||
         switch_user_keeping_caps(spec->uid, spec->gid) == 0) &&
        dup3(fds->release_write, CANCEL_FD, proxy ? 0 : O_CLOEXEC) == CANCEL_FD &&
        (!proxy || dup3(fds->built_read, BUILT_FD, 0) == BUILT_FD) &&
        fcntl(STATUS_FD, F_SETFD, 0) == 0 &&
        fcntl(REPORT_FD, F_SETFD, 0) == 0 && close(0) == 0 && close(1) == 0 && close(2) == 0 &&
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && caps_drop_all_but_bounding() == 0 &&
        syscall(SYS_close_range, proxy ? BUILT_FD + 1 : INIT_BINARY_FD + 1, ~0U, 0) == 0) {
        /* The uid change cleared it. */
        stay_tied_to_hutch();
        syscall(SYS_execveat, INIT_BINARY_FD, "", argv, envp, AT_EMPTY_PATH);
    }
    int e = errno;
    (void)kill(-1, SIGKILL); /* the command must not run without its PID 1 */
    setup_fail(STATUS_FD, STAGE_INIT_FAILED, e, "become hutch-init, the sandbox's PID 1");
    _exit(1);
}

SANDBOX_SIDE static void __attribute__((noreturn)) init_main(const struct init_start *start)
{
    const struct sandbox_spec *spec = start->spec;
    init_prepare(spec, start);
    /* If hutch dies, so does the sandbox (a session's outlives it). */
    if (!spec->command_is_init)
        stay_tied_to_hutch();

    /* A session's agent is PID 1 itself: it reaps and serves from then on. */
    if (spec->command_is_init) {
        build_sandbox(spec);
        command_main(spec);
    }

    /* pivot_root moves whoever is at the old root along into the new one:
     * PID 1 too, from here. */
    if (chdir("/") < 0) {
        setup_fail(STATUS_FD, STAGE_INIT_FAILED, errno, "enter /");
        _exit(1);
    }
    /* Both pipes above the fds arrange_fds() keeps: 7 and up, which the
     * dups of become_reaper() below 8 cannot clobber. */
    int release[2], built[2] = {-1, -1};
    if (pipe2(release, O_CLOEXEC) < 0 || (spec->proxy_socket && pipe2(built, O_CLOEXEC) < 0)) {
        setup_fail(STATUS_FD, STAGE_INIT_FAILED, errno, "start the command's process");
        _exit(1);
    }
    struct setup_start setup = {spec, release[0], release[1], built[0], built[1]};
    pid_t command = clone(setup_entry, start->setup_stack, CLONE_VM | SIGCHLD, &setup);
    if (command < 0) {
        setup_fail(STATUS_FD, STAGE_INIT_FAILED, errno, "start the command's process");
        _exit(1);
    }
    become_reaper(spec, command, &setup);
}

SANDBOX_SIDE static int init_entry(void *arg)
{
    init_main(arg);
}

/* The hex mask after "\nNAME:\t" in a /proc/PID/status text. */
static bool status_mask(const char *text, const char *name, uint64_t *mask)
{
    char key[16];
    if (!fmt_fits(key, sizeof key, "\n%s:\t", name))
        return false;
    const char *at = strstr(text, key);
    if (!at)
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(at + strlen(key), &end, 16);
    if (errno != 0 || end == at + strlen(key) || *end != '\n')
        return false;
    *mask = v;
    return true;
}

/* Of the signals in candidates (bit N-1: signal N), those the C library
 * says are caught or ignored. It refuses to answer for the ones it keeps
 * for itself (glibc's and musl's thread signals, 32-34): those are left
 * out, as they are out of reach of signal() too. */
static uint64_t changed_among(uint64_t candidates)
{
    uint64_t mask = 0;
    for (int sig = 1; sig < 64; sig++) {
        struct sigaction sa;
        if (!(candidates & (1ULL << (sig - 1))) || sig == SIGKILL || sig == SIGSTOP ||
            sigaction(sig, NULL, &sa) < 0)
            continue;
        if (sa.sa_handler != SIG_DFL)
            mask |= 1ULL << (sig - 1);
    }
    return mask;
}

/* Caught or ignored is what the kernel lists as SigCgt and SigIgn: one
 * read, then sigaction() for those few only, where asking it about each
 * signal is 61 system calls (about 50 us on the benchmark VM, docs/bench.md
 * run 7). All 61 when /proc cannot say (not mounted, another pid
 * namespace's). */
uint64_t sandbox_changed_signals(void)
{
    char text[4096];
    ssize_t n = -1;
    int fd = TEMP_FAILURE_RETRY(open_cloexec("/proc/self/status", O_RDONLY));
    if (fd >= 0) {
        n = TEMP_FAILURE_RETRY(read(fd, text, sizeof text - 1));
        close(fd);
    }
    uint64_t caught, ignored;
    if (n > 0) {
        text[n] = '\0';
        if (status_mask(text, "SigCgt", &caught) && status_mask(text, "SigIgn", &ignored))
            return changed_among(caught | ignored);
    }
    return changed_among(UINT64_MAX);
}

static int write_proc_file(pid_t pid, const char *file, const char *text)
{
    char path[64];
    if (!fmt_fits(path, sizeof path, "/proc/%d/%s", (int)pid, file)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return write_file_text(path, text);
}

/* Writes the id maps; *dropping tells whether the caller's supplementary
 * groups are to be dropped inside (groups.h). */
static int map_ids(const struct sandbox_spec *spec, pid_t pid, bool *dropping, hutch_error *err)
{
    *dropping = false;
    char map[64];
    if (spec->userns == USERNS_ROOT_NESTED) {
        /* Every id onto itself for setup; see become_setup_user(). */
        if (write_proc_file(pid, "uid_map", "0 0 4294967295\n") < 0 ||
            write_proc_file(pid, "gid_map", "0 0 4294967295\n") < 0)
            return error_sys(err, errno, "cannot write the sandbox's id maps");
        return 0;
    }
    fmt_bounded(map, "%u %u 1\n", (unsigned)spec->uid, (unsigned)spec->outside_uid);
    if (write_proc_file(pid, "uid_map", map) < 0)
        return error_sys(err, errno, "cannot map uid %u to %u in the sandbox's user namespace",
                         (unsigned)spec->uid, (unsigned)spec->outside_uid);
    if (spec->userns == USERNS_CALLER && groups_held()) {
        *dropping = true;
        return groups_map_dropping(pid, spec->gid, spec->outside_gid, err);
    }
    /* Unprivileged mappings require setgroups to be disabled first. */
    if (spec->userns == USERNS_CALLER && write_proc_file(pid, "setgroups", "deny") < 0)
        return error_sys(err, errno, "cannot disable setgroups in the sandbox");
    fmt_bounded(map, "%u %u 1\n", (unsigned)spec->gid, (unsigned)spec->outside_gid);
    if (write_proc_file(pid, "gid_map", map) < 0)
        return error_sys(err, errno, "cannot map gid %u to %u in the sandbox's user namespace",
                         (unsigned)spec->gid, (unsigned)spec->outside_gid);
    return 0;
}

static int namespaces_unavailable(int e, hutch_error *err)
{
    const char *fix = "inside a container, its seccomp profile or missing privileges forbid "
                      "them: run hutch on the host, use --backend docker, or --fallback spawn";
    long v;
    if (read_sysctl("/proc/sys/user/max_user_namespaces", &v) == 0 && v == 0)
        fix = "raise user.max_user_namespaces with sysctl, or use --backend docker";
    else if (geteuid() != 0 &&
             read_sysctl("/proc/sys/kernel/unprivileged_userns_clone", &v) == 0 && v == 0)
        fix = "enable them with sysctl -w kernel.unprivileged_userns_clone=1, run hutch as root, "
              "or use --backend docker";
    else if (geteuid() != 0 &&
             read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", &v) == 0 &&
             v == 1)
        fix = "allow them with sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an "
              "AppArmor profile for hutch), run hutch as root, or use --backend docker";
    return error_set(err, HUTCH_E_UNSUPPORTED,
                     "cannot create the sandbox's namespaces (%s): user namespaces are not "
                     "available to this user; %s",
                     strerror(e), fix);
}

/* A cancel (a signal byte on cancel_fd) during setup goes to init over the
 * sync socket: init reads it last thing before it starts the command. */
static void pass_cancel(struct sandbox *sb, int *cancel_fd, int sync_fd)
{
    unsigned char sig;
    ssize_t got = TEMP_FAILURE_RETRY(read(*cancel_fd, &sig, 1));
    if (got == 1 && sig > 0 && sig < NSIG) {
        sb->cancelled = sig;
        (void)TEMP_FAILURE_RETRY(send(sync_fd, &sig, 1, MSG_NOSIGNAL | MSG_DONTWAIT));
        *cancel_fd = -1; /* one is enough; the rest wait for the command */
    } else if (got == 0 || (got < 0 && errno != EAGAIN)) {
        *cancel_fd = -1;
    }
}

static void read_messages(struct sandbox *sb, int status_fd, int sync_fd, int cancel_fd,
                          bool command_is_init)
{
    struct setup_message m;
    /* An init that became the command closed the pipe by executing it. */
    bool forked = command_is_init;
    for (;;) {
        if (cancel_fd >= 0) {
            struct pollfd pfd[2] = {{.fd = status_fd, .events = POLLIN},
                                    {.fd = cancel_fd, .events = POLLIN}};
            if (TEMP_FAILURE_RETRY(poll(pfd, 2, -1)) < 0)
                cancel_fd = -1;
            else if (pfd[1].revents)
                pass_cancel(sb, &cancel_fd, sync_fd);
            if (!pfd[0].revents)
                continue;
        }
        ssize_t n = TEMP_FAILURE_RETRY(read(status_fd, &m, sizeof m));
        if (n == 0)
            break;
        if (n != (ssize_t)sizeof m) {
            /* Records are written whole: anything else means the pipe is
             * not what it should be; stop the sandbox rather than guess. */
            forked = false;
            break;
        }
        if (m.stage == STAGE_FORKED) {
            forked = true;
            continue;
        }
        if (m.stage == STAGE_CANCELLED) {
            sb->failed_stage = STAGE_CANCELLED;
            sb->failed_errno = m.err;
            sb->cancelled = 0; /* nothing to forward: there is no command */
            return;
        }
        sb->failed_stage = m.stage;
        sb->failed_errno = m.err;
        m.what[sizeof m.what - 1] = '\0';
        memcpy(sb->failed_what, m.what, sizeof sb->failed_what);
        return;
    }
    if (!forked) {
        sb->failed_stage = STAGE_INIT_FAILED;
        sb->failed_errno = EPIPE;
        fmt_bounded(sb->failed_what, "the sandbox's init died");
    }
}

/* init's stack above the command's, each with an inaccessible page below
 * it: an overflow faults rather than writing into the caller's memory. */
struct child_stacks {
    char *base;
    size_t len;
};

static int child_stacks_map(struct child_stacks *st)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    st->len = 2 * (page + CHILD_STACK_SIZE);
    st->base = mmap(NULL, st->len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (st->base == MAP_FAILED) {
        st->base = NULL;
        return -1;
    }
    STACKS_FORGET_FRAMES(st->base, st->len);
    for (int i = 0; i < 2; i++)
        if (mprotect(st->base + i * (page + CHILD_STACK_SIZE) + page, CHILD_STACK_SIZE,
                     PROT_READ | PROT_WRITE) < 0)
            return -1;
    return 0;
}

static char *child_stack_top(const struct child_stacks *st, int which)
{
    return st->base + (size_t)(which + 1) * (st->len / 2);
}

static void child_stacks_unmap(struct child_stacks *st)
{
    if (st->base) {
        STACKS_FORGET_FRAMES(st->base, st->len);
        munmap(st->base, st->len);
    }
    st->base = NULL;
}

static void kill_and_collect(int pidfd)
{
    (void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
    siginfo_t si;
    /* init's exit waits for every other process of its namespace: once it
     * is collected, nothing runs on the stacks any more. */
    (void)TEMP_FAILURE_RETRY(waitid((idtype_t)3 /* P_PIDFD */, (id_t)pidfd, &si, WEXITED));
}

int sandbox_start(const struct sandbox_spec *spec, struct sandbox *sb, hutch_error *err)
{
    memset(sb, 0, sizeof *sb);
    sb->pidfd = sb->report_fd = -1;
    if (!spec->command_is_init && spec->init_binary_fd < 0)
        return error_set(err, HUTCH_E_INVALID, "a one-shot sandbox needs hutch-init");
    /* The id maps are written through /proc/<child>, and the child shares
     * our memory: while that memory is undumpable the kernel gives those
     * files to root. Making it dumpable would open the caller's memory to
     * every process of its uid, which it chose to close: refuse, and say so
     * (the kernel's own answer is a bare "Permission denied" on the map). */
    if (spec->userns == USERNS_CALLER && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0)
        return error_set(err, HUTCH_E_UNSUPPORTED,
                         "the native sandbox cannot be set up by a process that made itself "
                         "undumpable (prctl PR_SET_DUMPABLE 0) without root: the kernel then "
                         "hands the /proc files that set the sandbox's id maps to root; keep the "
                         "process dumpable while it calls hutch, run it as root, or use "
                         "--backend docker");
    int sync[2], status[2], report[2];
    /* A socket, not a pipe: a cancel sent after init closed it must not
     * raise SIGPIPE in the caller. */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync) < 0)
        return error_sys(err, errno, "cannot create a socket pair");
    if (pipe2(status, O_CLOEXEC) < 0) {
        int e = errno;
        close(sync[0]);
        close(sync[1]);
        return error_sys(err, e, "cannot create a pipe");
    }
    if (pipe2(report, O_CLOEXEC) < 0) {
        int e = errno;
        close(sync[0]);
        close(sync[1]);
        close(status[0]);
        close(status[1]);
        return error_sys(err, e, "cannot create a pipe");
    }
    struct child_stacks stacks = {0};
    if (child_stacks_map(&stacks) < 0) {
        int e = errno;
        child_stacks_unmap(&stacks);
        close(sync[0]);
        close(sync[1]);
        close(status[0]);
        close(status[1]);
        close(report[0]);
        close(report[1]);
        return error_sys(err, e, "cannot map the sandbox's setup stacks");
    }
    /* init's changes of uid change the dumpable flag of the memory it
     * shares with us; ours is put back once init has exec'd. */
    int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);

    struct init_start start = {
        .spec = spec,
        .sync_fd = sync[0],
        .status_fd = status[1],
        .report_fd = report[1],
        .parent_ends = {sync[1], status[0], report[0]},
        .setup_stack = child_stack_top(&stacks, 0),
    };
    int pidfd = -1;
    int flags = CLONE_VM | CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC |
                CLONE_NEWUTS | CLONE_PIDFD | (spec->new_net ? CLONE_NEWNET : 0) | SIGCHLD;
    pid_t pid = clone(init_entry, child_stack_top(&stacks, 1), flags, &start, &pidfd);
    int clone_errno = errno;
    close(sync[0]);
    close(status[1]);
    close(report[1]);
    if (pid < 0) {
        child_stacks_unmap(&stacks);
        close(sync[1]);
        close(status[0]);
        close(report[0]);
        if (clone_errno == EPERM || clone_errno == ENOSPC || clone_errno == EUSERS ||
            clone_errno == EACCES || clone_errno == ENOSYS)
            return namespaces_unavailable(clone_errno, err);
        return error_sys(err, clone_errno, "cannot create the sandbox's namespaces");
    }
    sb->pid = pid;
    sb->pidfd = pidfd;
    sb->report_fd = report[0];

    bool dropping;
    int r = map_ids(spec, pid, &dropping, err);
    if (r == 0 && spec->cgroup)
        r = cgroup_run_attach(spec->cgroup, pid, err);
    /* A cancel that came before goes along with the go-ahead. */
    sb->cancelled = cancel_pending(spec->cancel_fd);
    char go[2] = {dropping ? 'G' : 'g', (char)sb->cancelled};
    ssize_t go_len = sb->cancelled ? 2 : 1;
    if (r == 0 && TEMP_FAILURE_RETRY(send(sync[1], go, (size_t)go_len, MSG_NOSIGNAL)) != go_len)
        r = error_sys(err, errno, "cannot start the sandbox");
    if (r < 0) {
        close(sync[1]);
        close(status[0]);
        kill_and_collect(pidfd);
        child_stacks_unmap(&stacks);
        sandbox_close(sb);
        return -1;
    }
    read_messages(sb, status[0], sync[1], sb->cancelled ? -1 : spec->cancel_fd,
                  spec->command_is_init);
    close(sync[1]);
    close(status[0]);
    /* The command never ran: collect what is left. */
    if (sb->failed_stage)
        kill_and_collect(pidfd);
    /* End of file (or init collected): every process that ran on the stacks
     * has exec'd or is gone. */
    child_stacks_unmap(&stacks);
    if (dumpable >= 0 && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != dumpable)
        (void)prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
    return 0;
}

int sandbox_read_report(struct sandbox *sb, struct sandbox_report *report)
{
    if (sb->report_fd < 0)
        return -1;
    int flags = fcntl(sb->report_fd, F_GETFL);
    if (flags >= 0)
        (void)fcntl(sb->report_fd, F_SETFL, flags | O_NONBLOCK);
    ssize_t n = TEMP_FAILURE_RETRY(read(sb->report_fd, report, sizeof *report));
    return n == (ssize_t)sizeof *report ? 0 : -1;
}

/* Inits that returned early (detach_teardown) and still need reaping. A
 * library cannot leave zombies behind forever: each run reaps the finished
 * ones first. */
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t pending[64];
static size_t pending_len;

void sandbox_reap_later(pid_t init)
{
    pthread_mutex_lock(&pending_lock);
    if (pending_len < ARRAY_SIZE(pending)) {
        pending[pending_len++] = init;
        init = 0;
    }
    pthread_mutex_unlock(&pending_lock);
    if (init) { /* the list is full: wait for this one now */
        int status;
        (void)TEMP_FAILURE_RETRY(waitpid(init, &status, 0));
    }
}

void sandbox_reap_finished(void)
{
    pthread_mutex_lock(&pending_lock);
    size_t kept = 0;
    for (size_t i = 0; i < pending_len; i++) {
        int status;
        pid_t r = waitpid(pending[i], &status, WNOHANG);
        if (r == 0)
            pending[kept++] = pending[i];
    }
    pending_len = kept;
    pthread_mutex_unlock(&pending_lock);
}

void sandbox_close(struct sandbox *sb)
{
    close_fd(&sb->pidfd);
    close_fd(&sb->report_fd);
}
