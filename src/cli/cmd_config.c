/* hutch config check [FILE] [POLICY] | hutch config path |
 * hutch config tool-allowed NAME... [POLICY] */
#include "cli/cli.h"

#define EXIT_INVALID 1

static int config_check(int argc, char **argv)
{
    struct policy_args pa = {0};
    hutch_error err = {0};
    const char *file = NULL;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            policy_args_free(&pa);
            help_topic("config", stdout);
            return 0;
        }
        if (arg[0] != '-') {
            if (file) {
                policy_args_free(&pa);
                return cli_error("config check takes one FILE, got %s and %s", file, arg);
            }
            file = arg;
            continue;
        }
        int r = policy_args_parse(&pa, argc, argv, &i, &err);
        if (r == 0)
            cli_fail(&err, "unknown option %s (see 'hutch help config')", arg);
        if (r <= 0) {
            policy_args_free(&pa);
            return cli_error("%s", err.message);
        }
    }
    if (file && pa.config_path) {
        policy_args_free(&pa);
        return cli_error("give the file either as FILE or with --config, not both");
    }
    if (file)
        pa.config_path = file;
    hutch_policy *p = policy_args_build(&pa, &err);
    policy_args_free(&pa);
    if (!p) {
        fprintf(stderr, "hutch: %s\n", err.message);
        return EXIT_INVALID;
    }
    autofree char *text = hutch_policy_to_json(p);
    hutch_policy_free(p);
    if (!text)
        return cli_error("out of memory");
    printf("%s\n", text);
    return 0;
}

static int config_path(int argc, char **argv)
{
    (void)argv;
    if (argc > 0)
        return cli_error("config path takes no arguments");
    autofree char *path = default_config_path();
    if (!path)
        return cli_error("neither XDG_CONFIG_HOME nor HOME is set: pass --config FILE");
    printf("%s\n", path);
    return 0;
}

/* Harnesses ask the policy about their own tools too (browser, canvas...):
 * one line per name, exit 0 when every name is allowed, 1 when one is not. */
static int config_tool_allowed(int argc, char **argv)
{
    auto_policy_args struct policy_args pa = {0};
    hutch_error err = {0};
    const char *names[64];
    size_t n = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            help_topic("config", stdout);
            return 0;
        }
        if (arg[0] != '-') {
            if (n == ARRAY_SIZE(names))
                return cli_error("config tool-allowed takes at most %zu names", ARRAY_SIZE(names));
            names[n++] = arg;
            continue;
        }
        int r = policy_args_parse(&pa, argc, argv, &i, &err);
        if (r == 0)
            cli_fail(&err, "unknown option %s (see 'hutch help config')", arg);
        if (r <= 0)
            return cli_error("%s", err.message);
    }
    if (n == 0)
        return cli_error("config tool-allowed needs a tool name: hutch config tool-allowed NAME... "
                         "[--config FILE]");
    auto_policy hutch_policy *p = policy_args_build(&pa, &err);
    if (!p)
        return cli_error("%s", err.message);
    bool all = true;
    for (size_t i = 0; i < n; i++) {
        bool allowed = hutch_tool_allowed(p, names[i]) == 1;
        all = all && allowed;
        printf("%s %s\n", names[i], allowed ? "allowed" : "denied");
    }
    if (fflush(stdout) != 0)
        return cli_error("cannot write to stdout");
    return all ? 0 : EXIT_INVALID;
}

int cmd_config(int argc, char **argv)
{
    static const struct cli_subcommand subs[] = {
        {"check", config_check},
        {"path", config_path},
        {"tool-allowed", config_tool_allowed},
        {NULL, NULL},
    };
    return cli_subcommand("config", argc, argv, subs);
}
