/* Starting a command in fresh namespaces: clone into new user, mount, pid,
 * ipc, uts (and net) namespaces; the parent maps the user ids and places the
 * child in its cgroup; the child becomes the sandbox's init (PID 1), builds
 * the filesystem and starts the command locked down (setsid, no_new_privs,
 * Landlock, no capabilities, rlimits, seccomp). In a one-shot run init then
 * becomes hutch-init --reap, which reaps until the command exits; in a
 * session the command is hutch-init itself.
 *
 * init and the command's process run in the caller's own memory (CLONE_VM,
 * each on a stack of its own) until they exec: no copy of the caller's
 * address space is made, which is most of what a sandbox start costs where
 * page faults are dear. Meanwhile the caller only waits (sandbox_start()
 * returns once both have exec'd), and child-side code allocates nothing,
 * sets no libc state (environ, credentials through libc) and touches only
 * its own stack, the spec and the fds it was given. */
#ifndef HUTCH_NATIVE_SANDBOX_H
#define HUTCH_NATIVE_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "drivers/native/cgroup.h"
#include "drivers/native/plan.h"
#include "drivers/native/setup.h"

struct sandbox_spec {
    const struct plan *plan;
    char *const *argv;
    char *const *envp;
    const char *workdir;   /* inside the sandbox */
    uid_t uid, outside_uid;
    gid_t gid, outside_gid;
    enum userns_mode {
        USERNS_CALLER,      /* unprivileged: the sandbox's uid maps onto the caller */
        USERNS_ROOT_DIRECT, /* root: the sandbox's uid maps onto the same host uid */
        USERNS_ROOT_NESTED, /* root, with bind sources only root can reach: every id
                               maps onto itself for setup, and the command goes into
                               a nested namespace that maps its uid alone */
    } userns;
    bool new_net;          /* a network namespace with only loopback */
    int stdin_fd, stdout_fd, stderr_fd;
    int landlock_abi;
    uint64_t rlimit_nproc; /* 0: none */
    uint64_t rlimit_as;    /* 0: none */
    uint64_t rlimit_fsize; /* 0: none */
    const struct cgroup_run *cgroup;
    uint64_t changed_signals; /* bit N-1: signal N is caught or ignored by the caller */
    /* Sessions: the command (hutch-init) replaces init as PID 1 and outlives
     * the caller; nothing reports on it. sandbox_start() returns once it was
     * executed. */
    bool command_is_init;
    /* Network mode allow (one-shot runs): init starts the bridge to the
     * proxy's socket at this inside path before the command. */
    const char *proxy_socket;
    /* Sessions: init makes the agent's listening socket at this inside path
     * and passes it on as SANDBOX_AGENT_FD, then makes its directory
     * read-only for good: no process of the sandbox can replace it. */
    const char *agent_socket;
    /* One-shot runs: -1, or the caller's cancel_fd (a readable byte is a
     * signal). A cancel that arrives before the command's process starts
     * stops the run there: the command never runs. */
    int cancel_fd;
    /* One-shot runs: hutch-init, opened O_PATH, which init becomes once the
     * command started (PID 1 then holds nothing of the caller's memory). */
    int init_binary_fd;
};

/* Where the command (hutch-init) finds the agent's listening socket. */
#define SANDBOX_AGENT_FD 5

/* The caller's signals that are not at their default disposition. */
uint64_t sandbox_changed_signals(void);


struct sandbox {
    pid_t pid;       /* the init (PID 1), in hutch's pid namespace */
    int pidfd;
    int report_fd;   /* PID 1 writes a sandbox_report here */
    int failed_stage; /* 0, or the setup_stage that failed; STAGE_CANCELLED:
                         the command never started, failed_errno is the signal */
    int failed_errno;
    char failed_what[240];
    int cancelled;   /* a signal cancelled the run during setup, after which the
                        command started anyway: forward it now */
};

/* Starts the sandbox and returns once the command was executed (or failed
 * before that: then failed_stage says where, and the sandbox is reaped).
 * -1 when the namespaces could not be created at all. */
int sandbox_start(const struct sandbox_spec *spec, struct sandbox *sb, hutch_error *err);

/* Reads the init's report; 0 when one was written. */
int sandbox_read_report(struct sandbox *sb, struct sandbox_report *report);

void sandbox_close(struct sandbox *sb);

/* Remembers a sandbox whose init is still tearing down, to reap it later;
 * reaps the ones that have finished. */
void sandbox_reap_later(pid_t init);
void sandbox_reap_finished(void);

#endif
