/* hutch image build DIR [-t TAG] [-f FILE] [--no-cache] | ls [--all] [--json] | rm NAME... */
#include <time.h>

#include "cli/cli.h"
#include "drivers/docker/build.h"
#include "drivers/docker/engine.h"
#include "base/error.h"
#include "policy/policy.h"

/* The engine named by the config (docker.host) or DOCKER_HOST. */
static int open_engine(struct policy_args *pa, struct engine *e, hutch_error *err)
{
    hutch_policy *p = policy_args_build(pa, err);
    if (!p)
        return -1;
    int r = engine_open(e, p->docker.host, err);
    hutch_policy_free(p);
    return r;
}

/* Options shared by the image subcommands: --config, --no-config. */
static int take_common(struct policy_args *pa, int argc, char **argv, int *i, hutch_error *err)
{
    int r = policy_args_parse(pa, argc, argv, i, err);
    if (r == 0)
        error_set(err, HUTCH_E_INVALID, "unknown option %s (see 'hutch help image')", argv[*i]);
    return r;
}

static int image_build(int argc, char **argv)
{
    auto_policy_args struct policy_args pa = {0};
    hutch_error err = {0};
    struct build_request req = {.kind = "image", .progress = stdout};
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *value;
        if (strcmp(arg, "-t") == 0 || strcmp(arg, "--tag") == 0) {
            if (option_value(argc, argv, &i, arg, NULL, &value, &err) < 0)
                return cli_error("%s", err.message);
            req.tag = value;
        } else if (strcmp(arg, "-f") == 0 || strcmp(arg, "--file") == 0) {
            if (option_value(argc, argv, &i, arg, NULL, &value, &err) < 0)
                return cli_error("%s", err.message);
            req.dockerfile = value;
        } else if (strcmp(arg, "--no-cache") == 0) {
            req.no_cache = true;
        } else if (strcmp(arg, "-q") == 0 || strcmp(arg, "--quiet") == 0) {
            req.progress = NULL;
        } else if (arg[0] != '-') {
            if (req.dir)
                return cli_error("image build takes one DIR, got %s and %s", req.dir, arg);
            req.dir = arg;
        } else if (take_common(&pa, argc, argv, &i, &err) <= 0) {
            return cli_error("%s", err.message);
        }
    }
    if (!req.dir)
        return cli_error("image build needs a DIR with a Dockerfile (see 'hutch help image')");
    if (!req.tag)
        req.tag = "hutch-image:latest";
    struct engine e = {0};
    if (open_engine(&pa, &e, &err) < 0)
        return cli_error("%s", err.message);
    struct build_context ctx;
    int r = docker_build(&e, &req, &ctx, &err);
    context_close(&ctx);
    engine_close(&e);
    if (r < 0)
        return cli_error("%s", err.message);
    fprintf(stderr, "hutch: built %s\n", req.tag);
    return 0;
}

static void print_size(int64_t bytes, char *buf, size_t len)
{
    if (bytes >= 1000 * 1000 * 1000)
        fmt_trunc(buf, len, "%.1fGB", (double)bytes / 1e9);
    else if (bytes >= 1000 * 1000)
        fmt_trunc(buf, len, "%.1fMB", (double)bytes / 1e6);
    else
        fmt_trunc(buf, len, "%.1fkB", (double)bytes / 1e3);
}

/* Podman names images built from a short name docker.io/library/NAME; show
 * them as Docker does. */
static const char *short_tag(const char *tag)
{
    static const char prefix[] = "docker.io/library/";
    return tag && strncmp(tag, prefix, sizeof prefix - 1) == 0 ? tag + sizeof prefix - 1 : tag;
}

static json_t *short_tags(json_t *tags)
{
    json_t *out = json_array();
    size_t i;
    json_t *tag;
    json_array_foreach(tags, i, tag)
        json_array_append_new(out, json_string(short_tag(json_string_value(tag))));
    return out;
}

static int image_ls(int argc, char **argv)
{
    auto_policy_args struct policy_args pa = {0};
    hutch_error err = {0};
    bool all = false, json = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--all") == 0 || strcmp(argv[i], "-a") == 0)
            all = true;
        else if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (take_common(&pa, argc, argv, &i, &err) <= 0)
            return cli_error("%s", err.message);
    }
    struct engine e = {0};
    int r = open_engine(&pa, &e, &err);
    if (r < 0)
        return cli_error("%s", err.message);
    const char *path = all ? "/images/json"
                           : "/images/json?filters=%7B%22label%22%3A%5B%22hutch.managed%3Dtrue%22%5D%7D";
    long status;
    json_t *reply = NULL;
    r = engine_call(&e, "GET", path, NULL, &status, &reply, &err);
    engine_close(&e);
    if (r < 0 || (status != 200 && engine_failed(status, reply, &err, "cannot list images") < 0)) {
        json_decref(reply);
        return cli_error("%s", err.message);
    }
    if (json) {
        json_t *out = json_array();
        size_t i;
        json_t *img;
        json_array_foreach(reply, i, img) {
            json_t *tags = json_object_get(img, "RepoTags");
            json_array_append_new(
                out, json_pack("{s:o, s:O, s:O, s:O}", "tags",
                               json_is_array(tags) ? short_tags(tags) : json_null(), "id",
                               json_object_get(img, "Id"), "size", json_object_get(img, "Size"),
                               "created", json_object_get(img, "Created")));
        }
        autofree char *text = json_dumps(out, JSON_COMPACT);
        json_decref(out);
        printf("%s\n", text ? text : "[]");
    } else {
        printf("%-44s %-14s %10s  %s\n", "IMAGE", "ID", "SIZE", "CREATED");
        size_t i;
        json_t *img;
        json_array_foreach(reply, i, img) {
            const char *id = json_string_value(json_object_get(img, "Id"));
            if (id && strncmp(id, "sha256:", 7) == 0)
                id += 7;
            char size[32], created[32];
            print_size(json_integer_value(json_object_get(img, "Size")), size, sizeof size);
            time_t t = (time_t)json_integer_value(json_object_get(img, "Created"));
            strftime(created, sizeof created, "%Y-%m-%d %H:%M", localtime(&t));
            json_t *tags = json_object_get(img, "RepoTags");
            size_t n = json_array_size(tags);
            for (size_t j = 0; j < (n ? n : 1); j++) {
                const char *tag = n ? short_tag(json_string_value(json_array_get(tags, j)))
                                    : "<none>";
                printf("%-44s %-14.12s %10s  %s\n", tag ? tag : "<none>", id ? id : "?", size,
                       created);
            }
        }
    }
    json_decref(reply);
    return 0;
}

static int image_rm(int argc, char **argv)
{
    auto_policy_args struct policy_args pa = {0};
    hutch_error err = {0};
    autostrlist struct strlist names = {0};
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] != '-')
            strlist_push(&names, argv[i]);
        else if (take_common(&pa, argc, argv, &i, &err) <= 0)
            return cli_error("%s", err.message);
    }
    if (!names.len)
        return cli_error("image rm needs the NAME of an image (see hutch image ls)");
    struct engine e = {0};
    int r = open_engine(&pa, &e, &err);
    int status_out = 0;
    for (size_t i = 0; r == 0 && i < names.len; i++) {
        long status;
        json_t *reply = NULL;
        if (engine_call_on(&e, "DELETE", "/images/", names.items[i], "", NULL, &status, &reply,
                           &err) < 0)
            r = -1;
        else if (status == 404)
            status_out = cli_error("there is no image %s: see hutch image ls --all for the names",
                                   names.items[i]);
        else if (status != 200)
            status_out = (engine_failed(status, reply, &err, "cannot remove %s", names.items[i]),
                          cli_error("%s", err.message));
        else
            printf("removed %s\n", names.items[i]);
        json_decref(reply);
    }
    engine_close(&e);
    return r < 0 ? cli_error("%s", err.message) : status_out;
}

int cmd_image(int argc, char **argv)
{
    static const struct cli_subcommand subs[] = {
        {"build", image_build},
        {"ls", image_ls},
        {"rm", image_rm},
        {NULL, NULL},
    };
    return cli_subcommand("image", argc, argv, subs);
}
