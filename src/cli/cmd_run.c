/* hutch run [POLICY] [--json | --result-fd N] [--stdin] [--] COMMAND [ARG...] | -c STRING */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>

#include "cli/cli.h"

int cli_result_fd = -1;

/* N of --result-fd: an open descriptor above stderr, made close-on-exec so
 * that nothing hutch starts (a sandbox, a proxy, a helper) inherits it. */
static int result_fd_parse(const char *text, int *fd, hutch_error *err)
{
    char *end;
    errno = 0;
    long n = strtol(text, &end, 10);
    if (errno || end == text || *end || n <= STDERR_FILENO || n > INT_MAX)
        return cli_fail(err, "--result-fd needs a descriptor number above 2, not '%s'", text);
    int flags = fcntl((int)n, F_GETFD);
    if (flags < 0 || fcntl((int)n, F_SETFD, flags | FD_CLOEXEC) < 0)
        return cli_fail(err, "--result-fd %ld is not an open descriptor: open it for writing "
                             "(e.g. 3>result.json)", n);
    *fd = cli_result_fd = (int)n;
    return 0;
}

int run_args_parse(int argc, char **argv, struct run_args *ra, hutch_error *err)
{
    ra->result_fd = -1;
    int i = 1;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            help_topic("run", stdout);
            return 0;
        }
        if (strcmp(arg, "--json") == 0) {
            ra->json = true;
            continue;
        }
        if (strcmp(arg, "--stdin") == 0) {
            ra->pass_stdin = true;
            continue;
        }
        if (strcmp(arg, "--result-fd") == 0) {
            const char *value;
            if (option_value(argc, argv, &i, "--result-fd", NULL, &value, err) < 0 ||
                result_fd_parse(value, &ra->result_fd, err) < 0)
                return -1;
            continue;
        }
        if (strcmp(arg, "-c") == 0) {
            if (ra->shell)
                return cli_fail(err, "-c was given twice");
            if (option_value(argc, argv, &i, "-c", NULL, &ra->shell, err) < 0)
                return -1;
            continue;
        }
        if (arg[0] != '-' || arg[1] == '\0')
            break; /* the command starts here */
        int r = policy_args_parse(&ra->policy, argc, argv, &i, err);
        if (r < 0)
            return -1;
        if (r == 0)
            return cli_fail(err,
                            "unknown option %s (put the command after --, or see 'hutch help "
                            "run')",
                            arg);
    }
    if (ra->json && ra->result_fd >= 0)
        return cli_fail(err, "--json and --result-fd do not go together: --json prints the "
                             "result on stdout, --result-fd writes it to a descriptor while "
                             "the output streams");
    ra->command = argv + i;
    if (!ra->shell && !ra->command[0])
        return cli_fail(err, "nothing to run: give a command, e.g. hutch run -- echo hi, or -c "
                             "'SHELL STRING'");
    if (!ra->shell && ra->command[0][0] == '\0')
        return cli_fail(err, "the command name is empty");
    return 1;
}

void cli_report_live(const hutch_result *r, const hutch_policy *p)
{
    if (r->error)
        fprintf(stderr, "hutch: %s\n", r->error);
    if (r->timed_out) {
        autofree char *seconds = hutch_policy_get(p, "limits.timeoutSeconds");
        fprintf(stderr, "hutch: timed out after %.3gs; the command was killed\n",
                seconds ? strtod(seconds, NULL) : 0.0);
    }
    if (r->out.truncated)
        fprintf(stderr, "hutch: stdout cut at --output-limit (%llu bytes written in all)\n",
                (unsigned long long)r->out.bytes);
    if (r->err.truncated)
        fprintf(stderr, "hutch: stderr cut at --output-limit (%llu bytes written in all)\n",
                (unsigned long long)r->err.bytes);
}

int cli_print_result(const hutch_result *r)
{
    autofree char *text = hutch_result_to_json(r);
    if (!text || printf("%s\n", text) < 0 || fflush(stdout) != 0)
        return cli_error("cannot write the JSON result to stdout");
    return 0;
}

static int write_result_fd(int fd, const hutch_result *r)
{
    autofree char *text = hutch_result_to_json(r);
    if (!text || dprintf(fd, "%s\n", text) < 0)
        return cli_error("cannot write the JSON result to --result-fd %d: %s", fd,
                         strerror(errno));
    return 0;
}

int cli_run_failed(const struct run_args *ra, const char *message)
{
    int status = cli_error("%s", message);
    if (ra->result_fd >= 0) {
        hutch_result failed = {.exit_code = status, .error = (char *)message};
        write_result_fd(ra->result_fd, &failed);
    }
    return status;
}

void cli_free_policy(hutch_policy **p)
{
    hutch_policy_free(*p);
}

void cli_command_from(hutch_command *cmd, const struct run_args *ra, const hutch_policy *p,
                      int *cancel_fd)
{
    hutch_command_init(cmd);
    cmd->argv = (const char *const *)ra->command;
    cmd->shell = ra->shell;
    cmd->stdin_fd = ra->pass_stdin ? STDIN_FILENO : -1;
    cmd->detach_teardown = true; /* hutch exits right after the run */
    if (!ra->json) {
        /* Straight to the terminal unless a limit was asked for. */
        hutch_output_mode mode =
            hutch_policy_is_set(p, "limits.outputBytes") ? HUTCH_OUTPUT_RELAY : HUTCH_OUTPUT_PASS;
        cmd->stdout_mode = cmd->stderr_mode = mode;
        cmd->stdout_fd = STDOUT_FILENO;
        cmd->stderr_fd = STDERR_FILENO;
    }
    signal(SIGPIPE, SIG_IGN);
    if (cli_forward_signals(cancel_fd) == 0)
        cmd->cancel_fd = *cancel_fd;
}

int cli_finish_run(hutch_result *result, const struct run_args *ra, const hutch_policy *p)
{
    int status = result->exit_code;
    if (ra->json || ra->result_fd >= 0) {
        int failed = ra->json ? cli_print_result(result) : write_result_fd(ra->result_fd, result);
        if (failed)
            status = failed;
    } else {
        cli_report_live(result, p);
    }
    hutch_result_free(result);
    return status;
}

static void run_args_cleanup(struct run_args *ra)
{
    policy_args_free(&ra->policy);
}

int cmd_run(int argc, char **argv)
{
    /* Kept to the end: freed before the run, its block was given back to
     * the kernel and another one mapped for the next allocations. */
    __attribute__((cleanup(run_args_cleanup))) struct run_args ra = {0};
    hutch_error err = {0};
    int parsed = run_args_parse(argc, argv, &ra, &err);
    if (parsed <= 0)
        return parsed == 0 ? 0 : cli_run_failed(&ra, err.message);
    auto_policy hutch_policy *policy = policy_args_build(&ra.policy, &err);
    if (!policy)
        return cli_run_failed(&ra, err.message);

    if (!CLI_HAS_DOCKER && cli_policy_is(policy, "backend", "docker"))
        return cli_exec_docker_helper();

    hutch_command cmd;
    autoclose int cancel_fd = -1;
    cli_command_from(&cmd, &ra, policy, &cancel_fd);

    hutch_result result;
    /* Warnings (no isolation, a fallback) come as notices. */
    if (hutch_run(policy, &cmd, &result, &err) < 0)
        return cli_run_failed(&ra, err.message);
    int status = cli_finish_run(&result, &ra, policy);
    /* The process ends here: its policy goes with it too, rather than freed
     * piece by piece into pages the sandbox's clone made copy-on-write. */
    if (!HUTCH_LEAK_CHECKED)
        exit(status);
    return status;
}
