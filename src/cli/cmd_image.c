/* hutch image build DIR [-t TAG] [-f FILE] [--no-cache] | ls [--all] [--json] | rm NAME...
 * | prune [NAME...] [--dry-run] [--json] */
#include <time.h>

#include "cli/cli.h"

/* Options shared by the image subcommands: --config, --no-config. Returns
 * 0 when argv[*i] was one; else the exit status, the reason printed. */
static int take_common(struct policy_args *pa, int argc, char **argv, int *i)
{
    hutch_error err;
    int r = policy_args_parse(pa, argc, argv, i, &err);
    if (r < 0)
        return cli_error("%s", err.message);
    if (r == 0)
        return cli_error("unknown option %s (see 'hutch help image')", argv[*i]);
    return 0;
}

static int image_build(int argc, char **argv)
{
    auto_policy_args struct policy_args pa = {0};
    hutch_error err = {0};
    const char *dir = NULL, *dockerfile = NULL, *tag = NULL;
    int flags = 0, progress_fd = STDOUT_FILENO, status;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *value;
        if (strcmp(arg, "-t") == 0 || strcmp(arg, "--tag") == 0) {
            if (option_value(argc, argv, &i, arg, NULL, &value, &err) < 0)
                return cli_error("%s", err.message);
            tag = value;
        } else if (strcmp(arg, "-f") == 0 || strcmp(arg, "--file") == 0) {
            if (option_value(argc, argv, &i, arg, NULL, &value, &err) < 0)
                return cli_error("%s", err.message);
            dockerfile = value;
        } else if (strcmp(arg, "--no-cache") == 0) {
            flags |= HUTCH_BUILD_NO_CACHE;
        } else if (strcmp(arg, "-q") == 0 || strcmp(arg, "--quiet") == 0) {
            /* Only a failed build's last lines, on stderr. */
            flags |= HUTCH_BUILD_QUIET;
            progress_fd = STDERR_FILENO;
        } else if (arg[0] != '-') {
            if (dir)
                return cli_error("image build takes one DIR, got %s and %s", dir, arg);
            dir = arg;
        } else if ((status = take_common(&pa, argc, argv, &i)) != 0) {
            return status;
        }
    }
    if (!dir)
        return cli_error("image build needs a DIR with a Dockerfile (see 'hutch help image')");
    if (!tag)
        tag = "hutch-image:latest";
    auto_policy hutch_policy *p = policy_args_build(&pa, &err);
    if (!p || hutch_image_build(p, dir, dockerfile, tag, flags, progress_fd, &err) < 0)
        return cli_error("%s", err.message);
    fprintf(stderr, "hutch: built %s\n", tag);
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

static int image_ls(int argc, char **argv)
{
    auto_policy_args struct policy_args pa = {0};
    hutch_error err = {0};
    bool all = false, json = false;
    int status;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--all") == 0 || strcmp(argv[i], "-a") == 0)
            all = true;
        else if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if ((status = take_common(&pa, argc, argv, &i)) != 0)
            return status;
    }
    auto_policy hutch_policy *p = policy_args_build(&pa, &err);
    autofree char *text = NULL;
    if (!p || hutch_image_list(p, all, &text, &err) < 0)
        return cli_error("%s", err.message);
    if (json) {
        printf("%s\n", text);
        return 0;
    }
    json_t *images = json_loads(text, 0, NULL);
    printf("%-44s %-14s %10s  %s\n", "IMAGE", "ID", "SIZE", "CREATED");
    size_t i;
    json_t *img;
    json_array_foreach(images, i, img) {
        const char *id = json_string_value(json_object_get(img, "id"));
        if (id && strncmp(id, "sha256:", 7) == 0)
            id += 7;
        char size[32], created[32];
        print_size(json_integer_value(json_object_get(img, "size")), size, sizeof size);
        time_t t = (time_t)json_integer_value(json_object_get(img, "created"));
        strftime(created, sizeof created, "%Y-%m-%d %H:%M", localtime(&t));
        json_t *tags = json_object_get(img, "tags");
        size_t n = json_array_size(tags);
        for (size_t j = 0; j < (n ? n : 1); j++) {
            const char *tag = n ? json_string_value(json_array_get(tags, j)) : "<none>";
            printf("%-44s %-14.12s %10s  %s\n", tag ? tag : "<none>", id ? id : "?", size,
                   created);
        }
    }
    json_decref(images);
    return 0;
}

/* The arguments of rm and prune: image NAMEs, the policy the common options
 * make, and prune's own options. */
struct names_args {
    struct policy_args pa;
    hutch_policy *policy;
    const char **names; /* NULL-terminated */
    size_t n;
    int flags; /* prune: HUTCH_PRUNE_DRY_RUN */
    bool json; /* prune */
};

static void names_args_free(struct names_args *a)
{
    cli_free_policy(&a->policy);
    policy_args_free(&a->pa);
    free(a->names);
}

/* Fills a from argv and builds its policy. prune: --dry-run and --json are
 * options and NAMEs are optional; rm needs a NAME and has neither option.
 * 0, or the exit status with the reason printed. */
static int names_args_parse(struct names_args *a, int argc, char **argv, bool prune)
{
    a->names = calloc((size_t)argc + 1, sizeof *a->names);
    if (!a->names)
        return cli_error("out of memory");
    for (int i = 0; i < argc; i++) {
        int status;
        if (prune && (strcmp(argv[i], "--dry-run") == 0 || strcmp(argv[i], "-n") == 0))
            a->flags |= HUTCH_PRUNE_DRY_RUN;
        else if (prune && strcmp(argv[i], "--json") == 0)
            a->json = true;
        else if (argv[i][0] != '-')
            a->names[a->n++] = argv[i];
        else if ((status = take_common(&a->pa, argc, argv, &i)) != 0)
            return status;
    }
    if (!prune && !a->n)
        return cli_error("image rm needs the NAME of an image (see hutch image ls)");
    hutch_error err;
    a->policy = policy_args_build(&a->pa, &err);
    return a->policy ? 0 : cli_error("%s", err.message);
}

/* image rm NAME... and image prune [NAME...]: the library's outcome for each
 * name, one line each. rm: "removed NAME", and an image it could not remove
 * is a failure. prune: removed or would remove, with the reason; an image a
 * container still uses is kept, said on stderr (not a failure). */
static int remove_images(int argc, char **argv, bool prune)
{
    __attribute__((cleanup(names_args_free))) struct names_args a = {0};
    int status = names_args_parse(&a, argc, argv, prune);
    if (status != 0)
        return status;
    hutch_error err = {0};
    autofree char *text = NULL;
    if ((prune ? hutch_image_prune(a.policy, a.n ? a.names : NULL, a.flags, &text, &err)
               : hutch_image_remove(a.policy, a.names, &text, &err)) < 0)
        return cli_error("%s", err.message);
    if (a.json) {
        printf("%s\n", text);
        return 0;
    }
    json_t *outcomes = json_loads(text, 0, NULL);
    size_t i;
    json_t *o;
    json_array_foreach(outcomes, i, o) {
        const char *name = json_string_value(json_object_get(o, "name"));
        const char *reason = json_string_value(json_object_get(o, "reason"));
        const char *error = json_string_value(json_object_get(o, "error"));
        if (error && prune)
            fprintf(stderr, "hutch: %s\n", error);
        else if (error)
            status = cli_error("%s", error);
        else if (prune)
            printf("%s %s (%s)\n", json_is_true(json_object_get(o, "removed")) ? "removed"
                                                                             : "would remove",
                   name ? name : "?", reason ? reason : "?");
        else
            printf("removed %s\n", name);
    }
    json_decref(outcomes);
    return status;
}

static int image_rm(int argc, char **argv)
{
    return remove_images(argc, argv, false);
}

static int image_prune(int argc, char **argv)
{
    return remove_images(argc, argv, true);
}

int cmd_image(int argc, char **argv)
{
    static const struct cli_subcommand subs[] = {
        {"build", image_build},
        {"ls", image_ls},
        {"rm", image_rm},
        {"prune", image_prune},
        {NULL, NULL},
    };
    return cli_subcommand("image", argc, argv, subs);
}
