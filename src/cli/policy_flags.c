/* POLICY options, generated from the field table: every flag sets the same
 * key as the config file, with the same parser, so they cannot disagree. */
#include <limits.h>

#include "cli/cli.h"

struct pending_setting {
    const hutch_key_info *key;
    const char *value;
    char shown[64]; /* "--memory" */
};

/* One more setting for policy_args_build; value is not copied. */
static int add_pending(struct policy_args *pa, const hutch_key_info *key, const char *value,
                       hutch_error *err)
{
    if (!array_reserve(&pa->pending, &pa->cap, pa->len, sizeof *pa->pending, 16))
        return cli_fail(err, "out of memory");
    struct pending_setting *s = &pa->pending[pa->len++];
    s->key = key;
    s->value = value;
    fmt_trunc(s->shown, sizeof s->shown, "--%s", key->flag); /* for messages */
    return 0;
}

int policy_args_parse(struct policy_args *pa, int argc, char **argv, int *i, hutch_error *err)
{
    char name[64];
    const char *inline_value;
    if (!split_long_option(argv[*i], name, sizeof name, &inline_value))
        return 0;

    if (strcmp(name, "config") == 0)
        return option_value(argc, argv, i, "--config", inline_value, &pa->config_path, err) < 0
                   ? -1
                   : 1;
    if (strcmp(name, "no-config") == 0) {
        if (inline_value)
            return cli_fail(err, "--no-config takes no value");
        pa->no_config = true;
        return 1;
    }

    /* --docker, as coding agents write it: the same as --sandbox docker. */
    if (strcmp(name, "docker") == 0) {
        if (inline_value)
            return cli_fail(err, "--docker takes no value (it is --sandbox docker)");
        const hutch_key_info *sandbox = hutch_policy_key_by_flag("sandbox");
        return sandbox && add_pending(pa, sandbox, "docker", err) == 0 ? 1 : -1;
    }
    const hutch_key_info *key = hutch_policy_key_by_flag(name);
    if (!key)
        return 0;
    char shown[64];
    fmt_trunc(shown, sizeof shown, "--%s", key->flag); /* for messages */
    const char *value;
    if (key->is_switch) {
        if (inline_value && strcmp(inline_value, "true") != 0 && strcmp(inline_value, "false") != 0)
            return cli_fail(err, "%s takes no value (or =true / =false)",
                             shown);
        value = inline_value ? inline_value : "true";
    } else if (option_value(argc, argv, i, shown, inline_value, &value, err) < 0) {
        return -1;
    }
    return add_pending(pa, key, value, err) < 0 ? -1 : 1;
}

char *default_config_path(void)
{
    char *path = NULL;
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    if (xdg && xdg[0] == '/') {
        if (asprintf(&path, "%s/hutch/config.json", xdg) < 0)
            return NULL;
    } else if (home && home[0] == '/') {
        if (asprintf(&path, "%s/.config/hutch/config.json", home) < 0)
            return NULL;
    }
    return path;
}


hutch_policy *policy_args_build(struct policy_args *pa, hutch_error *err)
{
    auto_policy hutch_policy *p = hutch_policy_new();
    if (!p) {
        cli_fail(err, "out of memory");
        return NULL;
    }
    if (pa->config_path && pa->no_config) {
        cli_fail(err, "--config and --no-config cannot be combined");
        return NULL;
    }
    if (pa->config_path) {
        if (hutch_policy_load_file(p, pa->config_path, err) < 0)
            return NULL;
    } else if (!pa->no_config) {
        autofree char *path = default_config_path();
        if (path && access(path, F_OK) == 0 && hutch_policy_load_file(p, path, err) < 0) {
            size_t used = strlen(err->message);
            fmt_trunc(err->message + used, sizeof err->message - used,
                      " (fix the file, or pass --no-config)");
            return NULL;
        }
    }
    size_t warned = hutch_policy_warning_count(p);
    for (size_t i = 0; i < warned; i++)
        cli_warn("%s", hutch_policy_warning(p, i));
    for (size_t i = 0; i < pa->len; i++) {
        struct pending_setting *s = &pa->pending[i];
        if (hutch_policy_set_flag(p, s->key->flag, s->value, err) < 0)
            return NULL;
    }
    /* The flags' own (--sandbox none). */
    for (size_t i = warned; i < hutch_policy_warning_count(p); i++)
        cli_warn("%s", hutch_policy_warning(p, i));
    if (hutch_policy_validate(p, err) < 0)
        return NULL;
    return steal_pointer(&p);
}

json_t *policy_args_to_json(const struct policy_args *pa)
{
    json_t *list = json_array();
    for (size_t i = 0; i < pa->len; i++) {
        const struct pending_setting *s = &pa->pending[i];
        const char *value = s->value;
        char real[PATH_MAX];
        /* A relative workspace means the caller's directory at creation. */
        if (strcmp(s->key->key, "workspace") == 0 && value[0] && realpath(value, real))
            value = real;
        json_array_append_new(list, json_pack("{s:s, s:s}", "flag", s->key->flag, "value", value));
    }
    return list;
}

int policy_args_add_json(struct policy_args *pa, const json_t *list, hutch_error *err)
{
    size_t i;
    const json_t *item;
    json_array_foreach(list, i, item)
    {
        const char *flag = json_string_value(json_object_get(item, "flag"));
        const char *value = json_string_value(json_object_get(item, "value"));
        const hutch_key_info *key = flag ? hutch_policy_key_by_flag(flag) : NULL;
        if (!key || !value)
            return cli_fail(err,
                            "the session record holds a setting this hutch does not know "
                            "(%s): remove the session and create it again",
                            flag ? flag : "?");
        if (add_pending(pa, key, value, err) < 0) /* value lives as long as list */
            return -1;
    }
    return 0;
}

const hutch_key_info *policy_args_key_at(const struct policy_args *pa, size_t i)
{
    return i < pa->len ? pa->pending[i].key : NULL;
}

const char *policy_args_shown_at(const struct policy_args *pa, size_t i)
{
    return i < pa->len ? pa->pending[i].shown : NULL;
}

void policy_args_free(struct policy_args *pa)
{
    free(pa->pending);
    pa->pending = NULL;
    pa->len = pa->cap = 0;
}

void help_policy_options(FILE *out)
{
    fprintf(out, "    --config FILE\n"
                 "        Read the policy from FILE instead of the default config file.\n"
                 "    --no-config\n"
                 "        Ignore the default config file.\n");
    const hutch_key_info *f;
    for (size_t i = 0; (f = hutch_policy_key_at(i)); i++) {
        if (!f->flag)
            continue;
        fprintf(out, "    --%s%s%s\n        %s\n        Config key: sandbox.%s (%s).\n", f->flag,
                f->metavar ? " " : "", f->metavar ? f->metavar : "", f->help, f->key,
                f->expected);
    }
    fprintf(out, "    --docker\n        The same as --sandbox docker.\n");
}
