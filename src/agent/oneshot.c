/* hutch-init -- COMMAND: PID 1 of a one-shot docker container (docs/docker.md).
 *
 * The engine's own init (docker-init) is dumpable and runs as the command's
 * user, so the command could open /proc/1/mem and take over the process whose
 * exit status hutch reports. This one makes itself non-dumpable first: then
 * neither ptrace nor /proc/1/{mem,fd,environ} reach it without CAP_SYS_PTRACE,
 * which the container does not have. Otherwise it does what docker-init does:
 * starts the command as its child, passes the usual signals on to it, reaps
 * every orphan, and exits with the command's status (128+N for signal N).
 * With --proxy it first starts the network allowlist's bridge (bridge.h). */
#include "agent/oneshot.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/bridge.h"

/* What docker-init passes on; SIGKILL and SIGSTOP cannot be caught anyway. */
static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

static void __attribute__((noreturn)) run_command(char **argv, const sigset_t *old_mask)
{
    sigprocmask(SIG_SETMASK, old_mask, NULL);
    execvp(argv[0], argv);
    int e = errno;
    fprintf(stderr, "hutch-init: cannot run %s: %s\n", argv[0],
            e == ENOENT ? "command not found" : strerror(e));
    _exit(e == ENOENT ? 127 : 126);
}

int oneshot_run(char **argv, const char *proxy_path)
{
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
        fprintf(stderr, "hutch-init: cannot make itself non-dumpable: %s\n", strerror(errno));
        return 125;
    }
    /* Blocked signals wait for sigwaitinfo; as PID 1, a signal with the
     * default action would otherwise be dropped rather than passed on. */
    sigset_t waited, old_mask;
    sigemptyset(&waited);
    sigaddset(&waited, SIGCHLD);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        sigaddset(&waited, forwarded[i]);
    if (sigprocmask(SIG_BLOCK, &waited, &old_mask) < 0) {
        fprintf(stderr, "hutch-init: cannot set up signal handling: %s\n", strerror(errno));
        return 125;
    }
    if (proxy_path && bridge_start(proxy_path, true) < 0) {
        fprintf(stderr, "hutch-init: cannot start the network bridge on 127.0.0.1:%d and :%d: %s\n",
                BRIDGE_HTTP_PORT, BRIDGE_SOCKS_PORT, strerror(errno));
        return 125;
    }
    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "hutch-init: cannot start %s: %s\n", argv[0], strerror(errno));
        return 125;
    }
    if (child == 0)
        run_command(argv, &old_mask);

    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&waited, &si);
        if (sig < 0)
            continue; /* EINTR: nothing else can fail here */
        if (sig != SIGCHLD) {
            (void)kill(child, sig);
            continue;
        }
        /* SIGCHLDs merge: reap everything that has ended, orphans included. */
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
            if (pid == child)
                /* The rest of the container ends with us, as with docker-init. */
                return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    }
}
