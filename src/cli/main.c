#include "cli/cli.h"

/* What the library says without failing goes to stderr, as hutch's own. */
static void print_notice(const char *message, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "hutch: %s\n", message);
}

int main(int argc, char **argv)
{
    cli_argv = argv;
    hutch_set_notice_handler(print_notice, NULL);
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
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "config") == 0)
        return cmd_config(argc - 1, argv + 1);
    if (strcmp(cmd, "exec") == 0)
        return cmd_exec(argc - 1, argv + 1);
    if (strcmp(cmd, "session") == 0)
        return cmd_session(argc - 1, argv + 1);
    if (strcmp(cmd, "tool") == 0)
        return cmd_tool(argc - 1, argv + 1);
    if (strcmp(cmd, "prune") == 0)
        return cmd_prune(argc - 1, argv + 1);
    if (strcmp(cmd, "doctor") == 0)
        return cmd_doctor(argc - 1, argv + 1);
    if (strcmp(cmd, "mcp") == 0) {
        /* The MCP server lives in hutch-docker, with the HTTP library. */
#ifdef HUTCH_NO_DOCKER
        return cli_exec_docker_helper();
#else
        return cmd_mcp(argc - 1, argv + 1);
#endif
    }
    if (strcmp(cmd, "image") == 0 || strcmp(cmd, "skill") == 0) {
#ifdef HUTCH_NO_DOCKER
        return cli_exec_docker_helper();
#else
        return strcmp(cmd, "image") == 0 ? cmd_image(argc - 1, argv + 1)
                                         : cmd_skill(argc - 1, argv + 1);
#endif
    }
    return cli_error("unknown command '%s' (see 'hutch --help')", cmd);
}
