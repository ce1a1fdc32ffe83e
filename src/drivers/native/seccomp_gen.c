/* Build-time tool: builds hutch's seccomp filter with libseccomp and writes
 * it as a C array (a compact program of the same verdicts, see "the filter
 * the sandbox loads" below), so starting a sandbox neither links libseccomp
 * nor compiles a filter. The filter is an allowlist, like Docker's default
 * profile, and at least as strict:
 *   - the architecture is checked: anything but the native one (i386 via
 *     int 0x80, x32 on x86_64) kills the process;
 *   - the syscalls Docker's default profile allows to unprivileged containers
 *     are allowed, minus ptrace, process_vm_* and io_uring (which bypasses
 *     syscall filtering); a few newer harmless ones are added;
 *   - syscalls known to be dangerous (namespaces, mounts, modules, kexec,
 *     keyrings, bpf, perf, clocks, ...) fail with EPERM; anything else not
 *     allowed fails with ENOSYS, so programs fall back gracefully;
 *   - clone may not create namespaces; clone3 fails with ENOSYS (its flags
 *     are in memory, out of the filter's reach) so libc falls back to clone;
 *   - the ioctls TIOCSTI (type into a terminal) and TIOCLINUX fail with
 *     EPERM; socket(AF_VSOCK) is refused; personality is limited to the
 *     values Docker allows.
 * Usage: seccomp_gen OUTPUT.h
 *        seccomp_gen --docker-profile OUTPUT.h (the same policy for docker, below) */
#include <errno.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "drivers/native/seccomp_gen.h"

static const char *const allowed[] = {
    "accept", "accept4", "access", "adjtimex", "alarm", "bind",
    "brk", "capget", "capset", "chdir", "chmod", "chown",
    "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64", "clock_gettime",
    "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range", "connect",
    "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create",
    "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
    "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit",
    "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown", "fchown32",
    "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr",
    "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64",
    "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64",
    "futex", "futex_time64", "futex_waitv", "futimesat", "getcpu", "getcwd",
    "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32",
    "getgid", "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername",
    "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
    "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
    "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid",
    "gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init",
    "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents", "io_pgetevents",
    "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "ipc",
    "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32",
    "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr",
    "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64",
    "madvise", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
    "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall",
    "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
    "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap",
    "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
    "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect",
    "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal",
    "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
    "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
    "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev",
    "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv",
    "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages",
    "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir",
    "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
    "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
    "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp",
    "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64",
    "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto",
    "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32",
    "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid",
    "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid",
    "setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt", "set_thread_area",
    "set_tid_address", "setuid", "setuid32", "setxattr", "shmat", "shmctl",
    "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
    "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat",
    "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat",
    "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill",
    "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64",
    "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
    "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit",
    "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
    "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid",
    "waitpid", "write", "writev", "arch_prctl", "modify_ldt",
};

/* Newer syscalls, harmless, that Docker's list predates. */
static const char *const allowed_newer[] = {
    "fchmodat2", "cachestat", "futex_wake", "futex_wait", "futex_requeue", "map_shadow_stack",
    "mseal", "statmount", "listmount", "getxattrat", "setxattrat", "listxattrat",
    "removexattrat",
};

static const char *const refused[] = {
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "process_madvise",
    "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "unshare", "setns",
    "mount", "umount", "umount2", "pivot_root", "chroot", "fsopen",
    "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
    "sethostname", "setdomainname", "init_module", "finit_module", "delete_module", "create_module",
    "query_module", "get_kernel_syms", "kexec_load", "kexec_file_load", "reboot", "swapon",
    "swapoff", "add_key", "request_key", "keyctl", "bpf", "perf_event_open",
    "fanotify_init", "open_by_handle_at", "lookup_dcookie", "settimeofday", "stime", "clock_settime",
    "clock_settime64", "acct", "quotactl", "quotactl_fd", "syslog", "vhangup",
    "sysfs", "_sysctl", "uselib", "ustat", "nfsservctl", "iopl",
    "ioperm", "vm86", "vm86old", "mbind", "set_mempolicy", "get_mempolicy",
    "move_pages", "set_mempolicy_home_node",
};

/* The argument rules' values, for the filters and the docker profile alike. */
static const uint32_t personalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
static const uint32_t tty_injection[] = {TIOCSTI, TIOCLINUX};
#define NAMESPACE_FLAGS                                                                     \
    ((uint64_t)(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | \
                CLONE_NEWNET | CLONE_NEWCGROUP))

/* Adds rule(s) for a syscall; a name this libseccomp or architecture does
 * not know is skipped. */
static int syscall_number(const char *name)
{
    return seccomp_syscall_resolve_name(name);
}

int gen_allow_values(scmp_filter_ctx ctx, int nr, unsigned arg, const uint32_t *values,
                        size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct scmp_arg_cmp cmp = {arg, SCMP_CMP_MASKED_EQ, 0xffffffffu, values[i]};
        int r = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, 1, &cmp);
        if (r)
            return r;
    }
    return 0;
}

int gen_add_names(scmp_filter_ctx ctx, uint32_t action, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int nr = syscall_number(names[i]);
        if (nr == __NR_SCMP_ERROR)
            continue;
        int r = seccomp_rule_add(ctx, action, nr, 0);
        if (r)
            return fprintf(stderr, "seccomp_gen: %s: %s\n", names[i], strerror(-r)), r;
    }
    return 0;
}

static int build(scmp_filter_ctx ctx)
{
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (!r)
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2); /* binary tree */
    if (!r)
        r = gen_add_names(ctx, SCMP_ACT_ALLOW, allowed, sizeof allowed / sizeof allowed[0]);
    if (!r)
        r = gen_add_names(ctx, SCMP_ACT_ALLOW, allowed_newer,
                      sizeof allowed_newer / sizeof allowed_newer[0]);
    if (!r)
        r = gen_add_names(ctx, SCMP_ACT_ERRNO(EPERM), refused, sizeof refused / sizeof refused[0]);

    /* ioctl and socket are allowed here and narrowed by the second filter. */
    if (!r)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 0);
    if (!r)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 0);

    if (!r)
        r = gen_allow_values(ctx, SCMP_SYS(personality), 0, personalities,
                             GEN_ARRAY_SIZE(personalities));

    const uint64_t namespaces = NAMESPACE_FLAGS;
    if (!r)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, namespaces, 0));
    if (!r)
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, namespaces & 0xffffffffu,
                                     namespaces & 0xffffffffu));
    /* clone3 is left out: the default action answers ENOSYS. */
    return r;
}

/* The second program: allow by default, refuse a few argument values. An
 * allowlist cannot say "every ioctl but these" without dozens of rules, a
 * small denylist stacked on it can; the stricter verdict applies (the
 * compact program below merges the two as the kernel stacks filters).
 * The kernel reads these arguments as 32-bit ints, so only the low 32 bits
 * are compared (a zero high mask): high bits cannot slip a value through. */
static int build_arguments(scmp_filter_ctx ctx)
{
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    for (size_t i = 0; !r && i < GEN_ARRAY_SIZE(tty_injection); i++) {
        struct scmp_arg_cmp cmp = {1, SCMP_CMP_MASKED_EQ, 0xffffffffu, tty_injection[i]};
        r = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1, &cmp);
    }
    if (!r) {
        struct scmp_arg_cmp cmp = {0, SCMP_CMP_MASKED_EQ, 0xffffffffu, AF_VSOCK};
        r = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1, &cmp);
    }
    return r;
}

static int write_program(FILE *out, scmp_filter_ctx ctx, const char *name)
{
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    /* At most 4096 instructions of 8 bytes: the pipe holds it all. */
    if (seccomp_export_bpf(ctx, fds[1]) < 0)
        return -1;
    close(fds[1]);
    static unsigned char bpf[65536];
    ssize_t len = 0, n;
    while ((n = read(fds[0], bpf + len, sizeof bpf - (size_t)len)) > 0)
        len += n;
    close(fds[0]);
    if (len <= 0 || len % 8 != 0)
        return -1;
    fprintf(out, "static const struct sock_filter %s[] = {\n", name);
    for (ssize_t i = 0; i < len; i += 8) {
        unsigned code = (unsigned)bpf[i] | (unsigned)bpf[i + 1] << 8;
        unsigned k = (unsigned)bpf[i + 4] | (unsigned)bpf[i + 5] << 8 |
                     (unsigned)bpf[i + 6] << 16 | (unsigned)bpf[i + 7] << 24;
        fprintf(out, "    {0x%04x, %u, %u, 0x%08x},\n", code, bpf[i + 2], bpf[i + 3], k);
    }
    fprintf(out, "};\n");
    return 0;
}

/* ---- the docker backend's profile ---------------------------------------------------
 * The same policy for the containers of the docker backend, as the JSON seccomp profile
 * of the Docker Engine API (HostConfig.SecurityOpt "seccomp=..."), written into a second
 * header as a C string (seccomp_gen --docker-profile OUTPUT.h; docs/docker.md). The
 * syscall lists above are its lists. A profile is one filter, not two, and the engine's
 * runtime (runc, crun) compiles it with libseccomp, where an unconditional rule for a
 * syscall wins over every conditional one for it: "ioctl, but not TIOCSTI" cannot be an
 * allow rule plus a refusing one. So each "all values but these" becomes conditional allow
 * rules that together match every other 32-bit value, beside the refusing rules (for
 * EPERM rather than the default ENOSYS): no two rules of a syscall match the same
 * arguments, so neither their order nor how a runtime merges them matters.
 * Before writing, the profile is compiled here as the runtime would and run against
 * the native filters on probes of every syscall and of the values the filters compare
 * with: any difference fails the build. */

#define PROFILE_MAX_RULES 1024
#define PROBE_MAX_VALUES 512

struct profile_rule {
    const char *name;
    int errno_ret;  /* 0: allowed */
    int arg;        /* -1: any arguments */
    uint64_t mask;  /* matches when (argument & mask) == datum */
    uint64_t datum;
};

struct profile {
    struct profile_rule rules[PROFILE_MAX_RULES];
    size_t n;
    char *names[PROFILE_MAX_RULES]; /* the names it allocated */
    size_t n_names;
};

static void profile_free(struct profile *pr)
{
    for (size_t i = 0; i < pr->n_names; i++)
        free(pr->names[i]);
    pr->n_names = 0;
}

static int profile_add(struct profile *pr, const char *name, int errno_ret, int arg,
                       uint64_t mask, uint64_t datum)
{
    if (pr->n == PROFILE_MAX_RULES)
        return fprintf(stderr, "seccomp_gen: more than %d profile rules\n", PROFILE_MAX_RULES),
               -1;
    pr->rules[pr->n++] = (struct profile_rule){name, errno_ret, arg, mask, datum};
    return 0;
}

static int profile_add_names(struct profile *pr, const char *const *names, size_t n,
                             int errno_ret)
{
    for (size_t i = 0; i < n; i++)
        /* Only this architecture's syscalls: a runtime's libseccomp ignores the rest. */
        if (syscall_number(names[i]) >= 0 && profile_add(pr, names[i], errno_ret, -1, 0, 0) < 0)
            return -1;
    return 0;
}

/* Allow rules for every 32-bit value of arg (the kernel ignores the high half) whose top
 * depth bits are prefix's, except the sorted values excluded[0..n): a binary trie, one
 * rule per subtree free of excluded values. */
static int profile_allow_except(struct profile *pr, const char *name, int arg, uint32_t prefix,
                                int depth, const uint32_t *excluded, size_t n)
{
    if (n == 0) {
        uint32_t mask = depth == 0 ? 0 : 0xffffffffu << (32 - depth);
        return profile_add(pr, name, 0, arg, mask, prefix);
    }
    if (depth == 32)
        return 0; /* an excluded value itself */
    uint32_t bit = 1u << (31 - depth);
    size_t zeros = 0;
    while (zeros < n && !(excluded[zeros] & bit))
        zeros++;
    if (profile_allow_except(pr, name, arg, prefix, depth + 1, excluded, zeros) < 0)
        return -1;
    return profile_allow_except(pr, name, arg, prefix | bit, depth + 1, excluded + zeros,
                                n - zeros);
}

static int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* A syscall allowed except for a few values of one argument, which fail with EPERM. */
static int profile_refuse_values(struct profile *pr, const char *name, int arg,
                                 const uint32_t *values, size_t n)
{
    uint32_t sorted[8];
    if (n > 8)
        return -1;
    memcpy(sorted, values, n * sizeof *values);
    qsort(sorted, n, sizeof *sorted, compare_u32);
    for (size_t i = 0; i < n; i++)
        if (profile_add(pr, name, EPERM, arg, 0xffffffffu, sorted[i]) < 0)
            return -1;
    return profile_allow_except(pr, name, arg, 0, 0, sorted, n);
}

/* The rules: the lists above, and the argument rules of build() and build_arguments()
 * written the Docker way (the cross-check holds the two together). */
static int profile_build(struct profile *pr)
{
    if (profile_add_names(pr, allowed, sizeof allowed / sizeof allowed[0], 0) < 0 ||
        profile_add_names(pr, allowed_newer, sizeof allowed_newer / sizeof allowed_newer[0],
                          0) < 0 ||
        profile_add_names(pr, refused, sizeof refused / sizeof refused[0], EPERM) < 0)
        return -1;
    for (size_t i = 0; i < GEN_ARRAY_SIZE(personalities); i++)
        if (profile_add(pr, "personality", 0, 0, 0xffffffffu, personalities[i]) < 0)
            return -1;
    const uint64_t namespaces = NAMESPACE_FLAGS;
    if (profile_add(pr, "clone", 0, 0, namespaces, 0) < 0 ||
        profile_add(pr, "clone", EPERM, 0, namespaces, namespaces) < 0)
        return -1;
    static const uint32_t vsock[] = {AF_VSOCK};
    if (profile_refuse_values(pr, "ioctl", 1, tty_injection,
                              GEN_ARRAY_SIZE(tty_injection)) < 0 ||
        profile_refuse_values(pr, "socket", 0, vsock, 1) < 0)
        return -1;

    /* Docker 20.10 ignores defaultErrnoRet, and fails what no rule names with EPERM:
     * every other syscall of the architecture is named to fail with ENOSYS, like the
     * native filter's default, so that libc falls back (clone3 to clone, for one). */
    size_t named = pr->n;
    for (int nr = 0; nr < 1024; nr++) {
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        if (!name)
            continue;
        bool found = false;
        for (size_t i = 0; i < named && !found; i++)
            found = strcmp(pr->rules[i].name, name) == 0;
        if (found || pr->n_names == PROFILE_MAX_RULES ||
            profile_add(pr, name, ENOSYS, -1, 0, 0) < 0) {
            free(name);
            if (!found)
                return -1;
            continue;
        }
        pr->names[pr->n_names++] = name;
    }
    return 0;
}

/* The profile as a runtime compiles it: one filter (whose default action is ctx's),
 * where a rule with the default action is left out, as runc does (libseccomp refuses
 * it). */
static int profile_compile(const struct profile *pr, scmp_filter_ctx ctx)
{
    uint32_t default_action = 0;
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (!r)
        r = seccomp_attr_get(ctx, SCMP_FLTATR_ACT_DEFAULT, &default_action);
    for (size_t i = 0; !r && i < pr->n; i++) {
        const struct profile_rule *rule = &pr->rules[i];
        uint32_t action = rule->errno_ret ? SCMP_ACT_ERRNO((uint32_t)rule->errno_ret)
                                          : SCMP_ACT_ALLOW;
        int nr = syscall_number(rule->name);
        if (action == default_action)
            continue;
        if (rule->arg < 0) {
            r = seccomp_rule_add(ctx, action, nr, 0);
        } else {
            struct scmp_arg_cmp cmp = {(unsigned)rule->arg, SCMP_CMP_MASKED_EQ, rule->mask,
                                       rule->datum};
            r = seccomp_rule_add_array(ctx, action, nr, 1, &cmp);
        }
    }
    return r;
}

struct bpf_program_copy {
    unsigned char code[65536];
    size_t len; /* instructions */
};

static int export_program(scmp_filter_ctx ctx, struct bpf_program_copy *prog)
{
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    /* At most 4096 instructions of 8 bytes: the pipe holds it all. */
    int r = seccomp_export_bpf(ctx, fds[1]);
    close(fds[1]);
    ssize_t len = 0, n;
    while (r >= 0 && (n = read(fds[0], prog->code + len, sizeof prog->code - (size_t)len)) > 0)
        len += n;
    close(fds[0]);
    if (r < 0 || len <= 0 || len % 8 != 0)
        return -1;
    prog->len = (size_t)len / 8;
    return 0;
}

struct insn {
    uint16_t code;
    uint8_t jt, jf;
    uint32_t k;
};

static struct insn insn_at(const struct bpf_program_copy *prog, size_t pc)
{
    const unsigned char *b = prog->code + pc * 8;
    return (struct insn){(uint16_t)(b[0] | b[1] << 8), b[2], b[3],
                         (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 |
                             (uint32_t)b[7] << 24};
}

/* struct seccomp_data, as the filter reads it (little-endian words). */
struct probe {
    uint32_t words[16]; /* nr, arch, ip (2 words), args (6 x 2 words) */
};

/* Runs a classic BPF seccomp program (the instructions libseccomp emits). Returns
 * 0 (kill) on anything it does not know, which makes a comparison fail loudly.
 * *read_args is set when the path taken looked at an argument. */
static uint32_t run_program(const struct bpf_program_copy *prog, const struct probe *in,
                            bool *read_args)
{
    uint32_t a = 0, x = 0, mem[16] = {0};
    for (size_t pc = 0; pc < prog->len; pc++) {
        struct insn i = insn_at(prog, pc);
        uint32_t src = (i.code & 0x08) ? x : i.k; /* BPF_X or BPF_K */
        switch (i.code & 0x07) {
        case 0x00: /* BPF_LD */
            if ((i.code & 0xf8) == 0x20 && i.k % 4 == 0 && i.k < 64) { /* BPF_ABS, BPF_W */
                a = in->words[i.k / 4];
                *read_args |= i.k >= 16;
            }
            else if ((i.code & 0xe0) == 0x00) /* BPF_IMM */
                a = i.k;
            else if ((i.code & 0xe0) == 0x60 && i.k < 16) /* BPF_MEM */
                a = mem[i.k];
            else
                return 0;
            break;
        case 0x01: /* BPF_LDX */
            if ((i.code & 0xe0) == 0x00)
                x = i.k;
            else if ((i.code & 0xe0) == 0x60 && i.k < 16)
                x = mem[i.k];
            else
                return 0;
            break;
        case 0x02: /* BPF_ST */
            if (i.k >= 16)
                return 0;
            mem[i.k] = a;
            break;
        case 0x03: /* BPF_STX */
            if (i.k >= 16)
                return 0;
            mem[i.k] = x;
            break;
        case 0x04: /* BPF_ALU */
            switch (i.code & 0xf0) {
            case 0x50: /* BPF_AND */
                a &= src;
                break;
            case 0x40: /* BPF_OR */
                a |= src;
                break;
            default:
                return 0;
            }
            break;
        case 0x05: { /* BPF_JMP */
            bool taken;
            switch (i.code & 0xf0) {
            case 0x00: /* BPF_JA */
                pc += i.k;
                continue;
            case 0x10: /* BPF_JEQ */
                taken = a == src;
                break;
            case 0x20: /* BPF_JGT */
                taken = a > src;
                break;
            case 0x30: /* BPF_JGE */
                taken = a >= src;
                break;
            case 0x40: /* BPF_JSET */
                taken = (a & src) != 0;
                break;
            default:
                return 0;
            }
            pc += taken ? i.jt : i.jf;
            break;
        }
        case 0x06: /* BPF_RET */
            return (i.code & 0x18) == 0x10 ? a : i.k;
        case 0x07: /* BPF_MISC */
            if (i.code & 0x80)
                a = x; /* TXA */
            else
                x = a; /* TAX */
            break;
        }
    }
    return 0;
}

/* The kernel's verdict over stacked filters: the most restrictive action, and on a tie
 * the filter installed last (seccomp.c loads the argument filter first). */
static uint32_t stacked_verdict(uint32_t last, uint32_t first)
{
    return (int32_t)(first & 0xffff0000u) < (int32_t)(last & 0xffff0000u) ? first : last;
}

/* The constants a program compares arguments with (and the single bits of its masks). */
static void collect_values(const struct bpf_program_copy *prog, uint32_t *values, size_t *n)
{
    bool on_argument = false;
    for (size_t pc = 0; pc < prog->len; pc++) {
        struct insn i = insn_at(prog, pc);
        uint32_t found[33];
        size_t nfound = 0;
        if ((i.code & 0x07) == 0x00 && (i.code & 0xf8) == 0x20)
            on_argument = i.k >= 16;
        else if (on_argument && (i.code & 0x07) == 0x05 && (i.code & 0x08) == 0 &&
                 (i.code & 0xf0) != 0x00)
            found[nfound++] = i.k;
        else if (on_argument && i.code == (0x04 | 0x50)) /* BPF_ALU | BPF_AND | BPF_K */
            for (int b = 0; b < 32; b++)
                if (i.k & (1u << b))
                    found[nfound++] = 1u << b;
        for (size_t f = 0; f < nfound; f++) {
            uint32_t candidates[3] = {found[f], found[f] + 1, found[f] - 1};
            for (size_t c = 0; c < 3; c++) {
                size_t j = 0;
                while (j < *n && values[j] != candidates[c])
                    j++;
                if (j == *n && *n < PROBE_MAX_VALUES)
                    values[(*n)++] = candidates[c];
            }
        }
    }
}

static bool has_argument_rules(const struct profile *pr, uint32_t nr)
{
    for (size_t i = 0; i < pr->n; i++)
        if (pr->rules[i].arg >= 0 && syscall_number(pr->rules[i].name) == (int)nr)
            return true;
    return false;
}

/* Compiles the native filters and the profile twice: as engines that honour
 * defaultErrnoRet apply it, and as Docker 20.10 does (EPERM for what no rule names). */
static int profile_programs(const struct profile *pr, struct bpf_program_copy progs[4])
{
    scmp_filter_ctx ctx[4] = {seccomp_init(SCMP_ACT_ERRNO(ENOSYS)), seccomp_init(SCMP_ACT_ALLOW),
                              seccomp_init(SCMP_ACT_ERRNO(ENOSYS)),
                              seccomp_init(SCMP_ACT_ERRNO(EPERM))};
    int r = !ctx[0] || !ctx[1] || !ctx[2] || !ctx[3] ? -ENOMEM : 0;
    if (!r)
        r = build(ctx[0]);
    if (!r)
        r = build_arguments(ctx[1]);
    if (!r)
        r = profile_compile(pr, ctx[2]);
    if (!r)
        r = profile_compile(pr, ctx[3]);
    for (int i = 0; i < 4; i++) {
        if (!r && export_program(ctx[i], &progs[i]) < 0)
            r = -EIO;
        seccomp_release(ctx[i]);
    }
    if (r)
        return fprintf(stderr, "seccomp_gen: compiling the profile: %s\n", strerror(-r)), -1;
    return 0;
}

static int profile_check(const struct profile *pr)
{
    /* calls, arguments, the profile with default ENOSYS, and with default EPERM */
    static struct bpf_program_copy progs[4];
    if (profile_programs(pr, progs) < 0)
        return -1;
    static uint32_t values[PROBE_MAX_VALUES];
    size_t nvalues = 0;
    for (int i = 0; i < 4; i++)
        collect_values(&progs[i], values, &nvalues);
    static const uint32_t highs[] = {0, 1, 0xffffffffu};
    unsigned probes = 0, differences = 0;
    for (uint32_t nr = 0; nr < 1024; nr++) {
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, (int)nr);
        bool known = name != NULL, arguments = has_argument_rules(pr, nr);
        free(name);
        /* Probe 0: no arguments; then, where a filter looks at them, each argument at
         * each value, with each high half. */
        bool read_args = false;
        for (size_t p = 0; p <= (read_args ? 6 * nvalues * 3 : 0); p++) {
            struct probe in = {{nr, seccomp_arch_native()}};
            size_t arg = 0;
            if (p > 0) {
                size_t q = p - 1, v = q % (nvalues * 3) / 3;
                arg = q / (nvalues * 3);
                in.words[4 + 2 * arg] = values[v];
                in.words[5 + 2 * arg] = highs[q % 3];
            }
            uint32_t native = stacked_verdict(run_program(&progs[0], &in, &read_args),
                                              run_program(&progs[1], &in, &read_args));
            uint32_t docker = run_program(&progs[2], &in, &read_args);
            uint32_t docker_20 = run_program(&progs[3], &in, &read_args);
            /* Docker 20.10 refuses with EPERM where no rule of a syscall with argument
             * rules matches (a personality outside the list, say): refused all the
             * same. A number that is no syscall here, no runtime's rule can name. */
            bool same_20 = docker_20 == native || !known ||
                           (arguments && native == SCMP_ACT_ERRNO(ENOSYS) &&
                            docker_20 == SCMP_ACT_ERRNO(EPERM));
            probes++;
            if ((docker != native || !same_20) && differences++ < 10)
                fprintf(stderr,
                        "seccomp_gen: the docker profile answers 0x%08x (0x%08x on Docker "
                        "20.10) where the native filter answers 0x%08x (syscall %u, argument "
                        "%zu = 0x%08x%08x): make profile_build() say what build() and "
                        "build_arguments() say\n",
                        docker, docker_20, native, nr, arg, in.words[5 + 2 * arg],
                        in.words[4 + 2 * arg]);
        }
    }
    if (differences)
        return fprintf(stderr, "seccomp_gen: %u of %u probes differ\n", differences, probes), -1;
    return 0;
}

/* The architecture's name in a profile (SCMP_ARCH_*). */
static const char *profile_arch(void)
{
    static const struct {
        uint32_t token;
        const char *name;
    } arches[] = {
        {SCMP_ARCH_X86_64, "SCMP_ARCH_X86_64"}, {SCMP_ARCH_X86, "SCMP_ARCH_X86"},
        {SCMP_ARCH_AARCH64, "SCMP_ARCH_AARCH64"}, {SCMP_ARCH_ARM, "SCMP_ARCH_ARM"},
        {SCMP_ARCH_PPC64LE, "SCMP_ARCH_PPC64LE"}, {SCMP_ARCH_S390X, "SCMP_ARCH_S390X"},
        {SCMP_ARCH_RISCV64, "SCMP_ARCH_RISCV64"},
    };
    for (size_t i = 0; i < sizeof arches / sizeof arches[0]; i++)
        if (arches[i].token == seccomp_arch_native())
            return arches[i].name;
    return NULL;
}

static void profile_json(const struct profile *pr, const char *arch, FILE *out)
{
    fprintf(out, "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":%d,"
                 "\"architectures\":[\"%s\"],\"syscalls\":[",
            ENOSYS, arch);
    /* Unconditional rules in one entry per action, then one entry per argument rule. */
    static const int actions[] = {0, EPERM, ENOSYS};
    bool first_entry = true;
    for (size_t a = 0; a < 3; a++) {
        bool first = true;
        for (size_t i = 0; i < pr->n; i++) {
            const struct profile_rule *rule = &pr->rules[i];
            if (rule->arg >= 0 || rule->errno_ret != actions[a])
                continue;
            if (first)
                fprintf(out, "%s{\"names\":[", first_entry ? "" : ",");
            fprintf(out, "%s\"%s\"", first ? "" : ",", rule->name);
            first = first_entry = false;
        }
        if (!first && actions[a])
            fprintf(out, "],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":%d}", actions[a]);
        else if (!first)
            fprintf(out, "],\"action\":\"SCMP_ACT_ALLOW\"}");
    }
    for (size_t i = 0; i < pr->n; i++) {
        const struct profile_rule *rule = &pr->rules[i];
        if (rule->arg < 0)
            continue;
        fprintf(out, ",{\"names\":[\"%s\"],", rule->name);
        if (rule->errno_ret)
            fprintf(out, "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":%d,", rule->errno_ret);
        else
            fprintf(out, "\"action\":\"SCMP_ACT_ALLOW\",");
        /* Docker's MASKED_EQ: value is the mask, valueTwo what the masked argument equals. */
        fprintf(out,
                "\"args\":[{\"index\":%d,\"value\":%llu,\"valueTwo\":%llu,"
                "\"op\":\"SCMP_CMP_MASKED_EQ\"}]}",
                rule->arg, (unsigned long long)rule->mask, (unsigned long long)rule->datum);
    }
    fprintf(out, "]}");
}

static int write_docker_profile(const char *path)
{
    static struct profile pr;
    const char *arch = profile_arch();
    if (!arch)
        return fprintf(stderr, "seccomp_gen: no docker profile for this architecture (add it "
                               "to profile_arch)\n"),
               1;
    if (profile_build(&pr) < 0 || profile_check(&pr) < 0) {
        profile_free(&pr);
        return 1;
    }
    char *json = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&json, &len);
    if (mem)
        profile_json(&pr, arch, mem);
    profile_free(&pr);
    bool ok = mem && fclose(mem) == 0;
    FILE *out = ok ? fopen(path, "w") : NULL;
    if (out) {
        fprintf(out, "/* Generated by src/drivers/native/seccomp_gen.c at build time: the docker "
                     "backend's seccomp profile. */\n"
                     "static const char hutch_seccomp_profile[] =\n");
        /* JSON with no backslashes: only the quotes need escaping. */
        for (size_t i = 0; i < len; i += 96) {
            fputs("    \"", out);
            for (size_t j = i; j < len && j < i + 96; j++)
                fputs(json[j] == '"' ? "\\\"" : (char[]){json[j], 0}, out);
            fputs(i + 96 < len ? "\"\n" : "\";\n", out);
        }
    }
    ok = out && fclose(out) == 0;
    free(json);
    if (!ok)
        perror("seccomp_gen: writing the profile");
    return ok ? 0 : 1;
}

/* ---- the filter the sandbox loads ------------------------------------------------------
 * The two programs libseccomp makes of build() and build_arguments() are the reference:
 * an allowlist, a binary tree of syscall numbers (480 instructions on x86_64), and the
 * argument denylist stacked on it. Loading a filter costs the kernel time per
 * instruction: it converts and JIT-compiles the program, and runs it for every syscall
 * number to learn which it may always allow. So the sandbox loads one program with the
 * same verdicts, a fifth of the size: the syscall numbers fall into ranges of one verdict
 * each (about 70 on x86_64), which a binary search of the number finds; the few syscalls
 * whose verdict depends on an argument get the checks of arg_syscalls. Before it is
 * written, the program is run against the two reference programs stacked as the kernel
 * stacks them, at every boundary of the ranges, for several architectures, and for those
 * syscalls with the argument values the programs compare with: any difference fails the
 * build. */

#define COMPACT_MAX 1024

struct arg_check {
    unsigned arg;    /* its low 32 bits, masked, */
    uint32_t mask;
    uint32_t value;  /* equal to this: */
    uint32_t action;
};

/* The syscalls whose verdict depends on an argument, in build() and build_arguments():
 * the first matching check decides, else otherwise. */
static const struct arg_syscall {
    const char *name;
    uint32_t otherwise;
    struct arg_check checks[8];
} arg_syscalls[] = {
    {"personality", SCMP_ACT_ERRNO(ENOSYS),
     {{0, 0xffffffffu, 0x0, SCMP_ACT_ALLOW},
      {0, 0xffffffffu, 0x8, SCMP_ACT_ALLOW},
      {0, 0xffffffffu, 0x20000, SCMP_ACT_ALLOW},
      {0, 0xffffffffu, 0x20008, SCMP_ACT_ALLOW},
      {0, 0xffffffffu, 0xffffffff, SCMP_ACT_ALLOW}}},
    {"clone", SCMP_ACT_ERRNO(ENOSYS),
     {{0, (uint32_t)NAMESPACE_FLAGS, 0, SCMP_ACT_ALLOW},
      {0, (uint32_t)NAMESPACE_FLAGS, (uint32_t)NAMESPACE_FLAGS, SCMP_ACT_ERRNO(EPERM)}}},
    {"ioctl", SCMP_ACT_ALLOW,
     {{1, 0xffffffffu, TIOCSTI, SCMP_ACT_ERRNO(EPERM)},
      {1, 0xffffffffu, TIOCLINUX, SCMP_ACT_ERRNO(EPERM)}}},
    {"socket", SCMP_ACT_ALLOW, {{0, 0xffffffffu, AF_VSOCK, SCMP_ACT_ERRNO(EPERM)}}},
};

/* A range of syscall numbers [start, next range's start) and its verdict, or the
 * argument checks of one syscall. */
struct nr_range {
    uint32_t start;
    uint32_t verdict;
    const struct arg_syscall *checks; /* non-NULL: the verdict depends on arguments */
};

struct compact {
    struct bpf_program_copy prog;
    struct nr_range ranges[COMPACT_MAX];
    size_t n_ranges;
    uint32_t verdicts[16]; /* one return instruction each, at the end */
    size_t n_verdicts;
};

static void emit(struct bpf_program_copy *prog, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
    unsigned char *b = prog->code + prog->len * 8;
    b[0] = (unsigned char)code;
    b[1] = (unsigned char)(code >> 8);
    b[2] = jt;
    b[3] = jf;
    for (int i = 0; i < 4; i++)
        b[4 + i] = (unsigned char)(k >> (8 * i));
    prog->len++;
}

/* The stacked verdict of the reference programs for one input. */
static uint32_t reference_verdict(const struct bpf_program_copy ref[2], const struct probe *in,
                                  bool *read_args)
{
    return stacked_verdict(run_program(&ref[0], in, read_args),
                           run_program(&ref[1], in, read_args));
}

/* Every value some comparison of either program makes the syscall number cross: between
 * two of them, every number takes the same path through both. */
static size_t number_boundaries(const struct bpf_program_copy ref[2], uint32_t *out, size_t max)
{
    size_t n = 0;
    out[n++] = 0;
    for (int p = 0; p < 2; p++)
        for (size_t pc = 0; pc < ref[p].len; pc++) {
            struct insn i = insn_at(&ref[p], pc);
            unsigned op = i.code & 0xf0;
            if ((i.code & 0x07) != 0x05 || (i.code & 0x08) || (op != 0x10 && op != 0x20 &&
                                                                op != 0x30))
                continue;
            uint32_t candidates[2] = {i.k, i.k + 1}; /* JEQ: k and k+1; JGT: k+1; JGE: k */
            for (int c = 0; c < 2; c++) {
                if (c == 1 && i.k == 0xffffffffu)
                    continue;
                size_t j = 0;
                while (j < n && out[j] != candidates[c])
                    j++;
                if (j == n) {
                    if (n == max)
                        return 0;
                    out[n++] = candidates[c];
                }
            }
        }
    qsort(out, n, sizeof *out, compare_u32);
    return n;
}

static const struct arg_syscall *arg_syscall_for(uint32_t nr)
{
    for (size_t i = 0; i < GEN_ARRAY_SIZE(arg_syscalls); i++)
        if (syscall_number(arg_syscalls[i].name) == (int)nr)
            return &arg_syscalls[i];
    return NULL;
}

static struct probe probe_of(uint32_t arch, uint32_t nr)
{
    return (struct probe){{nr, arch}};
}

/* The ranges of one verdict, from the reference programs. */
static int compact_ranges(struct compact *c, const struct bpf_program_copy ref[2])
{
    static uint32_t bounds[COMPACT_MAX];
    size_t n = number_boundaries(ref, bounds, COMPACT_MAX);
    if (n == 0)
        return fprintf(stderr, "seccomp_gen: more than %d syscall number boundaries\n",
                       COMPACT_MAX), -1;
    for (size_t i = 0; i < n; i++) {
        bool read_args = false;
        struct probe in = probe_of(seccomp_arch_native(), bounds[i]);
        uint32_t verdict = reference_verdict(ref, &in, &read_args);
        const struct arg_syscall *checks = NULL;
        if (read_args) {
            checks = arg_syscall_for(bounds[i]);
            if (!checks || i + 1 == n || bounds[i + 1] != bounds[i] + 1)
                return fprintf(stderr, "seccomp_gen: the verdict for syscall %u depends on its "
                                       "arguments: add its checks to arg_syscalls\n",
                               bounds[i]), -1;
        }
        struct nr_range *last = c->n_ranges ? &c->ranges[c->n_ranges - 1] : NULL;
        if (last && !checks && !last->checks && last->verdict == verdict)
            continue;
        c->ranges[c->n_ranges++] = (struct nr_range){bounds[i], verdict, checks};
    }
    return 0;
}

/* The index of a verdict's return instruction among the ones at the end. */
static size_t verdict_slot(struct compact *c, uint32_t verdict)
{
    size_t i = 0;
    while (i < c->n_verdicts && c->verdicts[i] != verdict)
        i++;
    if (i == c->n_verdicts)
        c->verdicts[c->n_verdicts++] = verdict;
    return i;
}

/* Instructions of the binary search over ranges[lo, hi): one per inner node. */
static size_t tree_size(size_t lo, size_t hi)
{
    return hi - lo - 1;
}

/* Instructions of a syscall's argument checks. */
static size_t checks_size(const struct arg_syscall *a)
{
    size_t n = 1; /* otherwise */
    for (size_t i = 0; i < GEN_ARRAY_SIZE(a->checks) && a->checks[i].action; i++)
        n += a->checks[i].mask == 0xffffffffu ? 2 : 3;
    return n;
}

/* The offset of an argument's low 32 bits in struct seccomp_data. */
static uint32_t arg_low_offset(unsigned arg)
{
    uint32_t off = 16 + 8 * arg;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    off += 4;
#endif
    return off;
}

struct layout {
    size_t tree_start;   /* the first node */
    size_t checks_start; /* the first argument check block */
    size_t returns;      /* the first return instruction */
    size_t block[COMPACT_MAX]; /* per range with checks: its block's first instruction */
};

/* A jump from pc to target, or -1 when a classic BPF jump cannot reach it. */
static int jump(size_t pc, size_t target)
{
    return target > pc && target - pc - 1 <= 255 ? (int)(target - pc - 1) : -1;
}

/* Where a range leads: its return instruction, or its argument checks. */
static size_t range_target(struct compact *c, const struct layout *l, size_t r)
{
    return c->ranges[r].checks ? l->block[r] : l->returns + verdict_slot(c, c->ranges[r].verdict);
}

/* Emits the search over ranges[lo, hi) in preorder; returns its first instruction, or
 * the target of its only range. */
static int emit_tree(struct compact *c, const struct layout *l, size_t lo, size_t hi,
                     size_t *target)
{
    if (hi - lo == 1) {
        *target = range_target(c, l, lo);
        return 0;
    }
    size_t mid = lo + (hi - lo) / 2, pc = c->prog.len;
    *target = pc;
    emit(&c->prog, 0, 0, 0, 0); /* the node, filled in below */
    size_t below, above;
    if (emit_tree(c, l, lo, mid, &below) < 0 || emit_tree(c, l, mid, hi, &above) < 0)
        return -1;
    int jt = jump(pc, above), jf = jump(pc, below);
    if (jt < 0 || jf < 0)
        return -1;
    size_t saved = c->prog.len;
    c->prog.len = pc;
    emit(&c->prog, BPF_JMP | BPF_JGE | BPF_K, (uint8_t)jt, (uint8_t)jf, c->ranges[mid].start);
    c->prog.len = saved;
    return 0;
}

static int compact_emit(struct compact *c, uint32_t bad_arch)
{
    struct layout l;
    l.tree_start = 4;
    l.checks_start = l.tree_start + tree_size(0, c->n_ranges);
    size_t pc = l.checks_start;
    for (size_t r = 0; r < c->n_ranges; r++) {
        (void)verdict_slot(c, c->ranges[r].verdict);
        if (c->ranges[r].checks) {
            l.block[r] = pc;
            pc += checks_size(c->ranges[r].checks);
            const struct arg_syscall *a = c->ranges[r].checks;
            (void)verdict_slot(c, a->otherwise);
            for (size_t i = 0; i < GEN_ARRAY_SIZE(a->checks) && a->checks[i].action; i++)
                (void)verdict_slot(c, a->checks[i].action);
        }
    }
    l.returns = pc;
    if (l.returns + c->n_verdicts > COMPACT_MAX)
        return -1;

    /* The architecture, then the number. */
    emit(&c->prog, BPF_LD | BPF_W | BPF_ABS, 0, 0, 4);
    emit(&c->prog, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, seccomp_arch_native());
    emit(&c->prog, BPF_RET | BPF_K, 0, 0, bad_arch);
    emit(&c->prog, BPF_LD | BPF_W | BPF_ABS, 0, 0, 0);
    size_t first;
    if (emit_tree(c, &l, 0, c->n_ranges, &first) < 0 || c->prog.len != l.checks_start)
        return -1;
    if (c->n_ranges == 1) /* no node: the only range's target follows */
        return -1;
    for (size_t r = 0; r < c->n_ranges; r++) {
        const struct arg_syscall *a = c->ranges[r].checks;
        if (!a)
            continue;
        for (size_t i = 0; i < GEN_ARRAY_SIZE(a->checks) && a->checks[i].action; i++) {
            const struct arg_check *k = &a->checks[i];
            emit(&c->prog, BPF_LD | BPF_W | BPF_ABS, 0, 0, arg_low_offset(k->arg));
            if (k->mask != 0xffffffffu)
                emit(&c->prog, BPF_ALU | BPF_AND | BPF_K, 0, 0, k->mask);
            int jt = jump(c->prog.len, l.returns + verdict_slot(c, k->action));
            if (jt < 0)
                return -1;
            emit(&c->prog, BPF_JMP | BPF_JEQ | BPF_K, (uint8_t)jt, 0, k->value);
        }
        emit(&c->prog, BPF_RET | BPF_K, 0, 0, a->otherwise);
    }
    if (c->prog.len != l.returns)
        return -1;
    for (size_t i = 0; i < c->n_verdicts; i++)
        emit(&c->prog, BPF_RET | BPF_K, 0, 0, c->verdicts[i]);
    return 0;
}

/* The compact program against the reference: every range boundary and the number
 * before it, every number up to 1024, several architectures, and for the syscalls
 * whose verdict depends on arguments each argument at each compared value (and its
 * neighbours and mask bits) with each high half. */
static int compact_check(const struct bpf_program_copy *compact,
                         const struct bpf_program_copy ref[2])
{
    static uint32_t bounds[COMPACT_MAX], values[PROBE_MAX_VALUES];
    size_t n_bounds = number_boundaries(ref, bounds, COMPACT_MAX), n_values = 0;
    collect_values(&ref[0], values, &n_values);
    collect_values(&ref[1], values, &n_values);
    static const uint32_t highs[] = {0, 1, 0xffffffffu};
    const uint32_t arches[] = {seccomp_arch_native(), 0, 0xffffffffu, SCMP_ARCH_X86,
                               SCMP_ARCH_X32, SCMP_ARCH_X86_64, SCMP_ARCH_AARCH64, SCMP_ARCH_ARM};
    unsigned probes = 0, differences = 0;
    for (size_t a = 0; a < GEN_ARRAY_SIZE(arches); a++)
        for (size_t b = 0; b < n_bounds * 2 + 1024; b++) {
            uint32_t nr = b < n_bounds * 2 ? bounds[b / 2] - (uint32_t)(b % 2)
                                           : (uint32_t)(b - n_bounds * 2);
            bool read_args = false;
            for (size_t p = 0; p <= (read_args ? 6 * n_values * 3 : 0); p++) {
                struct probe in = probe_of(arches[a], nr);
                size_t arg = 0;
                if (p > 0) {
                    size_t q = p - 1, v = q % (n_values * 3) / 3;
                    arg = q / (n_values * 3);
                    in.words[4 + 2 * arg] = values[v];
                    in.words[5 + 2 * arg] = highs[q % 3];
                }
                bool ignored = false;
                uint32_t want = reference_verdict(ref, &in, &read_args);
                uint32_t got = run_program(compact, &in, &ignored);
                probes++;
                if (got != want && differences++ < 10)
                    fprintf(stderr,
                            "seccomp_gen: the compact filter answers 0x%08x where the "
                            "reference answers 0x%08x (arch 0x%08x, syscall %u, argument %zu "
                            "= 0x%08x%08x)\n",
                            got, want, arches[a], nr, arg, in.words[5 + 2 * arg],
                            in.words[4 + 2 * arg]);
            }
        }
    if (differences)
        return fprintf(stderr, "seccomp_gen: %u of %u probes differ\n", differences, probes), -1;
    return 0;
}

static int write_compact(FILE *out, const struct bpf_program_copy *prog, const char *name)
{
    fprintf(out, "static const struct sock_filter %s[] = {\n", name);
    for (size_t pc = 0; pc < prog->len; pc++) {
        struct insn i = insn_at(prog, pc);
        fprintf(out, "    {0x%04x, %u, %u, 0x%08x},\n", i.code, i.jt, i.jf, i.k);
    }
    return fprintf(out, "};\n") < 0 ? -1 : 0;
}

/* The sandbox's filter: the compact program of the two reference programs. */
static int build_compact(struct compact *c, scmp_filter_ctx calls, scmp_filter_ctx arguments)
{
    static struct bpf_program_copy ref[2]; /* calls, arguments */
    if (export_program(calls, &ref[0]) < 0 || export_program(arguments, &ref[1]) < 0)
        return fprintf(stderr, "seccomp_gen: exporting the reference programs failed\n"), -1;
    /* What a foreign architecture gets. */
    bool read_args = false;
    struct probe foreign = probe_of(0, 0);
    uint32_t bad_arch = reference_verdict(ref, &foreign, &read_args);
    if (compact_ranges(c, ref) < 0)
        return -1;
    if (compact_emit(c, bad_arch) < 0)
        return fprintf(stderr, "seccomp_gen: the compact filter does not fit classic BPF's "
                               "jumps (%zu ranges)\n",
                       c->n_ranges), -1;
    return compact_check(&c->prog, ref);
}

/* The network proxy's filter, in a header of its own (hutch_proxy_seccomp). */
static int write_proxy_filter(const char *path)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(ENOSYS));
    if (!ctx)
        return 1;
    int r = gen_build_proxy(ctx);
    if (r) {
        fprintf(stderr, "seccomp_gen: building the proxy's filter failed: %s\n", strerror(-r));
        return 1;
    }
    FILE *out = fopen(path, "w");
    if (!out ||
        fprintf(out, "/* Generated by src/drivers/native/seccomp_gen.c --proxy at build time. */\n") < 0 ||
        write_program(out, ctx, "hutch_proxy_seccomp") < 0 || fclose(out) != 0) {
        perror("seccomp_gen: writing the proxy's filter");
        return 1;
    }
    seccomp_release(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--docker-profile") == 0)
        return write_docker_profile(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--proxy") == 0)
        return write_proxy_filter(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTPUT.h\n", argv[0]);
        return 2;
    }
    scmp_filter_ctx calls = seccomp_init(SCMP_ACT_ERRNO(ENOSYS));
    scmp_filter_ctx arguments = seccomp_init(SCMP_ACT_ALLOW);
    if (!calls || !arguments)
        return 1;
    int r = build(calls);
    if (!r)
        r = build_arguments(arguments);
    if (r) {
        fprintf(stderr, "seccomp_gen: building the filter failed: %s\n", strerror(-r));
        return 1;
    }
    static struct compact compact;
    if (build_compact(&compact, calls, arguments) < 0)
        return 1;
    FILE *out = fopen(argv[1], "w");
    if (!out || fprintf(out, "/* Generated by src/drivers/native/seccomp_gen.c at build time. */\n") < 0 ||
        write_compact(out, &compact.prog, "hutch_seccomp_filter") < 0 || fclose(out) != 0) {
        perror("seccomp_gen: writing the filter");
        return 1;
    }
    seccomp_release(calls);
    seccomp_release(arguments);
    return 0;
}
