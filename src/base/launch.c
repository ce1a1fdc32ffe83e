#include "base/launch.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>

static void __attribute__((noreturn)) report_and_exit(int status_fd, int stage, int errnum)
{
    struct launch_failure f = {.stage = stage, .err = errnum};
    (void)!write(status_fd, &f, sizeof f);
    _exit(127);
}

static void mark_all_cloexec(void)
{
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = 3; fd < max; fd++)
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* Async-signal-safe only: the caller of the library may have threads. */
static void __attribute__((noreturn)) child(const struct launch_spec *spec, int status_fd)
{

    if (setpgid(0, 0) < 0)
        report_and_exit(status_fd, LAUNCH_SETUP, errno);
    if (spec->take_terminal) {
        /* A background group may only claim the terminal with SIGTTOU blocked. */
        sigset_t ttou, old;
        sigemptyset(&ttou);
        sigaddset(&ttou, SIGTTOU);
        sigprocmask(SIG_BLOCK, &ttou, &old);
        (void)tcsetpgrp(spec->stdin_fd, getpid());
        sigprocmask(SIG_SETMASK, &old, NULL);
    }
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    /* Move the sources above 2 first, so 0/1/2 can be any of them. */
    int in = fcntl(spec->stdin_fd, F_DUPFD_CLOEXEC, 3);
    int out = fcntl(spec->stdout_fd, F_DUPFD_CLOEXEC, 3);
    int errfd = fcntl(spec->stderr_fd, F_DUPFD_CLOEXEC, 3);
    if (in < 0 || out < 0 || errfd < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
        dup2(errfd, 2) < 0)
        report_and_exit(status_fd, LAUNCH_SETUP, errno);

    if (spec->child_setup && spec->child_setup(spec->ctx) < 0)
        report_and_exit(status_fd, LAUNCH_SETUP, errno);
    if (spec->workdir && chdir(spec->workdir) < 0)
        report_and_exit(status_fd, LAUNCH_WORKDIR, errno);

    /* Nothing but 0, 1 and 2 crosses exec; the status pipe closes with it. */
    mark_all_cloexec();
    environ = (char **)spec->envp;
    execvp(spec->argv[0], spec->argv);
    report_and_exit(status_fd, LAUNCH_EXEC, errno);
}

int launch_process(const struct launch_spec *spec, pid_t *pid_out, int *pidfd_out,
                   struct launch_failure *failure, hutch_error *err)
{
    int status[2];
    failure->stage = LAUNCH_OK;
    failure->err = 0;
    if (pipe2(status, O_CLOEXEC) < 0)
        return error_sys(err, errno, "cannot create a status pipe");

    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(status[0]);
        close(status[1]);
        return error_sys(err, e, "cannot start a process");
    }
    if (pid == 0) {
        close(status[0]);
        child(spec, status[1]);
    }
    close(status[1]);
    /* Both sides set the group, so signals reach it whoever runs first. */
    (void)setpgid(pid, pid);

    struct launch_failure reported;
    ssize_t n = TEMP_FAILURE_RETRY(read(status[0], &reported, sizeof reported));
    close(status[0]);
    if (n == (ssize_t)sizeof reported) {
        *failure = reported;
        int ignored;
        (void)TEMP_FAILURE_RETRY(waitpid(pid, &ignored, 0));
        if (spec->take_terminal)
            reclaim_terminal(spec->stdin_fd);
        *pid_out = -1;
        *pidfd_out = -1;
        return 0;
    }

    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        int e = errno;
        kill(-pid, SIGKILL);
        int ignored;
        (void)TEMP_FAILURE_RETRY(waitpid(pid, &ignored, 0));
        return error_sys(err, e, "pidfd_open failed (Linux 5.3 or newer is needed)");
    }
    (void)fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    *pid_out = pid;
    *pidfd_out = pidfd;
    return 0;
}

void reclaim_terminal(int fd)
{
    sigset_t ttou, old;
    sigemptyset(&ttou);
    sigaddset(&ttou, SIGTTOU);
    pthread_sigmask(SIG_BLOCK, &ttou, &old);
    (void)tcsetpgrp(fd, getpgrp());
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int run_tool(const char *path, char *const argv[], char *said, size_t size, int *status,
             hutch_error *err)
{
    int out[2];
    if (pipe2(out, O_CLOEXEC) < 0)
        return error_sys(err, errno, "cannot create a pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out[1], 2);
    char *envp[] = {(char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", (char *)"LC_ALL=C", NULL};
    pid_t pid;
    int r = posix_spawn(&pid, path, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (r != 0) {
        close(out[0]);
        return error_sys(err, r, "cannot run %s", path);
    }
    size_t len = 0;
    for (;;) {
        char buf[512];
        ssize_t n = TEMP_FAILURE_RETRY(read(out[0], buf, sizeof buf));
        if (n <= 0)
            break;
        size_t room = size - 1 - len, take = (size_t)n < room ? (size_t)n : room;
        memcpy(said + len, buf, take);
        len += take;
    }
    close(out[0]);
    said[len] = '\0';
    for (char *c = said; *c; c++)
        if (*c == '\n')
            *c = c[1] ? ' ' : '\0';
    if (TEMP_FAILURE_RETRY(waitpid(pid, status, 0)) < 0)
        return error_sys(err, errno, "cannot wait for %s", path);
    return 0;
}
