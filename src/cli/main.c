#include "cli/cli.h"

/* What the library says without failing goes to stderr, as hutch's own. */
static void print_notice(const char *message, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "hutch: %s\n", message);
}

/* The subcommands; NULL: hutch-docker's (the MCP server with its HTTP
 * library; images and skills, whose engine code the static build does not
 * have: src/cli/helper.c). */
static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"run", cmd_run},       {"config", cmd_config}, {"exec", cmd_exec},
    {"session", cmd_session}, {"tool", cmd_tool},   {"prune", cmd_prune},
    {"doctor", cmd_doctor},
#ifdef HUTCH_NO_DOCKER
    {"mcp", NULL},          {"image", NULL},        {"skill", NULL},
#else
    {"mcp", cmd_mcp},       {"image", cmd_image},   {"skill", cmd_skill},
#endif
};

int main(int argc, char **argv)
{
    cli_argv = argv;
    hutch_set_notice_handler(print_notice, NULL);
    cli_set_approval_prompt();
    if (argc < 2) {
        help_overview(stderr);
        return EXIT_HUTCH_FAILED;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("hutch %s\n", hutch_version());
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        help_overview(stdout);
        return 0;
    }
    if (strcmp(cmd, "help") == 0) {
        if (argc < 3) {
            help_overview(stdout);
            return 0;
        }
        if (help_topic(argv[2], stdout) < 0)
            return cli_error("no help for '%s' (commands: run, exec, session, tool, mcp, prune, config, image, skill, doctor; topics: policy)",
                             argv[2]);
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run ? commands[i].run(argc - 1, argv + 1)
                                   : cli_exec_docker_helper();
    return cli_error("unknown command '%s' (see 'hutch --help')", cmd);
}
