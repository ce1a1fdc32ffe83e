/* hutch exec KEY [--json | --result-fd N] [--stdin] [per-run options] [--] COMMAND... | -c STRING */
#include "cli/cli.h"
#include "cli/session_common.h"

int cmd_exec(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        help_topic("exec", stdout);
        return 0;
    }
    if (argc < 2 || argv[1][0] == '-')
        return cli_error("hutch exec needs a session key first: hutch exec KEY -- COMMAND "
                         "(see 'hutch help exec')");
    const char *key = argv[1];
    struct run_args ra = {0};
    hutch_error err = {0};
    /* The same options as hutch run, after the key. */
    int parsed = run_args_parse(argc - 1, argv + 1, &ra, &err);
    if (parsed <= 0) {
        policy_args_free(&ra.policy);
        return parsed == 0 ? 0 : cli_run_failed(&ra, err.message);
    }
    auto_policy_args struct policy_args call = ra.policy;
    auto_policy hutch_policy *policy = cli_session_policy(&key, &call, "hutch exec", &err);
    if (!policy)
        return cli_run_failed(&ra, err.message);

    hutch_command cmd;
    autoclose int cancel_fd = -1;
    cli_command_from(&cmd, &ra, policy, &cancel_fd);
    hutch_result result;
    if (hutch_session_exec(policy, key, &cmd, &result, &err) < 0)
        return err.status == HUTCH_E_NO_DRIVER ? cli_session_failed(&err)
                                               : cli_run_failed(&ra, err.message);
    maybe_prune_in_background();
    return cli_finish_run(&result, &ra, policy);
}
