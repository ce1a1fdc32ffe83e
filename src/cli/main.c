#include "cli/cli.h"

int main(int argc, char **argv)
{
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
            return cli_error("no help for '%s' (commands: run, config, doctor; topics: policy)",
                             argv[2]);
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "config") == 0)
        return cmd_config(argc - 1, argv + 1);
    if (strcmp(cmd, "doctor") == 0)
        return cmd_doctor(argc - 1, argv + 1);
    return cli_error("unknown command '%s' (see 'hutch --help')", cmd);
}
