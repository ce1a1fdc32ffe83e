/* Build time, part of seccomp_gen (`seccomp_gen --proxy OUTPUT.h`): the
 * network proxy's seccomp filter, written as a C array like the sandbox's,
 * so that starting a proxy neither links libseccomp nor compiles a filter.
 * The allowlist proxy (src/net/proxy.c) loads it once it has dropped its
 * privileges; it allows exactly what the proxy does from then on: accept a
 * connection, fork a process for it, read the request, resolve the name
 * (musl's or glibc's resolver: /etc/hosts, /etc/resolv.conf and the like
 * read-only, DNS over UDP and TCP), connect, relay, append to the events
 * file, exit. docs/network.md has the list and the reasons.
 *   - the architecture is checked: anything but the native one kills;
 *   - syscalls that only an attacker would make (exec, ptrace, namespaces,
 *     io_uring, mounts, bpf, keyrings, modules, changing ids or
 *     capabilities) kill the process;
 *   - anything else not allowed fails with ENOSYS, so that libc falls back
 *     where it can (the nscd socket, netlink in glibc's getaddrinfo);
 *   - files open read-only: the proxy of an unprivileged caller runs as the
 *     caller, and must not be able to write the caller's files;
 *   - sockets are IPv4 and IPv6 only: no unix sockets (not the Docker
 *     engine's either), no netlink, no packet sockets.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "drivers/native/seccomp_gen.h"


static const char *const proxy_allowed[] = {
    "accept", "accept4", "bind", "brk", "clock_getres", "clock_gettime",
    "clock_nanosleep", "close", "connect", "exit", "exit_group", "fcntl",
    "fork", "fstat", "futex", "getegid", "geteuid", "getgid",
    "getpeername", "getpid", "getppid", "getrandom", "getresgid", "getresuid",
    "getrlimit", "getsockname", "getsockopt", "gettid", "gettimeofday", "getuid",
    "lseek", "lstat", "madvise", "mmap", "mprotect", "mremap",
    "munmap", "nanosleep", "newfstatat", "poll", "ppoll", "pread64",
    "read", "readv", "recvfrom", "recvmmsg", "recvmsg", "restart_syscall",
    "rseq", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sched_getaffinity", "sched_yield",
    "sendmmsg", "sendmsg", "sendto", "set_robust_list", "set_tid_address", "setsockopt",
    "shutdown", "sigaltstack", "stat", "statx", "sysinfo", "time",
    "uname", "wait4", "waitid", "write", "writev",
};

static const char *const proxy_killed[] = {
    "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
    "kcmp", "io_uring_setup", "io_uring_enter", "io_uring_register", "unshare", "setns",
    "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig",
    "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr", "bpf",
    "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key", "init_module",
    "finit_module", "delete_module", "kexec_load", "kexec_file_load", "open_by_handle_at",
    "name_to_handle_at", "setuid", "setgid", "setreuid", "setregid", "setresuid",
    "setresgid", "setgroups", "setfsuid", "setfsgid", "capset",
};

int gen_build_proxy(scmp_filter_ctx ctx)
{
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (!r)
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    if (!r)
        r = gen_add_names(ctx, SCMP_ACT_ALLOW, proxy_allowed, GEN_ARRAY_SIZE(proxy_allowed));
    if (!r)
        r = gen_add_names(ctx, SCMP_ACT_KILL_PROCESS, proxy_killed, GEN_ARRAY_SIZE(proxy_killed));

    static const uint32_t families[] = {AF_INET, AF_INET6};
    if (!r)
        r = gen_allow_values(ctx, SCMP_SYS(socket), 0, families, 2);
    static const uint32_t prctls[] = {PR_SET_PDEATHSIG, PR_SET_NAME, PR_GET_NAME};
    if (!r)
        r = gen_allow_values(ctx, SCMP_SYS(prctl), 0, prctls, 3);
    /* Opening for reading only: no flag that writes, creates or truncates. */
    const uint32_t writing =
        O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | (__O_TMPFILE & ~O_DIRECTORY);
    if (!r)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
                             SCMP_A1(SCMP_CMP_MASKED_EQ, writing, 0));
    if (!r)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                             SCMP_A2(SCMP_CMP_MASKED_EQ, writing, 0));
    /* Reading limits (glibc's sysconf), not setting them. */
    if (!r)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
                             SCMP_A2(SCMP_CMP_EQ, 0, 0));
    /* glibc forks with clone: without namespaces; asking for one kills. */
    static const uint32_t namespaces[] = {CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC,
                                          CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
                                          CLONE_NEWCGROUP};
    uint32_t any_namespace = 0;
    for (size_t i = 0; i < GEN_ARRAY_SIZE(namespaces); i++)
        any_namespace |= namespaces[i];
    if (!r)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, any_namespace, 0));
    for (size_t i = 0; !r && i < GEN_ARRAY_SIZE(namespaces); i++)
        r = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, namespaces[i], namespaces[i]));
    /* clone3 keeps its flags in memory: ENOSYS (the default), and libc uses clone. */
    return r;
}
