#include "base/command.h"
#include "policy/policy_resolve.h"
#include "net/proxy.h"

#include <fcntl.h>

#include "base/supervise.h"

/* SIGTERM first, SIGKILL this much later. */
#define KILL_GRACE_MS 2000
/* How long to wait for the output pipes' end of file once the command is
 * gone (something outside the sandbox's reach may hold them). */
#define DRAIN_MS 500

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

void hutch_command_init_v1(hutch_command *cmd, size_t cmd_size)
{
    hutch_command defaults = {
        .stdin_fd = -1,
        .stdout_mode = HUTCH_OUTPUT_CAPTURE,
        .stderr_mode = HUTCH_OUTPUT_CAPTURE,
        .stdout_fd = -1,
        .stderr_fd = -1,
        .cancel_fd = -1,
        .tty_fd = -1,
    };
    /* A caller built against an older hutch.h has fewer fields; one built
     * against a newer one more, which stay zero: unset. */
    memset(cmd, 0, cmd_size);
    memcpy(cmd, &defaults, cmd_size < sizeof defaults ? cmd_size : sizeof defaults);
}

int command_argv(const hutch_command *cmd, struct strlist *argv, hutch_error *err)
{
    if (cmd->shell) {
        if (strlist_push(argv, "/bin/sh") < 0 || strlist_push(argv, "-c") < 0 ||
            strlist_push(argv, cmd->shell) < 0)
            return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    } else if (!cmd->argv || !cmd->argv[0] || !cmd->argv[0][0]) {
        return error_set(err, HUTCH_E_INVALID, "no command given: pass argv or a shell string");
    }
    for (size_t i = 0; cmd->argv && cmd->argv[i]; i++)
        if (strlist_push(argv, cmd->argv[i]) < 0)
            return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    return 0;
}

static int copy_var(struct strlist *env, const char *name, const char *fallback)
{
    const char *value = getenv(name);
    if (!value)
        value = fallback;
    if (!value)
        return 0;
    return strlist_set_env(env, name, strlen(name), value);
}

int command_env(const struct hutch_policy *p, enum env_view view, struct strlist *env,
                hutch_error *err)
{
    int r = 0;
    if (p->inherit_env) {
        for (char **e = environ; *e && r == 0; e++)
            if (strchr(*e, '='))
                r = strlist_push(env, *e);
    } else if (view == ENV_HOST) {
        r = copy_var(env, "PATH", DEFAULT_PATH) | copy_var(env, "HOME", NULL) |
            copy_var(env, "LANG", "C.UTF-8") | copy_var(env, "TERM", NULL);
    } else {
        r = strlist_set_env(env, "PATH", 4, DEFAULT_PATH) |
            strlist_set_env(env, "HOME", 4, "/tmp") | copy_var(env, "LANG", "C.UTF-8") |
            copy_var(env, "TERM", NULL);
    }
    if (r == 0)
        r = policy_env_apply(p, view == ENV_DOCKER, env);
    /* The allowlist's proxy is the only way out: its variables are not for
     * the caller to change. */
    if (r == 0 && view != ENV_HOST && p->network.mode == NET_ALLOW)
        r = net_proxy_env(env);
    return r < 0 ? error_set(err, HUTCH_E_SYSTEM, "out of memory") : 0;
}

/* A pipe whose read end hutch polls; a larger buffer means fewer wake-ups
 * when a command floods its output. */
static int output_pipe(int *read_end, int *write_end, hutch_error *err)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return error_sys(err, errno, "cannot create an output pipe");
    (void)fcntl(fds[0], F_SETPIPE_SZ, 1024 * 1024);
    /* A new pipe's read end has no other status flag to keep. */
    if (fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return error_sys(err, e, "cannot configure an output pipe");
    }
    *read_end = fds[0];
    *write_end = fds[1];
    return 0;
}

static int setup_stream(struct command_io *io, int slot, hutch_output_mode mode, int target,
                        uint64_t limit, hutch_error *err)
{
    struct sink *sink = slot == 1 ? &io->out : &io->err;
    int *read_end = slot == 1 ? &io->out_read : &io->err_read;
    int *child = slot == 1 ? &io->child_out : &io->child_err;
    sink_init(sink, mode, target, limit);
    if (mode == HUTCH_OUTPUT_PASS) {
        if (target < 0)
            return error_set(err, HUTCH_E_INVALID, "output mode PASS needs a target fd");
        *child = target;
        return 0;
    }
    if (mode == HUTCH_OUTPUT_RELAY && target < 0)
        return error_set(err, HUTCH_E_INVALID, "output mode RELAY needs a target fd");
    if (output_pipe(read_end, &io->owned[slot], err) < 0)
        return -1;
    *child = io->owned[slot];
    return 0;
}

int command_io_open(struct command_io *io, const hutch_command *cmd, uint64_t limit,
                    hutch_error *err)
{
    io->out_read = io->err_read = -1;
    io->in_src = io->in_write = -1;
    io->owned[0] = io->owned[1] = io->owned[2] = -1;
    if (cmd->stdin_fd >= 0) {
        io->child_in = cmd->stdin_fd;
    } else {
        io->owned[0] = TEMP_FAILURE_RETRY(open_cloexec("/dev/null", O_RDONLY));
        if (io->owned[0] < 0)
            return error_sys(err, errno, "cannot open /dev/null");
        io->child_in = io->owned[0];
    }
    if (setup_stream(io, 1, cmd->stdout_mode, cmd->stdout_fd, limit, err) < 0 ||
        setup_stream(io, 2, cmd->stderr_mode, cmd->stderr_fd, limit, err) < 0) {
        command_io_free(io);
        return -1;
    }
    return 0;
}

int command_io_open_relayed(struct command_io *io, const hutch_command *cmd, uint64_t limit,
                            hutch_error *err)
{
    hutch_command copy = *cmd;
    copy.stdin_fd = -1;
    bool pass_out = copy.stdout_mode == HUTCH_OUTPUT_PASS;
    bool pass_err = copy.stderr_mode == HUTCH_OUTPUT_PASS;
    if (pass_out)
        copy.stdout_mode = HUTCH_OUTPUT_RELAY;
    if (pass_err)
        copy.stderr_mode = HUTCH_OUTPUT_RELAY;
    if (command_io_open(io, &copy, limit, err) < 0)
        return -1;
    if (pass_out)
        io->out.limit = UINT64_MAX;
    if (pass_err)
        io->err.limit = UINT64_MAX;
    if (cmd->stdin_fd < 0)
        return 0;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        int e = errno;
        command_io_free(io);
        return error_sys(err, e, "cannot create the stdin pipe");
    }
    if (fcntl(fds[1], F_SETFL, O_NONBLOCK) < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        command_io_free(io);
        return error_sys(err, e, "cannot configure the stdin pipe");
    }
    close_fd(&io->owned[0]); /* /dev/null */
    io->owned[0] = io->child_in = fds[0];
    io->in_write = fds[1];
    io->in_src = cmd->stdin_fd;
    return 0;
}

void command_io_close_child_ends(struct command_io *io)
{
    for (int i = 0; i < 3; i++)
        close_fd(&io->owned[i]);
}

void command_io_free(struct command_io *io)
{
    command_io_close_child_ends(io);
    close_fd(&io->in_write);
    close_fd(&io->out_read);
    close_fd(&io->err_read);
    sink_free(&io->out);
    sink_free(&io->err);
}

void command_io_supervise(struct command_io *io, const struct hutch_policy *p,
                          const hutch_command *cmd, struct supervise_spec *sup)
{
    memset(sup, 0, sizeof *sup);
    sup->out_fd = steal_fd(&io->out_read);
    sup->err_fd = steal_fd(&io->err_read);
    sup->out = &io->out;
    sup->err = &io->err;
    sup->timeout_ms = p->limits.timeout_ms;
    sup->grace_ms = KILL_GRACE_MS;
    sup->drain_ms = DRAIN_MS;
    sup->cancel_fd = cmd->cancel_fd;
    sup->exit_fd = -1;
    sup->in_src = io->in_src;
    sup->in_dst = steal_fd(&io->in_write);
}
