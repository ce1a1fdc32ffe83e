/* hutch skill build DIR [-f FILE] | hutch skill run DIR ACTION [--args JSON] [--json] [POLICY]
 *
 * A skill is a directory with a Dockerfile (hutch_skill_build and
 * hutch_skill_run): its image is built when the directory changed (and its
 * older images removed), then ACTION runs in an ephemeral container of it
 * as docs/docker.md describes, with the JSON arguments; the answer is
 * {"status", "output", "error"}. */
#include <signal.h>

#include "cli/cli.h"

/* What a build did to the skill's older images: removals with verbose, and
 * always the ones kept (a container still uses them). */
static void report_older(json_t *answer, bool verbose)
{
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(answer, "removed"), i, item)
        if (verbose)
            fprintf(stderr, "hutch: removed the older image %s\n", json_string_value(item));
    json_array_foreach(json_object_get(answer, "kept"), i, item)
        fprintf(stderr, "hutch: warning: %s (hutch image prune removes it later)\n",
                json_string_value(json_object_get(item, "error")));
}

/* A skill always runs in a container of its image: another backend asked
 * for on the command line is refused rather than dropped silently (a config
 * file's backend is for hutch run and stays ignored here). */
static bool other_backend_asked(int argc, char **argv, int i)
{
    const char *arg = argv[i];
    const char *backend = strcmp(arg, "--backend") == 0 && i + 1 < argc ? argv[i + 1]
                          : strncmp(arg, "--backend=", 10) == 0          ? arg + 10
                                                                         : NULL;
    if (!backend || strcmp(backend, "docker") == 0)
        return false;
    cli_error("a skill runs in a container of its own image, so --backend %s does not apply: "
              "remove it (to run an action without a sandbox, use hutch run --backend host)",
              backend);
    return true;
}

static int skill_build(int argc, char **argv)
{
    auto_policy_args struct policy_args pa = {0};
    hutch_error err = {0};
    const char *dir = NULL, *dockerfile = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--file") == 0) {
            if (option_value(argc, argv, &i, argv[i], NULL, &dockerfile, &err) < 0)
                return cli_error("%s", err.message);
        } else if (argv[i][0] != '-' && !dir) {
            dir = argv[i];
        } else {
            if (other_backend_asked(argc, argv, i))
                return EXIT_HUTCH_FAILED;
            int r = policy_args_parse(&pa, argc, argv, &i, &err);
            if (r <= 0)
                return cli_error("%s", r < 0 ? err.message : "unknown option (see 'hutch help skill')");
        }
    }
    if (!dir)
        return cli_error("skill build needs the skill's DIR");
    auto_policy hutch_policy *p = policy_args_build(&pa, &err);
    autofree char *text = NULL;
    if (!p || hutch_skill_build(p, dir, dockerfile, 0, STDERR_FILENO, &text, &err) < 0)
        return cli_error("%s", err.message);
    json_t *answer = json_loads(text, 0, NULL);
    const char *tag = json_string_value(json_object_get(answer, "tag"));
    printf("%s\n", tag ? tag : "");
    bool fresh = json_is_true(json_object_get(answer, "built"));
    fprintf(stderr, "hutch: %s %s\n", fresh ? "built" : "up to date:", tag ? tag : "");
    report_older(answer, true);
    json_decref(answer);
    return 0;
}

/* docker.container (--sandbox docker:NAME) names an existing container. */
static bool adopts_a_container(const hutch_policy *p)
{
    autofree char *name = hutch_policy_get(p, "docker.container");
    return name && *name;
}

/* What is printed: the answer, with the result's fields added for --json
 * (the answer's own "error" and any other key of its stay as they are). */
static int print_answer(const char *text, bool json)
{
    json_t *doc = json_loads(text, 0, NULL);
    json_t *result = json_object_get(doc, "result");
    json_t *answer = json_copy(doc);
    json_object_del(answer, "result");
    if (json && answer && json_is_object(result))
        json_object_update_missing(answer, result);
    autofree char *out = answer ? json_dumps(answer, JSON_COMPACT) : NULL;
    printf("%s\n", out ? out : "{}");
    int status = (int)json_integer_value(json_object_get(result, "exit_code"));
    json_decref(answer);
    json_decref(doc);
    return status;
}

static int skill_run(int argc, char **argv)
{
    auto_policy_args struct policy_args pa = {0};
    hutch_error err = {0};
    const char *dir = NULL, *action = NULL, *args = "{}", *dockerfile = NULL;
    bool json = false, verbose = false;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--args") == 0) {
            if (option_value(argc, argv, &i, arg, NULL, &args, &err) < 0)
                return cli_error("%s", err.message);
        } else if (strcmp(arg, "-f") == 0 || strcmp(arg, "--file") == 0) {
            if (option_value(argc, argv, &i, arg, NULL, &dockerfile, &err) < 0)
                return cli_error("%s", err.message);
        } else if (strcmp(arg, "--json") == 0) {
            json = true;
        } else if (strcmp(arg, "--verbose") == 0 || strcmp(arg, "-v") == 0) {
            verbose = true;
        } else if (arg[0] != '-') {
            if (!dir)
                dir = arg;
            else if (!action)
                action = arg;
            else
                return cli_error("skill run takes DIR and ACTION, then options; got %s too", arg);
        } else {
            if (other_backend_asked(argc, argv, i))
                return EXIT_HUTCH_FAILED;
            int r = policy_args_parse(&pa, argc, argv, &i, &err);
            if (r <= 0)
                return cli_error("%s", r < 0 ? err.message
                                             : "unknown option (see 'hutch help skill')");
        }
    }
    if (!dir || !action)
        return cli_error("skill run needs DIR and ACTION, e.g. hutch skill run ./weather forecast "
                         "--args '{\"city\": \"Oslo\"}'");
    json_error_t jerr;
    json_t *parsed = json_loads(args, JSON_DECODE_ANY, &jerr);
    if (!parsed)
        return cli_error("--args is not JSON (%s at column %d): quote it, e.g. --args '{\"n\": 1}'",
                         jerr.text, jerr.column);
    json_decref(parsed);

    auto_policy hutch_policy *p = policy_args_build(&pa, &err);
    if (!p)
        return cli_error("%s", err.message);
    /* Before building: the image would be built for nothing. */
    if (adopts_a_container(p))
        return cli_error("a skill runs in a container of its own image: --sandbox (docker.container) "
                         "does not apply; remove it");
    /* The build's output with -v; else only a failed build's last lines. */
    autofree char *built = NULL;
    if (hutch_skill_build(p, dir, dockerfile, verbose ? 0 : HUTCH_BUILD_QUIET, STDERR_FILENO,
                          &built, &err) < 0)
        return cli_error("%s", err.message);
    json_t *image = json_loads(built, 0, NULL);
    report_older(image, verbose);
    /* The action may end before reading its input: no SIGPIPE for that. */
    signal(SIGPIPE, SIG_IGN);
    /* Ctrl-C stops the action; its container is still removed. */
    autoclose int cancel_fd = -1;
    if (cli_forward_signals(&cancel_fd) < 0)
        cancel_fd = -1;
    autofree char *text = NULL;
    int r = hutch_skill_run(p, json_string_value(json_object_get(image, "tag")), action, args,
                            cancel_fd, &text, &err);
    json_decref(image);
    if (r < 0)
        return cli_error("%s", err.message);
    return print_answer(text, json);
}

int cmd_skill(int argc, char **argv)
{
    static const struct cli_subcommand subs[] = {
        {"build", skill_build},
        {"run", skill_run},
        {NULL, NULL},
    };
    return cli_subcommand("skill", argc, argv, subs);
}
