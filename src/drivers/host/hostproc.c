/* Running a command as a plain child of hutch, in hutch's own namespaces:
 * the engine of the host and spawn backends. The command gets a process
 * group of its own; the timeout and the end of the run signal that group. */
#include <signal.h>
#include <termios.h>

#include "drivers/host/hostproc.h"
#include "base/command.h"
#include "base/launch.h"
#include "base/result.h"

static void signal_group(void *ctx, int sig)
{
    pid_t pgid = *(pid_t *)ctx;
    (void)kill(-pgid, sig);
}

/* --workdir is relative to the workspace when one is given. */
static char *resolve_workdir(const struct hutch_policy *p, const char *workspace)
{
    char *out = NULL;
    if (p->workdir && p->workdir[0] != '/' && workspace) {
        if (asprintf(&out, "%s/%s", workspace, p->workdir) < 0)
            return NULL;
        return out;
    }
    const char *dir = p->workdir ? p->workdir : workspace;
    return dir ? strdup(dir) : NULL;
}

int hostproc_run(const struct hutch_policy *p, const char *workspace, const hutch_command *cmd,
                 hutch_result *r, int (*child_setup)(void *ctx), void *ctx, hutch_error *err)
{
    if (!workspace)
        workspace = p->workspace;
    autostrlist struct strlist argv = {0};
    autostrlist struct strlist env = {0};
    if (command_argv(cmd, &argv, err) < 0 || command_env(p, ENV_HOST, &env, err) < 0)
        return -1;
    autofree char *workdir = resolve_workdir(p, workspace);
    if ((p->workdir || workspace) && !workdir)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");

    auto_command_io struct command_io io = {0};
    if (command_io_open(&io, cmd, p->limits.output_bytes, err) < 0)
        return -1;

    bool take_terminal = cmd->stdin_fd >= 0 && isatty(cmd->stdin_fd) &&
                         tcgetpgrp(cmd->stdin_fd) == getpgrp();
    struct launch_spec spec = {
        .argv = argv.items,
        .envp = env.items,
        .workdir = workdir,
        .stdin_fd = io.child_in,
        .stdout_fd = io.child_out,
        .stderr_fd = io.child_err,
        .take_terminal = take_terminal,
        .child_setup = child_setup,
        .ctx = ctx,
    };
    int cancelled = cancel_pending(cmd->cancel_fd);
    if (cancelled) {
        struct supervise_outcome never = {.signal = cancelled}; /* as if it had ended it */
        result_apply_outcome(r, &never);
        return 0;
    }
    double start = monotonic_ms();
    pid_t pid;
    autoclose int pidfd = -1;
    struct launch_failure failure;
    if (launch_process(&spec, &pid, &pidfd, &failure, err) < 0)
        return -1;
    command_io_close_child_ends(&io);

    switch (failure.stage) {
    case LAUNCH_OK:
        break;
    case LAUNCH_WORKDIR:
        return error_sys(err, failure.err, "cannot enter the working directory %s", workdir);
    case LAUNCH_SETUP:
        return error_sys(err, failure.err, "cannot set up the command's process");
    case LAUNCH_EXEC:
        if (result_exec_failed(r, argv.items[0], failure.err) < 0)
            return error_set(err, HUTCH_E_SYSTEM, "out of memory");
        r->duration_ms = monotonic_ms() - start;
        result_take_output(r, &io);
        return 0;
    }

    struct supervise_spec sup;
    command_io_supervise(&io, p, cmd, &sup);
    sup.pidfd = pidfd;
    sup.signal_all = signal_group;
    sup.ctx = &pid;
    struct supervise_outcome outcome;
    int rc = supervise(&sup, &outcome, err);
    if (take_terminal)
        reclaim_terminal(cmd->stdin_fd);
    if (rc < 0) {
        signal_group(&pid, SIGKILL);
        return -1;
    }
    r->duration_ms = monotonic_ms() - start;
    result_apply_outcome(r, &outcome);
    result_take_output(r, &io);
    return 0;
}
