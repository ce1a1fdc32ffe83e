/* Runs a command under a policy with libhutch and prints what happened.
 *
 *   example_run [CONFIG.json] -- COMMAND [ARG...]
 *
 * Build: cc run_command.c $(pkg-config --cflags --libs hutch) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hutch.h>

int main(int argc, char **argv)
{
    int cmd_at = 1;
    const char *config = NULL;
    if (argc > 2 && strcmp(argv[1], "--") != 0) {
        config = argv[1];
        cmd_at = 2;
    }
    if (cmd_at >= argc || strcmp(argv[cmd_at], "--") != 0 || cmd_at + 1 >= argc) {
        fprintf(stderr, "usage: %s [CONFIG.json] -- COMMAND [ARG...]\n", argv[0]);
        return 2;
    }

    hutch_error err = {0};
    hutch_policy *policy = hutch_policy_new();
    if (!policy)
        return 1;
    if ((config && hutch_policy_load_file(policy, config, &err) < 0) ||
        hutch_policy_set(policy, "limits.timeoutSeconds", "10", &err) < 0 ||
        hutch_policy_set(policy, "limits.outputBytes", "4k", &err) < 0) {
        fprintf(stderr, "policy: %s\n", err.message);
        hutch_policy_free(policy);
        return 1;
    }

    hutch_command cmd;
    hutch_command_init(&cmd);
    cmd.argv = (const char *const *)(argv + cmd_at + 1);

    hutch_result result;
    if (hutch_run(policy, &cmd, &result, &err) < 0) {
        fprintf(stderr, "run: %s\n", err.message);
        hutch_policy_free(policy);
        return 1;
    }
    printf("backend=%s isolated=%d exit_code=%d stdout_bytes=%llu\n", result.backend,
           result.isolated, result.exit_code, (unsigned long long)result.out.bytes);
    printf("stdout=%s", result.out.data);
    char *json = hutch_result_to_json(&result);
    printf("json=%s\n", json ? json : "(none)");
    free(json);
    hutch_result_free(&result);
    hutch_policy_free(policy);
    return 0;
}
