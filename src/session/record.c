/* The session record's on-disk form (record.json): the only place that
 * knows its keys. Keys are kept as earlier versions wrote them, so that
 * sessions made by an older hutch are still found; keys this version does
 * not know are dropped on the next write. */
#include "session/record.h"

#include <stddef.h>

#include "base/util.h"

#define RECORD_VERSION 1

static const char *const kind_names[] = {
    [SESSION_KIND_HOST] = "host",
    [SESSION_KIND_NATIVE] = "native",
    [SESSION_KIND_DOCKER] = "docker",
};

static const char *const state_names[] = {
    [RECORD_CREATING] = "creating",
    [RECORD_RUNNING] = "running",
    [RECORD_STOPPED] = "stopped",
    [RECORD_FAILED] = "failed",
};

const char *session_kind_name(enum session_kind k)
{
    return kind_names[k];
}

const char *record_state_name(enum record_state s)
{
    return state_names[s];
}

enum exec_via record_exec_via(const struct session_record *r)
{
    if (r->kind == SESSION_KIND_HOST)
        return EXEC_VIA_HOST;
    return r->adopted || r->engine_exec ? EXEC_VIA_ENGINE : EXEC_VIA_AGENT;
}

struct session_record *record_new(void)
{
    return calloc(1, sizeof(struct session_record));
}

/* The record's optional text fields, freed, read and written by one list
 * (key, which every record has, is read apart). */
static const struct {
    const char *name;
    size_t offset; /* of the char * in struct session_record */
} text_fields[] = {
#define TEXT_FIELD(field) {#field, offsetof(struct session_record, field)}
    TEXT_FIELD(name),
    TEXT_FIELD(workspace),
    TEXT_FIELD(workspace_image),
    TEXT_FIELD(config),
    TEXT_FIELD(failure),
    TEXT_FIELD(setup_output),
    TEXT_FIELD(limits_via),
    TEXT_FIELD(engine),
    TEXT_FIELD(container_id),
    TEXT_FIELD(container_name),
    TEXT_FIELD(workdir),
    TEXT_FIELD(agent_dir),
#undef TEXT_FIELD
};

static char **text_field(const struct session_record *r, size_t i)
{
    return (char **)(void *)((char *)r + text_fields[i].offset); /* aligned: offsetof a char * */
}

void record_free(struct session_record *r)
{
    if (!r)
        return;
    free(r->key);
    for (size_t i = 0; i < ARRAY_SIZE(text_fields); i++)
        free(*text_field(r, i));
    json_decref(r->create_args);
    strlist_clear(&r->cgroup_dirs);
    free(r);
}

int record_set(char **field, const char *value)
{
    char *copy = NULL;
    if (value && !(copy = strdup(value)))
        return -1;
    free(*field);
    *field = copy;
    return 0;
}

void record_forget_native(struct session_record *r)
{
    r->init_pid = 0;
    r->init_start = 0;
    r->agent_pid = 0;
    strlist_clear(&r->cgroup_dirs);
}

void record_forget_proxy(struct session_record *r)
{
    r->proxy_pid = 0;
    r->proxy_start = 0;
}

/* ---- reading ------------------------------------------------------------------- */

static int lookup(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    return -1;
}

static int take_string(json_t *obj, const char *name, char **field)
{
    json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    return record_set(field, json_string_value(v));
}

static int take_text_fields(json_t *obj, struct session_record *r)
{
    for (size_t i = 0; i < ARRAY_SIZE(text_fields); i++)
        if (take_string(obj, text_fields[i].name, text_field(r, i)) < 0)
            return -1;
    return 0;
}

static bool damaged(hutch_error *err, const char *path, const char *what)
{
    error_set(err, HUTCH_E_INVALID,
              "the session record %s is damaged (%s): remove the session with 'hutch session "
              "rm' and create it again",
              path, what);
    return true;
}

int record_parse(const char *text, size_t len, const char *path, struct session_record **out,
                 hutch_error *err)
{
    *out = NULL;
    json_error_t jerr;
    json_t *obj = json_loadb(text, len, 0, &jerr);
    if (!json_is_object(obj)) {
        damaged(err, path, obj ? "not an object" : jerr.text);
        json_decref(obj);
        return -1;
    }
    struct session_record *r = record_new();
    if (!r) {
        json_decref(obj);
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    }
    const char *bad = NULL;
    int kind = lookup(kind_names, ARRAY_SIZE(kind_names),
                      json_string_value(json_object_get(obj, "backend")));
    int state = lookup(state_names, ARRAY_SIZE(state_names),
                       json_string_value(json_object_get(obj, "state")));
    const char *via = json_string_value(json_object_get(obj, "exec_via"));
    const char *hash = json_string_value(json_object_get(obj, "config_hash"));
    if (kind < 0)
        bad = "no known backend";
    else if (state < 0)
        bad = "no known state";
    else if (take_string(obj, "key", &r->key) < 0 || !r->key)
        bad = "no key";
    else if (take_text_fields(obj, r) < 0)
        bad = "a field that should be text is not";
    else if (via && strcmp(via, "agent") != 0 && strcmp(via, "engine") != 0)
        bad = "no known exec_via";
    if (bad) {
        json_decref(obj);
        record_free(r);
        damaged(err, path, bad);
        return -1;
    }
    r->kind = (enum session_kind)kind;
    r->state = (enum record_state)state;
    r->engine_exec = via && strcmp(via, "engine") == 0;
    r->created_at = json_number_value(json_object_get(obj, "created_at"));
    r->last_used_at = json_number_value(json_object_get(obj, "last_used_at"));
    r->exec_count = (long long)json_number_value(json_object_get(obj, "exec_count"));
    if (!fmt_fits(r->config_hash, sizeof r->config_hash, "%s", hash ? hash : ""))
        r->config_hash[0] = '\0'; /* not a fingerprint: the session is recreated */
    r->workspace_owned = json_is_true(json_object_get(obj, "workspace_owned"));
    r->adopted = json_is_true(json_object_get(obj, "adopted"));
    r->init_pid = (pid_t)json_integer_value(json_object_get(obj, "init_pid"));
    r->init_start = (unsigned long long)json_integer_value(json_object_get(obj, "init_start"));
    r->agent_pid = (pid_t)json_integer_value(json_object_get(obj, "agent_pid"));
    r->proxy_pid = (pid_t)json_integer_value(json_object_get(obj, "proxy_pid"));
    r->proxy_start = (unsigned long long)json_integer_value(json_object_get(obj, "proxy_start"));
    size_t i;
    json_t *dir;
    json_array_foreach(json_object_get(obj, "cgroup_dirs"), i, dir)
    {
        if (json_is_string(dir) && strlist_push(&r->cgroup_dirs, json_string_value(dir)) < 0) {
            json_decref(obj);
            record_free(r);
            return error_set(err, HUTCH_E_SYSTEM, "out of memory");
        }
    }
    json_t *args = json_object_get(obj, "create_args");
    if (args)
        r->create_args = json_incref(args);
    json_decref(obj);
    *out = r;
    return 0;
}

/* ---- writing ------------------------------------------------------------------- */

static void put_string(json_t *obj, const char *name, const char *value)
{
    if (value)
        json_object_set_new(obj, name, json_string(value));
}

static void put_int(json_t *obj, const char *name, long long value)
{
    if (value)
        json_object_set_new(obj, name, json_integer(value));
}

json_t *record_to_json(const struct session_record *r)
{
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    json_object_set_new(obj, "version", json_integer(RECORD_VERSION));
    put_string(obj, "key", r->key);
    put_string(obj, "backend", session_kind_name(r->kind));
    put_string(obj, "state", record_state_name(r->state));
    json_object_set_new(obj, "created_at", json_real(r->created_at));
    json_object_set_new(obj, "last_used_at", json_real(r->last_used_at));
    json_object_set_new(obj, "exec_count", json_integer(r->exec_count));
    put_string(obj, "config_hash", r->config_hash);
    json_object_set_new(obj, "workspace_owned", json_boolean(r->workspace_owned));
    put_int(obj, "init_pid", r->init_pid);
    put_int(obj, "init_start", (long long)r->init_start);
    put_int(obj, "agent_pid", r->agent_pid);
    if (r->kind == SESSION_KIND_NATIVE && r->init_pid) {
        json_t *dirs = json_array();
        for (size_t i = 0; i < r->cgroup_dirs.len; i++)
            json_array_append_new(dirs, json_string(r->cgroup_dirs.items[i]));
        json_object_set_new(obj, "cgroup_dirs", dirs);
    }
    if (r->adopted)
        json_object_set_new(obj, "adopted", json_true());
    if (r->kind == SESSION_KIND_DOCKER)
        put_string(obj, "exec_via", r->engine_exec || r->adopted ? "engine" : "agent");
    for (size_t i = 0; i < ARRAY_SIZE(text_fields); i++)
        put_string(obj, text_fields[i].name, *text_field(r, i));
    put_int(obj, "proxy_pid", r->proxy_pid);
    put_int(obj, "proxy_start", (long long)r->proxy_start);
    return obj;
}

char *record_format(const struct session_record *r)
{
    json_t *obj = record_to_json(r);
    if (!obj)
        return NULL;
    if (r->create_args)
        json_object_set(obj, "create_args", r->create_args);
    char *text = json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(obj);
    if (!text)
        return NULL;
    size_t len = strlen(text);
    char *with_newline = realloc(text, len + 2);
    if (!with_newline) {
        free(text);
        return NULL;
    }
    with_newline[len] = '\n';
    with_newline[len + 1] = '\0';
    return with_newline;
}
