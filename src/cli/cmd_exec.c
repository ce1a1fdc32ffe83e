/* hutch exec KEY [--json] [--stdin] [per-run options] [--] COMMAND... | -c STRING */
#include <signal.h>

#include "drivers/driver.h"
#include "cli/cli.h"
#include "cli/session_common.h"
#include "base/error.h"
#include "policy/policy.h"


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
        return parsed == 0 ? 0 : cli_error("%s", err.message);
    }
    auto_policy_args struct policy_args call = ra.policy;
    auto_session struct session s;
    auto_policy hutch_policy *policy =
        session_open_policy(&s, key, true, &call, "hutch exec", &err);
    if (!policy)
        return cli_error("%s", err.message);
    if (!policy->per_session && strcmp(key, SHARED_SESSION_KEY) != 0) {
        /* perSession false: every key shares one sandbox and workspace. */
        session_close(&s);
        hutch_policy_free(policy);
        if (!(policy = session_open_policy(&s, SHARED_SESSION_KEY, true, &call, "hutch exec", &err)))
            return cli_error("%s", err.message);
    }
    /* Containers only the Engine API reaches: hutch-docker does all of it
     * (else this use would be counted twice). */
    if (!CLI_HAS_DOCKER && session_driver_missing(&s) && !session_uses_agent(&s)) {
        session_unlock(&s);
        return cli_exec_docker_helper();
    }
    autofree char *config = absolute_config_path(call.config_path);
    struct session_use use = {.create_if_missing = policy->auto_create, .config_path = config};
    struct agent_conn conn = {.fd = -1, .cancel_fd = -1};
    int failed = cli_session_ensure(&s, policy, &use, &conn);
    if (failed)
        return failed;
    if (conn.fd < 0 && !CLI_HAS_DOCKER && session_driver_missing(&s))
        return cli_exec_docker_helper();
    maybe_prune_in_background();

    hutch_command cmd;
    autoclose int cancel_fd = -1;
    cli_command_from(&cmd, &ra, policy, &cancel_fd);

    hutch_result result;
    int rc = session_run(&s, policy, &conn, &cmd, &result, &err);
    agent_close(&conn);
    if (rc < 0)
        return cli_error("%s", err.message);
    return cli_finish_run(&result, ra.json, policy);
}
