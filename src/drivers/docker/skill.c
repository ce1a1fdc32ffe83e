/* Skills (include/hutch.h, docs/docker.md): a directory with a Dockerfile.
 * Its image is tagged with a digest of the directory's contents, so it is
 * built again only when they change, and the skill's older images are
 * removed then. An action runs in an ephemeral container the way the
 * image is written to be run (skill_command): after its ENTRYPOINT; after
 * its own CMD, with the arguments; or as the command. The JSON arguments
 * are always on standard input and in SKILL_ARGS, the action in
 * SKILL_ACTION. The answer is {"status", "output", "error"}. */
#include <ctype.h>
#include <limits.h>
#include <signal.h>
#include <sys/mman.h>

#include "base/result.h"
#include "drivers/docker/build.h"
#include "drivers/docker/docker_run.h"
#include "drivers/docker/dockerfile.h"
#include "drivers/docker/prune.h"
#include "policy/policy.h"
#include "policy/units.h"

/* Where a skill's image was built from, and which of CMD and ENTRYPOINT
 * its Dockerfile sets itself ("cmd", "entrypoint", "entrypoint cmd" or
 * "none"), rather than having them from its base image: an inherited CMD
 * (bash, python3) is not the skill's program. One label each: the engine
 * makes a build step of every label. */
#define LABEL_DIR "hutch.skill.dir"
#define LABEL_OWN "hutch.skill.own"

/* Arguments up to this size go on the command line and into SKILL_ARGS as
 * well: the kernel takes at most 128 KiB in one argument or variable. */
#define ARGS_INLINE_MAX (64 * 1024)

struct skill_names {
    char dir[PATH_MAX]; /* the directory's real path */
    char repo[96];      /* hutch-skill-<the directory's name> */
    char tag[128];      /* repo:<the first 12 hex digits of the digest> */
};

static int skill_names(const char *dir, const char *digest, struct skill_names *n,
                       hutch_error *err)
{
    if (!realpath(dir, n->dir))
        return error_sys(err, errno, "skill directory %s", dir);
    const char *base = strrchr(n->dir, '/');
    base = base && base[1] ? base + 1 : n->dir;
    char slug[64];
    size_t len = 0;
    for (const char *c = base; *c && len < sizeof slug - 1; c++)
        slug[len++] = isalnum((unsigned char)*c) ? (char)tolower((unsigned char)*c) : '-';
    slug[len] = '\0';
    fmt_bounded(n->repo, "hutch-skill-%s", len ? slug : "skill");
    fmt_bounded(n->tag, "%s:%.12s", n->repo, digest);
    return 0;
}

/* 1 when tag is there as this hutch builds it; 0 when it must be built
 * (missing, or made by an older hutch, without the labels skill runs read). */
static int image_current(struct engine *e, const char *tag, hutch_error *err)
{
    json_t *reply;
    int r = engine_inspect(e, ENGINE_IMAGE, tag, &reply, err);
    if (r == 1)
        r = json_object_get(json_object_get(json_object_get(reply, "Config"), "Labels"),
                            LABEL_OWN) != NULL;
    json_decref(reply);
    return r;
}

static json_t *skill_labels(const struct skill_names *n, const char *dir, const char *dockerfile,
                            hutch_error *err)
{
    char path[PATH_MAX];
    if (fmt_checked(err, path, sizeof path, "%s/%s", dir, dockerfile) < 0)
        return NULL;
    autofree char *text = NULL;
    if (read_file_bounded(path, 4 << 20, &text, NULL) < 0) {
        error_sys(err, errno, "cannot read the skill's Dockerfile %s", path);
        return NULL;
    }
    struct dockerfile_sets sets;
    dockerfile_scan(text, &sets);
    json_t *labels = json_pack("{s:s}", LABEL_OWN,
                               sets.entrypoint ? (sets.cmd ? "entrypoint cmd" : "entrypoint")
                                               : (sets.cmd ? "cmd" : "none"));
    json_t *where = json_string(n->dir); /* NULL: not UTF-8, then not labelled */
    if (labels && where)
        json_object_set_new(labels, LABEL_DIR, where);
    else
        json_decref(where);
    if (!labels)
        error_set(err, HUTCH_E_SYSTEM, "out of memory");
    return labels;
}

/* The skill's older images, once a new one is built: removed, or kept (in
 * use by a container) with the reason. */
static void remove_older(struct engine *e, const struct skill_names *n, json_t *removed,
                         json_t *kept)
{
    const char *names[] = {n->repo, NULL};
    struct prune_scope scope = {.names = names, .skill_dir = n->dir, .keep = n->tag};
    hutch_error why = {0};
    json_t *done = docker_prune(e, &scope, &why);
    if (!done) {
        json_array_append_new(kept, json_pack("{s:s+, s:s}", "name", n->repo, ":*", "error",
                                              why.message));
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(done, i, item) {
        if (json_is_true(json_object_get(item, "removed")))
            json_array_append(removed, json_object_get(item, "name"));
        else
            json_array_append_new(kept, json_pack("{s:O, s:O}", "name",
                                                  json_object_get(item, "name"), "error",
                                                  json_object_get(item, "error")));
    }
    json_decref(done);
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
    const char *file = dockerfile ? dockerfile : "Dockerfile";
    struct build_context ctx;
    /* Packing gives the digest; the same pack is uploaded when building. */
    if (context_pack(dir, file, &ctx, err) < 0)
        return -1;
    struct skill_names n;
    int r = skill_names(dir, ctx.digest, &n, err);
    context_close(&ctx);
    int current = r < 0 ? -1 : image_current(&e, n.tag, err);
    if (current < 0)
        return -1;
    json_t *removed = json_array(), *kept = json_array();
    if (!current) {
        json_t *labels = skill_labels(&n, dir, file, err);
        struct build_request req = {.dir = dir,
                                    .dockerfile = dockerfile,
                                    .tag = n.tag,
                                    .kind = "skill",
                                    .labels = labels,
                                    .no_cache = flags & HUTCH_BUILD_NO_CACHE,
                                    .progress_fd = progress_fd,
                                    .quiet = flags & HUTCH_BUILD_QUIET};
        r = labels ? docker_build(&e, &req, &ctx, err) : -1;
        if (labels)
            context_close(&ctx);
        json_decref(labels);
        if (r == 0)
            remove_older(&e, &n, removed, kept);
    }
    if (r < 0) {
        json_decref(removed);
        json_decref(kept);
        return -1;
    }
    return api_json_out(json_pack("{s:s, s:b, s:o, s:o}", "tag", n.tag, "built", !current,
                                  "removed", removed, "kept", kept),
                        json, err);
}

/* The arguments as the command's standard input, from memory. */
static int args_fd(const char *args, hutch_error *err)
{
    autoclose int fd = memfd_create("hutch-skill-args", MFD_CLOEXEC);
    if (fd < 0 || write_all(fd, args, strlen(args)) < 0 || lseek(fd, 0, SEEK_SET) < 0)
        return error_sys(err, errno, "cannot hold the skill's arguments");
    return steal_fd(&fd);
}

static int push_all(struct strlist *argv, json_t *words)
{
    size_t i;
    json_t *word;
    json_array_foreach(words, i, word)
        if (!json_is_string(word) || strlist_push(argv, json_string_value(word)) < 0)
            return -1;
    return 0;
}

static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

/* The command line, as the image is written to be run (docs/docker.md):
 *  - its own ENTRYPOINT: ENTRYPOINT ACTION, as `docker run IMAGE ACTION`;
 *  - else its own CMD: [ENTRYPOINT] CMD ACTION ARGS, the image run as it is
 *    with the call appended (a skill runner's `python -m skills.NAME`);
 *  - else: [ENTRYPOINT] ACTION, the action a command of the image.
 * An image hutch did not build has its ENTRYPOINT and CMD as its own; one
 * from a hutch without these labels runs as that hutch ran it. */
static int skill_command(json_t *config, const char *action, const char *args,
                         struct strlist *argv)
{
    json_t *labels = json_object_get(config, "Labels");
    const char *own = json_string_value(json_object_get(labels, LABEL_OWN));
    bool hutch_made = json_is_string(json_object_get(labels, "hutch.managed"));
    bool own_cmd = own ? has_word(own, "cmd") : !hutch_made;
    bool own_ep = own ? has_word(own, "entrypoint") : true;
    json_t *ep = json_object_get(config, "Entrypoint");
    json_t *cmd = json_object_get(config, "Cmd");
    if (push_all(argv, ep) < 0)
        return -1;
    bool run_cmd = !(own_ep && json_array_size(ep)) && own_cmd && json_array_size(cmd);
    if (run_cmd && push_all(argv, cmd) < 0)
        return -1;
    if (strlist_push(argv, action) < 0)
        return -1;
    /* Too long for one argument: "-", read standard input. */
    if (run_cmd && strlist_push(argv, strlen(args) <= ARGS_INLINE_MAX ? args : "-") < 0)
        return -1;
    return 0;
}

/* The image's config ("Entrypoint", "Cmd", "WorkingDir", "Labels"). */
static json_t *image_config(struct engine *e, const char *image, hutch_error *err)
{
    json_t *reply;
    int found = engine_inspect(e, ENGINE_IMAGE, image, &reply, err);
    json_t *config = json_object_get(reply, "Config");
    if (found == 0)
        error_set(err, HUTCH_E_INVALID,
                  "the skill's image %s is not there: build it with hutch skill build DIR", image);
    else if (found == 1 && !json_is_object(config))
        error_set(err, HUTCH_E_SYSTEM, "the image %s has no config to run it by", image);
    config = json_is_object(config) ? json_incref(config) : NULL;
    json_decref(reply);
    return config;
}

/* Why the action did not finish, or NULL when it did. */
static json_t *failure(const hutch_result *r, uint64_t memory)
{
    char limit[UNITS_TEXT_MAX] = "";
    if (memory)
        (void)format_size(memory, limit, sizeof limit);
    if (r->error)
        return json_string(r->error);
    if (r->timed_out)
        return json_string("the skill timed out");
    if (r->oom_killed)
        return json_sprintf("the skill ran out of memory: killed at its limit of %s (raise "
                            "--memory, limits.memory)",
                            limit[0] ? limit : "the container's memory");
    if (r->signal == SIGKILL && limit[0])
        /* Podman does not report it: with a memory limit, that is the likely cause. */
        return json_sprintf("the skill was killed by signal 9 (SIGKILL), most likely for using "
                            "more than its memory limit of %s (raise --memory, limits.memory)",
                            limit);
    if (r->signal)
        return json_sprintf("the skill was killed by signal %d", r->signal);
    if (r->exit_code == 0)
        return NULL;
    json_t *text = r->err.data ? json_stringn(r->err.data, r->err.len) : NULL;
    if (text && json_string_length(text))
        return text;
    json_decref(text);
    return json_sprintf("exit status %d", r->exit_code);
}

/* {"status", "output", "error"}; output: the command's stdout, as JSON when
 * it is JSON. A skill that succeeds and answers an object with a "status"
 * of its own (a skill runner's {"status", "output", ...}) answers itself,
 * unless the object has a "result", the key that hutch's run result takes. */
static json_t *skill_answer(const hutch_result *r, uint64_t memory)
{
    json_t *output = NULL;
    if (r->out.data)
        output = json_loadb(r->out.data, r->out.len, JSON_DECODE_ANY, NULL);
    if (!output)
        output = json_stringn(r->out.data ? r->out.data : "", r->out.data ? r->out.len : 0);
    if (!output)
        output = json_string("(output is not UTF-8)");
    json_t *error = failure(r, memory);
    if (!error && json_is_object(output) && json_is_string(json_object_get(output, "status")) &&
        !json_object_get(output, "result")) {
        if (!json_object_get(output, "output"))
            json_object_set_new(output, "output", json_null());
        if (!json_object_get(output, "error"))
            json_object_set_new(output, "error", json_null());
        return output;
    }
    return json_pack("{s:s, s:o, s:o}", "status", error ? "error" : "ok", "output", output,
                     "error", error ? error : json_null());
}

/* The answer, with the whole result under "result". */
static json_t *skill_answer_full(const hutch_result *r, uint64_t memory)
{
    json_t *answer = skill_answer(r, memory);
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

static void free_policy(hutch_policy **p)
{
    hutch_policy_free(*p);
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
    /* One line, for the command line and the environment. */
    autofree char *compact = json_dumps(parsed, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(parsed);
    if (!compact)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    if (p->docker.container)
        return error_set(err, HUTCH_E_INVALID,
                         "a skill runs in a container of its own image: --sandbox "
                         "(docker.container) does not apply; remove it");
    auto_engine struct engine e = {0};
    if (engine_open(&e, p->docker.host, err) < 0)
        return -1;
    json_t *config = image_config(&e, image, err);
    if (!config)
        return -1;
    autostrlist struct strlist argv = {0};
    autostrlist struct strlist env = {0};
    int r = skill_command(config, action, compact, &argv);
    if (r == 0)
        r = strlist_set_env(&env, "SKILL_ACTION", 12, action);
    if (r == 0 && strlen(compact) <= ARGS_INLINE_MAX)
        r = strlist_set_env(&env, "SKILL_ARGS", 10, compact);
    const char *workdir = json_string_value(json_object_get(config, "WorkingDir"));
    /* The policy with the skill's image, checked as docker.image is, and the
     * image's WORKDIR (python -m finds its modules there) unless the policy
     * names one: a shallow copy, only read. */
    __attribute__((cleanup(free_policy))) hutch_policy *named = hutch_policy_new();
    if (r < 0 || !named) {
        json_decref(config);
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    }
    r = hutch_policy_set(named, "docker.image", image, err);
    bool image_workdir = workdir && workdir[0] == '/' && !p->workdir && !p->docker.workdir;
    if (r == 0 && image_workdir)
        r = hutch_policy_set(named, "docker.workdir", workdir, err);
    json_decref(config);
    if (r < 0)
        return -1;
    struct hutch_policy run = *p;
    run.docker.image = named->docker.image;
    run.set[F_DOCKER_IMAGE] = true;
    if (image_workdir) {
        run.docker.workdir = named->docker.workdir;
        run.set[F_DOCKER_WORKDIR] = true;
    }

    autoclose int stdin_fd = args_fd(args, err);
    if (stdin_fd < 0)
        return -1;
    hutch_result result = {0};
    hutch_command cmd;
    hutch_command_init(&cmd);
    cmd.argv = (const char *const *)argv.items;
    cmd.stdin_fd = stdin_fd;
    cmd.cancel_fd = cancel_fd;
    fmt_bounded(result.backend, "docker");
    result.isolated = true;
    r = docker_run_skill(&e, &run, &cmd, env.items, &result, err);
    if (r == 0)
        r = api_json_out(skill_answer_full(&result, p->limits.memory), json, err);
    hutch_result_free(&result);
    return r;
}
