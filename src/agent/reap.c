/* hutch-init --reap COMMAND [PROXY]: PID 1 of a native one-shot run.
 *
 * The sandbox's init starts in hutch's own memory, starts the process that
 * sets the sandbox up and becomes the command (COMMAND), and then executes
 * this, in parallel with that setup: by the time the command runs, PID 1 is
 * a small process of its own with nothing of hutch's memory, environment or
 * arguments. It makes itself non-dumpable before anything else (the
 * command runs as the same user: ptrace, /proc/1/mem and /proc/1/environ
 * must not reach it). With PROXY (the allowlist proxy's socket inside) it
 * starts the network bridge (bridge.h) once the sandbox is built (end of
 * file on fd 7), and then closes the release pipe (fd 5), which the command
 * waits on. It passes the signals hutch forwards
 * on to every process of the sandbox, reaps every orphan, and when the
 * command ends reports its status (drivers/native/setup.h) and leaves,
 * which ends the sandbox. */
#include "agent/reap.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/native/setup.h"
#include "net/bridge.h"

/* With a proxy (sandbox.c): the sandbox's PID 2 closes the other end of
 * BUILT_FD once the sandbox is built, and waits for end of file on the
 * other end of RELEASE_FD before its command runs. */
#define RELEASE_FD 5
#define BUILT_FD 7

static void forward_to_all(int sig)
{
    int saved = errno;
    (void)kill(-1, sig); /* every process of the namespace but PID 1 */
    errno = saved;
}

static pid_t parse_pid(const char *text)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    return errno || end == text || *end || v <= 0 || v > 0x3fffffff ? -1 : (pid_t)v;
}

static void report_bridge_failure(int err)
{
    struct setup_message m = {.stage = STAGE_INIT_FAILED, .err = err};
    snprintf(m.what, sizeof m.what, "start the network bridge on 127.0.0.1:%d and :%d",
             BRIDGE_HTTP_PORT, BRIDGE_SOCKS_PORT);
    (void)!write(SETUP_STATUS_FD, &m, sizeof m);
}

int reap_main(const char *command_text, const char *proxy_socket)
{
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return 1;
    prctl(PR_SET_NAME, "hutch-init", 0, 0, 0);
    pid_t command = parse_pid(command_text);
    if (command <= 0 || getpid() != 1)
        return 1; /* not started by a sandbox's init: hutch sees the pipe close */
    /* Handlers before the word that lets hutch send signals: as PID 1,
     * a signal without one would be dropped. */
    struct sigaction sa = {.sa_handler = forward_to_all, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        if (sigaction(forwarded[i], &sa, NULL) < 0)
            return 1;
    pid_t bridge = 0;
    if (proxy_socket) {
        /* Forked before the sandbox's pivot_root is done, the bridge could
         * keep the host's root. */
        char byte;
        while (read(BUILT_FD, &byte, 1) < 0 && errno == EINTR)
            ;
        close(BUILT_FD);
        if ((bridge = bridge_start(proxy_socket, false)) < 0) {
            report_bridge_failure(errno);
            return 1;
        }
        close(RELEASE_FD);
    }
    struct setup_message forked = {.stage = STAGE_FORKED};
    if (write(SETUP_STATUS_FD, &forked, sizeof forked) != (ssize_t)sizeof forked)
        return 1;
    close(SETUP_STATUS_FD);

    for (;;) {
        int status;
        pid_t done = waitpid(-1, &status, 0);
        if (done == bridge)
            bridge = 0; /* gone early: the command just cannot reach the proxy */
        if (done == command) {
            struct sandbox_report report = {
                .exited = WIFEXITED(status),
                .code = WIFEXITED(status) ? WEXITSTATUS(status) : 0,
                .signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0,
            };
            /* The bridge serves the command only. */
            if (bridge > 0) {
                (void)kill(bridge, SIGKILL);
                while (waitpid(bridge, NULL, 0) < 0 && errno == EINTR)
                    ;
            }
            /* Reap what already ended; anything still running or a child of
             * ours makes the sandbox non-empty. */
            int other;
            pid_t r;
            while ((r = waitpid(-1, &other, WNOHANG)) > 0)
                ;
            report.empty = r < 0 && errno == ECHILD;
            (void)!write(SETUP_REPORT_FD, &report, sizeof report);
            /* Leaving kills every other process of the namespace. */
            _exit(0);
        }
        if (done < 0 && errno == ECHILD)
            _exit(0);
    }
}
