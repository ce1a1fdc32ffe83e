/* hutch skill build DIR [-f FILE] | hutch skill run DIR ACTION [--args JSON] [--json] [POLICY]
 *
 * A skill is a directory with a Dockerfile. Its image is tagged with a digest
 * of the directory's contents, so it is built again only when they change.
 * ACTION runs in an ephemeral container (after the image's ENTRYPOINT, if it
 * has one) with the JSON arguments on standard input; the answer is
 * {"status", "output", "error"}. */
#include <ctype.h>
#include <libgen.h>
#include <sys/mman.h>

#include <signal.h>

#include "cli/cli.h"
#include "drivers/docker/build.h"
#include "drivers/docker/docker_run.h"
#include "base/error.h"
#include "policy/policy.h"

/* hutch-skill-<directory name>:<first 12 hex digits of the context digest> */
static void skill_tag(const char *dir, const char *digest, char *tag, size_t len)
{
    char copy[4096];
    (void)!fmt_fits(copy, sizeof copy, "%s", dir); /* "" if too long: never cut */
    char real[4096];
    const char *base = basename(realpath(copy, real) ? real : copy);
    char slug[64];
    size_t n = 0;
    for (const char *c = base; *c && n < sizeof slug - 1; c++)
        slug[n++] = isalnum((unsigned char)*c) ? (char)tolower((unsigned char)*c) : '-';
    slug[n] = '\0';
    (void)!fmt_fits(tag, len, "hutch-skill-%s:%.12s", n ? slug : "skill", digest); /* or "" */
}

/* Builds the skill's image unless one with the same digest exists. */
static int ensure_image(struct engine *e, const char *dir, const char *dockerfile, bool verbose,
                        char *tag, size_t tag_len, bool *built, hutch_error *err)
{
    struct build_context ctx;
    /* Packing gives the digest; the same pack is uploaded when building. */
    if (context_pack(dir, dockerfile ? dockerfile : "Dockerfile", &ctx, err) < 0)
        return -1;
    skill_tag(dir, ctx.digest, tag, tag_len);
    context_close(&ctx);
    *built = false;
    int exists = docker_image_exists(e, tag, err);
    if (exists != 0)
        return exists < 0 ? -1 : 0;
    struct build_request req = {.dir = dir, .dockerfile = dockerfile, .tag = tag,
                                .kind = "skill", .progress = verbose ? stderr : NULL};
    int r = docker_build(e, &req, &ctx, err);
    context_close(&ctx);
    *built = r == 0;
    return r;
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
            int r = policy_args_parse(&pa, argc, argv, &i, &err);
            if (r <= 0)
                return cli_error("%s", r < 0 ? err.message : "unknown option (see 'hutch help skill')");
        }
    }
    if (!dir)
        return cli_error("skill build needs the skill's DIR");
    hutch_policy *p = policy_args_build(&pa, &err);
    if (!p)
        return cli_error("%s", err.message);
    struct engine e = {0};
    int r = engine_open(&e, p->docker.host, &err);
    hutch_policy_free(p);
    char tag[256];
    bool built = false;
    if (r == 0)
        r = ensure_image(&e, dir, dockerfile, true, tag, sizeof tag, &built, &err);
    engine_close(&e);
    if (r < 0)
        return cli_error("%s", err.message);
    printf("%s\n", tag);
    fprintf(stderr, "hutch: %s %s\n", built ? "built" : "up to date:", tag);
    return 0;
}

/* The arguments as the command's standard input, from memory. */
static int args_fd(const char *args, hutch_error *err)
{
    int fd = memfd_create("hutch-skill-args", MFD_CLOEXEC);
    if (fd < 0)
        return error_sys(err, errno, "cannot hold the skill's arguments");
    if (write_all(fd, args, strlen(args)) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
        close(fd);
        return error_sys(err, errno, "cannot hold the skill's arguments");
    }
    return fd;
}

/* output: the command's stdout, as JSON when it is JSON. */
static json_t *skill_answer(const hutch_result *r)
{
    json_t *output = NULL;
    if (r->out.data)
        output = json_loadb(r->out.data, r->out.len, JSON_DECODE_ANY, NULL);
    if (!output)
        output = json_stringn(r->out.data ? r->out.data : "", r->out.data ? r->out.len : 0);
    if (!output)
        output = json_string("(output is not UTF-8)");
    json_t *error = json_null();
    if (r->error)
        error = json_string(r->error);
    else if (r->timed_out)
        error = json_string("the skill timed out");
    else if (r->exit_code != 0) {
        json_t *text = r->err.data ? json_stringn(r->err.data, r->err.len) : NULL;
        error = text && json_string_length(text) ? text : json_sprintf("exit status %d", r->exit_code);
        if (text && error != text)
            json_decref(text);
    }
    return json_pack("{s:s, s:o, s:o}", "status", r->exit_code == 0 ? "ok" : "error", "output",
                     output, "error", error);
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

    hutch_policy *p = policy_args_build(&pa, &err);
    if (!p)
        return cli_error("%s", err.message);
    if (p->docker.container) {
        hutch_policy_free(p);
        return cli_error("a skill runs in a container of its own image: --sandbox (docker.container) "
                         "does not apply; remove it");
    }
    struct engine e = {0};
    char tag[256];
    bool built;
    hutch_result result = {0};
    int r = engine_open(&e, p->docker.host, &err);
    if (r == 0)
        r = ensure_image(&e, dir, dockerfile, verbose, tag, sizeof tag, &built, &err);
    if (r == 0)
        r = hutch_policy_set(p, "docker.image", tag, &err);
    /* The action may end before reading its input: no SIGPIPE for that. */
    signal(SIGPIPE, SIG_IGN);
    autoclose int stdin_fd = r == 0 ? args_fd(args, &err) : -1;
    if (r == 0 && stdin_fd < 0)
        r = -1;
    if (r == 0) {
        hutch_command cmd;
        hutch_command_init(&cmd);
        const char *argv_action[] = {action, NULL};
        cmd.argv = argv_action;
        cmd.stdin_fd = stdin_fd;
        fmt_bounded(result.backend, "docker");
        result.isolated = true;
        /* Ctrl-C stops the action; its container is still removed. */
        autoclose int cancel_fd = -1;
        if (cli_forward_signals(&cancel_fd) == 0)
            cmd.cancel_fd = cancel_fd;
        r = docker_run_skill(&e, p, &cmd, &result, &err);
    }
    engine_close(&e);
    hutch_policy_free(p);
    if (r < 0)
        return cli_error("%s", err.message);

    json_t *answer = skill_answer(&result);
    if (json) {
        autofree char *text = hutch_result_to_json(&result);
        json_t *full = text ? json_loads(text, 0, NULL) : NULL;
        if (full)
            json_object_update(answer, full);
        json_decref(full);
    }
    autofree char *out = json_dumps(answer, JSON_COMPACT);
    json_decref(answer);
    printf("%s\n", out ? out : "{}");
    int status = result.exit_code;
    hutch_result_free(&result);
    return status;
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
