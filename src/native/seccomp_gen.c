/* Build-time tool: builds hutch's seccomp filter with libseccomp and writes
 * it as a C array, so starting a sandbox neither links libseccomp nor
 * compiles a filter. The filter is an allowlist, like Docker's default
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
 * Usage: seccomp_gen OUTPUT.h */
#include <errno.h>
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

/* Adds rule(s) for a syscall; a name this libseccomp or architecture does
 * not know is skipped. */
static int syscall_number(const char *name)
{
    return seccomp_syscall_resolve_name(name);
}

static int allow_values(scmp_filter_ctx ctx, int nr, unsigned arg, const uint32_t *values,
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

static int add_names(scmp_filter_ctx ctx, uint32_t action, const char *const *names, size_t n)
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
        r = add_names(ctx, SCMP_ACT_ALLOW, allowed, sizeof allowed / sizeof allowed[0]);
    if (!r)
        r = add_names(ctx, SCMP_ACT_ALLOW, allowed_newer,
                      sizeof allowed_newer / sizeof allowed_newer[0]);
    if (!r)
        r = add_names(ctx, SCMP_ACT_ERRNO(EPERM), refused, sizeof refused / sizeof refused[0]);

    /* ioctl and socket are allowed here and narrowed by the second filter. */
    if (!r)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 0);
    if (!r)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 0);

    static const uint32_t personalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
    if (!r)
        r = allow_values(ctx, SCMP_SYS(personality), 0, personalities, 5);

    const uint64_t namespaces = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
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

/* The second filter: allow by default, refuse a few argument values. An
 * allowlist cannot say "every ioctl but these" without dozens of rules, a
 * small denylist stacked on it can; the kernel applies the stricter verdict.
 * The kernel reads these arguments as 32-bit ints, so only the low 32 bits
 * are compared (a zero high mask): high bits cannot slip a value through. */
static int build_arguments(scmp_filter_ctx ctx)
{
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    static const uint32_t tty_injection[] = {TIOCSTI, TIOCLINUX};
    for (size_t i = 0; !r && i < 2; i++) {
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

int main(int argc, char **argv)
{
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
    FILE *out = fopen(argv[1], "w");
    if (!out || fprintf(out, "/* Generated by src/native/seccomp_gen.c at build time. */\n") < 0 ||
        write_program(out, calls, "hutch_seccomp_calls") < 0 ||
        write_program(out, arguments, "hutch_seccomp_arguments") < 0 || fclose(out) != 0) {
        perror("seccomp_gen: writing the filter");
        return 1;
    }
    seccomp_release(calls);
    seccomp_release(arguments);
    return 0;
}
