/* hutch prune [--dry-run] [--workspaces] [--json] [--quiet]: removes the
 * sandboxes of sessions idle longer than prune.idleHours or older than
 * prune.maxAgeDays. Workspaces stay unless --workspaces; adopted containers
 * are never touched. */
#include "cli/cli.h"
#include "cli/session_common.h"


int cmd_prune(int argc, char **argv)
{
    bool dry_run = false, workspaces = false, json = false, quiet = false;
    struct policy_args pa = {0};
    hutch_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            help_topic("prune", stdout);
            policy_args_free(&pa);
            return 0;
        }
        if (strcmp(arg, "--dry-run") == 0 || strcmp(arg, "-n") == 0)
            dry_run = true;
        else if (strcmp(arg, "--workspaces") == 0)
            workspaces = true;
        else if (strcmp(arg, "--json") == 0)
            json = true;
        else if (strcmp(arg, "--quiet") == 0)
            quiet = true;
        else if (strcmp(arg, "--config") == 0 || strncmp(arg, "--config=", 9) == 0 ||
                 strcmp(arg, "--no-config") == 0) {
            if (policy_args_parse(&pa, argc, argv, &i, &err) < 0) {
                policy_args_free(&pa);
                return cli_error("%s", err.message);
            }
        } else {
            policy_args_free(&pa);
            return cli_error("hutch prune does not take %s (see 'hutch help prune')", arg);
        }
    }
    auto_policy hutch_policy *policy = policy_args_build(&pa, &err);
    policy_args_free(&pa);
    if (!policy)
        return cli_error("%s", err.message);

    autofree char *text = NULL;
    /* A docker session: the engine is reached from hutch-docker. */
    if (hutch_prune(policy, dry_run, workspaces, &text, &err) < 0)
        return cli_session_failed(&err);
    json_t *out = json_loads(text, 0, NULL);
    json_t *pruned = json_object_get(out, "pruned"), *failed = json_object_get(out, "failed");
    size_t failures = json_array_size(failed);
    size_t i;
    json_t *item;
    json_array_foreach(failed, i, item)
        cli_warn("cannot prune session %s: %s",
                 json_string_value(json_object_get(item, "key")),
                 json_string_value(json_object_get(item, "error")));
    if (json) {
        printf("%s\n", text);
    } else if (!quiet) {
        json_array_foreach(pruned, i, item)
            printf("%s %s: %s\n", dry_run ? "would prune" : "pruned",
                   json_string_value(json_object_get(item, "key")),
                   json_string_value(json_object_get(item, "reason")));
        if (json_array_size(pruned) == 0)
            printf("nothing to prune\n");
    }
    json_decref(out);
    return failures ? EXIT_HUTCH_FAILED : 0;
}
