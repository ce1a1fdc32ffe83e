/* Skills (include/hutch.h, docs/docker.md): a directory with a Dockerfile.
 * Its image is tagged with a digest of the directory's contents, so it is
 * built again only when they change. An action runs in an ephemeral
 * container (after the image's ENTRYPOINT, if it has one) with the JSON
 * arguments on standard input; the answer is {"status", "output", "error"}. */
#include <ctype.h>
#include <libgen.h>
#include <sys/mman.h>

#include "base/result.h"
#include "drivers/docker/build.h"
#include "drivers/docker/docker_run.h"
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

HUTCH_API int hutch_skill_build(const hutch_policy *p, const char *dir, const char *dockerfile,
                                int flags, int progress_fd, char **json, hutch_error *err)
{
    if (api_json_in(json, err) < 0)
        return -1;
    if (!p || !dir)
        return error_set(err, HUTCH_E_INVALID,
                         "hutch_skill_build: a policy and the skill's directory are required");
    auto_engine struct engine e = {0};
    if (engine_open(&e, p->docker.host, err) < 0)
        return -1;
    struct build_context ctx;
    /* Packing gives the digest; the same pack is uploaded when building. */
    if (context_pack(dir, dockerfile ? dockerfile : "Dockerfile", &ctx, err) < 0)
        return -1;
    char tag[256];
    skill_tag(dir, ctx.digest, tag, sizeof tag);
    context_close(&ctx);
    int exists = docker_image_exists(&e, tag, err);
    if (exists < 0)
        return -1;
    if (!exists) {
        struct build_request req = {.dir = dir,
                                    .dockerfile = dockerfile,
                                    .tag = tag,
                                    .kind = "skill",
                                    .no_cache = flags & HUTCH_BUILD_NO_CACHE,
                                    .progress_fd = progress_fd,
                                    .quiet = flags & HUTCH_BUILD_QUIET};
        int r = docker_build(&e, &req, &ctx, err);
        context_close(&ctx);
        if (r < 0)
            return -1;
    }
    return api_json_out(json_pack("{s:s, s:b}", "tag", tag, "built", !exists), json, err);
}

/* The arguments as the command's standard input, from memory. */
static int args_fd(const char *args, hutch_error *err)
{
    autoclose int fd = memfd_create("hutch-skill-args", MFD_CLOEXEC);
    if (fd < 0 || write_all(fd, args, strlen(args)) < 0 || lseek(fd, 0, SEEK_SET) < 0)
        return error_sys(err, errno, "cannot hold the skill's arguments");
    return steal_fd(&fd);
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

/* The answer, with the whole result under "result". */
static json_t *skill_answer_full(const hutch_result *r)
{
    json_t *answer = skill_answer(r);
    autofree char *text = hutch_result_to_json(r);
    json_t *full = text ? json_loads(text, 0, NULL) : NULL;
    if (!answer) {
        json_decref(full);
        return NULL;
    }
    if (json_object_set_new(answer, "result", full) < 0) { /* full NULL: out of memory */
        json_decref(answer);
        return NULL;
    }
    return answer;
}

HUTCH_API int hutch_skill_run(const hutch_policy *p, const char *image, const char *action,
                              const char *args_json, int cancel_fd, char **json, hutch_error *err)
{
    if (api_json_in(json, err) < 0)
        return -1;
    if (!p || !image || !action)
        return error_set(err, HUTCH_E_INVALID,
                         "hutch_skill_run: a policy, the image and the action are required");
    const char *args = args_json ? args_json : "{}";
    json_error_t jerr;
    json_t *parsed = json_loads(args, JSON_DECODE_ANY, &jerr);
    if (!parsed)
        return error_set(err, HUTCH_E_INVALID,
                         "the skill's arguments are not JSON (%s at column %d)", jerr.text,
                         jerr.column);
    json_decref(parsed);
    if (p->docker.container)
        return error_set(err, HUTCH_E_INVALID,
                         "a skill runs in a container of its own image: --sandbox "
                         "(docker.container) does not apply; remove it");
    /* The policy with the skill's image, checked as docker.image is: a
     * shallow copy, only read. */
    hutch_policy *named = hutch_policy_new();
    if (!named)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    int r = hutch_policy_set(named, "docker.image", image, err);
    struct hutch_policy run = *p;
    run.docker.image = named->docker.image;
    run.set[F_DOCKER_IMAGE] = true;

    auto_engine struct engine e = {0};
    hutch_result result = {0};
    if (r == 0)
        r = engine_open(&e, p->docker.host, err);
    autoclose int stdin_fd = r == 0 ? args_fd(args, err) : -1;
    if (r == 0 && stdin_fd < 0)
        r = -1;
    if (r == 0) {
        hutch_command cmd;
        hutch_command_init(&cmd);
        const char *argv_action[] = {action, NULL};
        cmd.argv = argv_action;
        cmd.stdin_fd = stdin_fd;
        cmd.cancel_fd = cancel_fd;
        fmt_bounded(result.backend, "docker");
        result.isolated = true;
        r = docker_run_skill(&e, &run, &cmd, &result, err);
    }
    hutch_policy_free(named);
    if (r == 0)
        r = api_json_out(skill_answer_full(&result), json, err);
    hutch_result_free(&result);
    return r;
}
