/* hutch mcp [--session KEY] [--http PORT] [--config FILE] [per-run options]:
 * an MCP server (src/mcp/, docs/mcp.md) whose tools run in session KEY's
 * sandbox, on stdio or on streamable HTTP at 127.0.0.1:PORT. */
#include <signal.h>

#include "cli/cli.h"
#include "cli/session_common.h"

/* The sandbox session of a server started without --session. */
#define MCP_DEFAULT_SESSION "mcp"


static int parse_port(const char *text, int *port)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 0 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

int cmd_mcp(int argc, char **argv)
{
    const char *key = MCP_DEFAULT_SESSION;
    const char *http = NULL;
    auto_policy_args struct policy_args call = {0};
    hutch_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        char name[64];
        const char *inline_value;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            help_topic("mcp", stdout);
            return 0;
        }
        if (split_long_option(arg, name, sizeof name, &inline_value) &&
            (strcmp(name, "session") == 0 || strcmp(name, "http") == 0)) {
            bool is_session = strcmp(name, "session") == 0;
            if (option_value(argc, argv, &i, is_session ? "--session" : "--http", inline_value,
                             is_session ? &key : &http, &err) < 0)
                return cli_error("%s", err.message);
            continue;
        }
        int r = arg[0] == '-' ? policy_args_parse(&call, argc, argv, &i, &err) : 0;
        if (r < 0)
            return cli_error("%s", err.message);
        if (r == 0)
            return cli_error("hutch mcp does not take %s (see 'hutch help mcp')", arg);
    }
    int port = -1;
    if (http && parse_port(http, &port) < 0)
        return cli_error("--http: \"%s\" is not a port number (0-65535; 0 picks a free one)", http);
    /* The session's policy, as hutch exec and hutch tool build it. */
    auto_policy hutch_policy *policy = cli_session_policy(&key, &call, "hutch mcp", &err);
    if (!policy)
        return cli_error("%s", err.message);

    signal(SIGPIPE, SIG_IGN);
    autoclose int stop_fd = -1;
    if (cli_forward_signals(&stop_fd) < 0)
        return cli_error("cannot set up signal handling: %s", strerror(errno));
    if (hutch_mcp_serve(policy, key, port, stop_fd, &err) < 0)
        return cli_error("%s", err.message);
    return 0;
}
