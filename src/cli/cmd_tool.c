/* hutch tool KEY NAME ['JSON' | -] [--content-from FILE|-] [--config FILE]:
 * one tool call in a session, its result as one JSON object on stdout. */
#include <fcntl.h>
#include <signal.h>

#include "cli/cli.h"
#include "cli/session_common.h"

/* JSON arguments from stdin ("-"), bounded: large content goes through
 * --content-from, never through memory. */
static json_t *args_from(const char *text, hutch_error *err)
{
    json_error_t jerr;
    json_t *args = strcmp(text, "-") == 0 ? json_loadf(stdin, 0, &jerr) : json_loads(text, 0, &jerr);
    if (!args)
        cli_fail(err,
                 "the tool's arguments are not valid JSON (%s at line %d, column %d): give an "
                 "object like '{\"path\": \"a.txt\"}'",
                 jerr.text, jerr.line, jerr.column);
    return args;
}

int cmd_tool(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        help_topic("tool", stdout);
        return 0;
    }
    const char *positional[3] = {NULL, NULL, NULL};
    size_t npos = 0;
    const char *content_from = NULL;
    auto_policy_args struct policy_args call = {0};
    hutch_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--content-from") == 0) {
            if (option_value(argc, argv, &i, "--content-from", NULL, &content_from, &err) < 0)
                return cli_error("%s", err.message);
            continue;
        }
        if (arg[0] == '-' && arg[1] == '-') {
            int r = policy_args_parse(&call, argc, argv, &i, &err);
            if (r < 0)
                return cli_error("%s", err.message);
            if (r == 0)
                return cli_error("unknown option %s (see 'hutch help tool')", arg);
            continue;
        }
        if (npos == 3)
            return cli_error("unexpected argument '%s': hutch tool KEY NAME 'JSON'", arg);
        positional[npos++] = arg;
    }
    if (npos < 2)
        return cli_error("hutch tool needs a session key and a tool name: hutch tool KEY NAME "
                         "'{\"arg\": ...}'");
    json_t *args = positional[2] ? args_from(positional[2], &err) : json_object();
    if (!args)
        return cli_error("%s", err.message);
    autoclose int content_fd = -1;
    if (content_from) {
        content_fd = strcmp(content_from, "-") == 0
                         ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3)
                         : TEMP_FAILURE_RETRY(open(content_from, O_RDONLY | O_CLOEXEC));
        if (content_fd < 0) {
            json_decref(args);
            return cli_error("--content-from %s: %s", content_from, strerror(errno));
        }
    }

    /* The session's policy: as hutch exec builds it. */
    const char *key = positional[0];
    auto_policy hutch_policy *policy = cli_session_policy(&key, &call, "hutch tool", &err);
    autofree char *args_text = policy ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(args);
    if (!policy)
        return cli_error("%s", err.message);
    if (!args_text)
        return cli_error("out of memory");
    signal(SIGPIPE, SIG_IGN);
    autoclose int cancel_fd = -1;
    (void)cli_forward_signals(&cancel_fd);
    hutch_tool_options opts;
    hutch_tool_options_init(&opts);
    opts.content_fd = content_fd;
    opts.cancel_fd = cancel_fd;
    autofree char *text = NULL;
    if (hutch_tool_call_with(policy, key, positional[1], args_text, &opts, &text, &err) < 0)
        return cli_session_failed(&err);
    maybe_prune_in_background();
    json_t *result = json_loads(text, 0, NULL);
    bool ok = json_is_true(json_object_get(result, "ok"));
    json_decref(result);
    if (printf("%s\n", text) < 0 || fflush(stdout) != 0)
        return cli_error("cannot write the result to stdout");
    return ok ? 0 : 1;
}
