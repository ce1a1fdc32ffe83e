/* hutch prune [--dry-run] [--workspaces] [--json] [--quiet]: removes the
 * sandboxes of sessions idle longer than prune.idleHours or older than
 * prune.maxAgeDays. Workspaces stay unless --workspaces; adopted containers
 * are never touched. */
#include "cli/cli.h"
#include "cli/session_common.h"
#include "base/error.h"
#include "policy/policy.h"


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

    char **keys;
    size_t n;
    if (session_list(&keys, &n, &err) < 0)
        return cli_error("%s", err.message);
    json_t *pruned = json_array();
    int failures = 0;
    double now = session_now();
    for (size_t i = 0; i < n; i++) {
        struct session s;
        char why[160];
        const char *reason = NULL;
        if (session_open(&s, keys[i], &err) == 0 && session_lock(&s, &err) == 0 && s.record)
            reason = prune_reason(now, s.record->created_at, s.record->last_used_at,
                                  policy->prune.idle_hours, policy->prune.max_age_days,
                                  s.record->adopted, why, sizeof why);
        if (reason && !dry_run && !CLI_HAS_DOCKER && !session_driver(s.record->kind)) {
            /* A docker session: the engine is reached from hutch-docker. */
            session_close(&s);
            for (size_t j = i; j < n; j++)
                free(keys[j]);
            free(keys);
            json_decref(pruned);
            return cli_exec_docker_helper();
        }
        if (reason) {
            int r = dry_run ? 0 : session_remove(&s, workspaces, &err);
            if (r < 0) {
                failures++;
                cli_warn("cannot prune session %s: %s", keys[i], err.message);
            } else {
                json_array_append_new(pruned, json_pack("{s:s, s:s}", "key", keys[i], "reason",
                                                        reason));
                if (!json && !quiet)
                    printf("%s %s: %s\n", dry_run ? "would prune" : "pruned", keys[i], reason);
            }
        }
        session_close(&s);
        free(keys[i]);
    }
    free(keys);
    if (json) {
        json_t *out = json_pack("{s:b, s:o}", "dry_run", dry_run, "pruned", pruned);
        autofree char *text = json_dumps(out, JSON_COMPACT);
        printf("%s\n", text ? text : "{}");
        json_decref(out);
    } else {
        if (!quiet && json_array_size(pruned) == 0)
            printf("nothing to prune\n");
        json_decref(pruned);
    }
    return failures ? EXIT_HUTCH_FAILED : 0;
}
