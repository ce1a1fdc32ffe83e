/* The session record's on-disk form (record.json): the only place that
 * knows its keys. Keys are kept as earlier versions wrote them, so that
 * sessions made by an older hutch are still found; keys this version does
 * not know are dropped on the next write. */
#include "session/record.h"

#include <pthread.h>
#include <stddef.h>

#include "base/util.h"
#include "session/naming.h"

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

/* A copy that shares nothing with r. */
static struct session_record *record_copy(const struct session_record *r)
{
    struct session_record *c = record_new();
    if (!c)
        return NULL;
    struct session_record plain = *r;
    plain.key = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(text_fields); i++)
        *text_field(&plain, i) = NULL;
    plain.create_args = NULL;
    plain.cgroup_dirs = (struct strlist){0};
    *c = plain;
    bool ok = record_set(&c->key, r->key) == 0 &&
              strlist_copy(&c->cgroup_dirs, &r->cgroup_dirs) == 0 &&
              (!r->create_args || (c->create_args = json_deep_copy(r->create_args)));
    for (size_t i = 0; ok && i < ARRAY_SIZE(text_fields); i++)
        ok = record_set(text_field(c, i), *text_field(r, i)) == 0;
    if (!ok) {
        record_free(c);
        return NULL;
    }
    return c;
}

static int parse_text(const char *text, size_t len, const char *path,
                      struct session_record **out, hutch_error *err);

/* The last text parsed and its record: a command reads the record twice
 * (for what the session was made from, then under its lock), and the same
 * text is copied rather than parsed again. One for the process, shared by
 * the library's callers' threads. */
static struct {
    pthread_mutex_t lock;
    char *text;
    size_t len;
    struct session_record *record;
} last_parsed = {.lock = PTHREAD_MUTEX_INITIALIZER};

int record_parse(const char *text, size_t len, const char *path, struct session_record **out,
                 hutch_error *err)
{
    pthread_mutex_lock(&last_parsed.lock);
    if (last_parsed.text && last_parsed.len == len && memcmp(last_parsed.text, text, len) == 0) {
        *out = record_copy(last_parsed.record);
        pthread_mutex_unlock(&last_parsed.lock);
        return *out ? 0 : error_set(err, HUTCH_E_SYSTEM, "out of memory");
    }
    pthread_mutex_unlock(&last_parsed.lock);
    if (parse_text(text, len, path, out, err) < 0)
        return -1;
    struct session_record *kept = record_copy(*out);
    char *kept_text = kept ? malloc(len) : NULL;
    if (!kept_text) {
        record_free(kept);
        return 0; /* nothing kept: the next read parses */
    }
    memcpy(kept_text, text, len);
    pthread_mutex_lock(&last_parsed.lock);
    free(last_parsed.text);
    record_free(last_parsed.record);
    last_parsed.text = kept_text;
    last_parsed.len = len;
    last_parsed.record = kept;
    pthread_mutex_unlock(&last_parsed.lock);
    return 0;
}

static int parse_text(const char *text, size_t len, const char *path,
                      struct session_record **out, hutch_error *err)
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

/* ---- what changed ---------------------------------------------------------------- */

static void digest_bytes(uint64_t *h, const void *data, size_t len)
{
    *h = hash64_more(*h, data, len);
}

static void digest_text(uint64_t *h, const char *s)
{
    /* NULL and "" differ; the NUL ends each string, so none runs into the next. */
    digest_bytes(h, s ? "t" : "n", 1);
    if (s)
        digest_bytes(h, s, strlen(s) + 1);
}

static int digest_chunk(const char *chunk, size_t len, void *data)
{
    digest_bytes(data, chunk, len);
    return 0;
}

uint64_t record_digest(const struct session_record *r)
{
    uint64_t h = hash64(NULL, 0);
    long long numbers[] = {r->kind,       r->state,      r->workspace_owned, r->adopted,
                           r->engine_exec, r->init_pid,   (long long)r->init_start,
                           r->agent_pid,  r->proxy_pid,  (long long)r->proxy_start};
    digest_bytes(&h, numbers, sizeof numbers);
    digest_bytes(&h, &r->created_at, sizeof r->created_at);
    digest_text(&h, r->key);
    digest_text(&h, r->config_hash);
    for (size_t i = 0; i < ARRAY_SIZE(text_fields); i++)
        digest_text(&h, *text_field(r, i));
    for (size_t i = 0; i < r->cgroup_dirs.len; i++)
        digest_text(&h, r->cgroup_dirs.items[i]);
    digest_text(&h, NULL);
    if (r->create_args)
        (void)json_dump_callback(r->create_args, digest_chunk, &h,
                                 JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    return h;
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

/* The text goes to the file through one page: a record is written on
 * every command, and a buffer grown to its size cost more (a new mapping
 * of the allocator's at each doubling) than writing it. */
struct record_out {
    int fd;
    size_t used, total;
    char buf[4096];
};

static int flush_out(struct record_out *o)
{
    if (write_all(o->fd, o->buf, o->used) < 0)
        return -1;
    o->used = 0;
    return 0;
}

static int put_chunk(const char *chunk, size_t len, void *data)
{
    struct record_out *o = data;
    o->total += len;
    while (len) {
        if (o->used == sizeof o->buf && flush_out(o) < 0)
            return -1;
        size_t n = len < sizeof o->buf - o->used ? len : sizeof o->buf - o->used;
        memcpy(o->buf + o->used, chunk, n);
        o->used += n;
        chunk += n;
        len -= n;
    }
    return 0;
}

int record_write(const struct session_record *r, int fd, size_t *len)
{
    json_t *obj = record_to_json(r);
    if (!obj) {
        errno = ENOMEM;
        return -1;
    }
    if (r->create_args)
        json_object_set(obj, "create_args", r->create_args);
    struct record_out o = {.fd = fd};
    errno = ENOMEM; /* unless a write says otherwise */
    int rc = json_dump_callback(obj, put_chunk, &o, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(obj);
    if (rc < 0 || put_chunk("\n", 1, &o) < 0 || flush_out(&o) < 0)
        return -1;
    *len = o.total;
    return 0;
}
