/* The public view of the config schema (hutch_policy_key_at ...) and the
 * public getters and setters that name keys or flags. */
#include "base/error.h"
#include "policy/fields.h"
#include "policy/policy.h"


HUTCH_API const hutch_key_info *hutch_policy_key_at(size_t i)
{
    return i < FIELD_COUNT ? &fields[i].info : NULL;
}

HUTCH_API const hutch_key_info *hutch_policy_key_by_flag(const char *flag)
{
    const struct field *f = flag ? field_by_flag(flag) : NULL;
    return f ? &f->info : NULL;
}

static const struct field *field_named(const char *key)
{
    if (!key)
        return NULL;
    if (strncmp(key, "sandbox.", 8) == 0)
        key += 8;
    return field_by_key(key);
}

HUTCH_API int hutch_policy_set_flag(hutch_policy *p, const char *flag, const char *value,
                                    hutch_error *err)
{
    if (!p || !flag || !value)
        return error_set(err, HUTCH_E_INVALID,
                         "hutch_policy_set_flag: policy, flag and value are required");
    const struct field *f = field_by_flag(flag);
    if (!f)
        return error_set(err, HUTCH_E_INVALID, "unknown option --%s (see 'hutch help run')",
                         flag);
    char shown[64];
    fmt_trunc(shown, sizeof shown, "--%s", f->flag); /* for messages */
    if (f->storage == S_BOOL && strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
        return error_set(err, HUTCH_E_INVALID, "%s takes no value (or =true / =false)", shown);
    if (f->id == F_DOCKER_CONTAINER)
        return field_set_sandbox_flag(p, value, err);
    return field_set_text(p, f, value, shown, err);
}

HUTCH_API char *hutch_policy_get(const hutch_policy *p, const char *key)
{
    const struct field *f = p ? field_named(key) : NULL;
    if (!f)
        return NULL;
    json_t *value = field_to_json(p, f);
    char *text = NULL;
    if (json_is_string(value))
        text = strdup(json_string_value(value));
    else if (value && !json_is_null(value))
        text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(value);
    return text;
}

HUTCH_API int hutch_policy_is_set(const hutch_policy *p, const char *key)
{
    const struct field *f = p ? field_named(key) : NULL;
    return f && policy_is_set(p, f->id);
}

HUTCH_API int hutch_policy_set_origin(hutch_policy *p, const char *config_path,
                                      const char *settings_json, hutch_error *err)
{
    if (!p)
        return error_set(err, HUTCH_E_INVALID, "hutch_policy_set_origin: a policy is required");
    json_t *settings = NULL;
    if (settings_json) {
        json_error_t jerr;
        settings = json_loads(settings_json, 0, &jerr);
        if (!json_is_array(settings)) {
            json_decref(settings);
            return error_set(err, HUTCH_E_INVALID,
                             "hutch_policy_set_origin: the settings must be a JSON array");
        }
    }
    char *path = config_path ? strdup(config_path) : NULL;
    if (config_path && !path) {
        json_decref(settings);
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    }
    free(p->origin.config_path);
    json_decref(p->origin.settings);
    p->origin.config_path = path;
    p->origin.settings = settings;
    return 0;
}
