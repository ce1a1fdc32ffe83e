/* The tools' argument schemas: the JSON Schema (2020-12) documents that
 * tools/list shows, and the small validator that checks arguments against
 * the very same documents, so what a client is told and what hutch enforces
 * cannot drift apart. The validator knows the subset the schemas use:
 * type, properties, required, additionalProperties: false, enum, minimum,
 * minLength, items. */
#include "session/tool_schema.h"

#include <stdio.h>
#include <string.h>

#include "base/error.h"

/* name, title, description, schema, read-only, destructive, idempotent */
static const struct tool_def defs[] = {
    {"bash", "Run a shell command",
     "Runs a command with bash -c (sh -c when bash is missing) in the session's sandbox, in "
     "/workspace unless workdir says otherwise. Returns the end of the output (last 2000 lines "
     "or 50 KiB) and the exit code; the full output is kept in a file inside the sandbox, named "
     "in the result. With background: true it returns a process id at once (see the process "
     "tool).",
     "{\"type\":\"object\",\"properties\":{"
     "\"command\":{\"type\":\"string\",\"minLength\":1,\"description\":\"The shell command.\"},"
     "\"timeout\":{\"type\":\"number\",\"minimum\":0,\"description\":\"Seconds before it is "
     "killed (clamped to the sandbox's limit).\"},"
     "\"workdir\":{\"type\":\"string\",\"description\":\"Working directory, relative to "
     "/workspace or absolute inside it.\"},"
     "\"env\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"},"
     "\"description\":\"Extra environment variables.\"},"
     "\"background\":{\"type\":\"boolean\",\"description\":\"Start it and return its process "
     "id at once.\"}},"
     "\"required\":[\"command\"],\"additionalProperties\":false}",
     false, true, false},
    {"read", "Read a file",
     "Reads a text file of the workspace. offset is a 1-based line number, limit a number of "
     "lines; at most 2000 lines or 50 KiB are returned, never a partial line, with a notice "
     "saying how to continue. Images come back as image content.",
     "{\"type\":\"object\",\"properties\":{"
     "\"path\":{\"type\":\"string\",\"minLength\":1,\"description\":\"Relative to /workspace, "
     "or absolute inside the sandbox's allowed roots.\"},"
     "\"offset\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"First line to show "
     "(1-based).\"},"
     "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"Most lines to show.\"}},"
     "\"required\":[\"path\"],\"additionalProperties\":false}",
     true, false, true},
    {"write", "Write a file",
     "Writes content to a file, replacing it atomically; parent directories are created. Never "
     "writes through a symlink.",
     "{\"type\":\"object\",\"properties\":{"
     "\"path\":{\"type\":\"string\",\"minLength\":1,\"description\":\"Relative to /workspace, "
     "or absolute inside a writable root.\"},"
     "\"content\":{\"type\":\"string\",\"description\":\"The whole new content.\"}},"
     "\"required\":[\"path\",\"content\"],\"additionalProperties\":false}",
     false, true, true},
    {"edit", "Edit a file",
     "Replaces oldText with newText in a file; each oldText must occur exactly once. Give one "
     "pair, or several in edits. Line endings and a byte order mark are kept. Returns a unified "
     "diff; dryRun shows it without writing.",
     "{\"type\":\"object\",\"properties\":{"
     "\"path\":{\"type\":\"string\",\"minLength\":1,\"description\":\"The file to edit.\"},"
     "\"oldText\":{\"type\":\"string\",\"minLength\":1,\"description\":\"Exact text to "
     "replace.\"},"
     "\"newText\":{\"type\":\"string\",\"description\":\"Its replacement.\"},"
     "\"edits\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
     "\"oldText\":{\"type\":\"string\",\"minLength\":1},\"newText\":{\"type\":\"string\"}},"
     "\"required\":[\"oldText\",\"newText\"],\"additionalProperties\":false},"
     "\"description\":\"Several replacements at once.\"},"
     "\"dryRun\":{\"type\":\"boolean\",\"description\":\"Show the diff, change nothing.\"}},"
     "\"required\":[\"path\"],\"additionalProperties\":false}",
     false, true, false},
    {"process", "Manage background processes",
     "Background processes started by bash with background: true. list them; poll one for new "
     "output and its state; log shows lines of its output (offset, limit); write sends data to "
     "its stdin; kill stops it; remove forgets a finished one.",
     "{\"type\":\"object\",\"properties\":{"
     "\"action\":{\"type\":\"string\",\"enum\":[\"list\",\"poll\",\"log\",\"write\",\"kill\","
     "\"remove\"]},"
     "\"id\":{\"type\":\"string\",\"minLength\":1,\"description\":\"The process id bash "
     "returned.\"},"
     "\"data\":{\"type\":\"string\",\"description\":\"For write: what to send.\"},"
     "\"offset\":{\"type\":\"integer\",\"minimum\":1},"
     "\"limit\":{\"type\":\"integer\",\"minimum\":1}},"
     "\"required\":[\"action\"],\"additionalProperties\":false}",
     false, true, false},
};

const struct tool_def *tool_defs(size_t *n)
{
    *n = sizeof defs / sizeof defs[0];
    return defs;
}

const struct tool_def *tool_def_named(const char *name)
{
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        if (strcmp(defs[i].name, name) == 0)
            return &defs[i];
    return NULL;
}

json_t *tool_def_schema(const struct tool_def *d)
{
    json_t *schema = json_loads(d->schema, 0, NULL);
    if (schema)
        json_object_set_new(schema, "$schema",
                            json_string("https://json-schema.org/draft/2020-12/schema"));
    return schema;
}

static const char *type_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "true or false";
    default:
        return "null";
    }
}

static bool type_matches(const char *type, const json_t *v)
{
    if (strcmp(type, "object") == 0)
        return json_is_object(v);
    if (strcmp(type, "array") == 0)
        return json_is_array(v);
    if (strcmp(type, "string") == 0)
        return json_is_string(v);
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(type, "number") == 0)
        return json_is_number(v);
    if (strcmp(type, "integer") == 0)
        return json_is_integer(v) ||
               (json_is_real(v) && json_real_value(v) == (double)(long long)json_real_value(v));
    return false;
}

static const char *expected(const char *type)
{
    static const char *const names[][2] = {
        {"object", "an object"}, {"array", "an array"},   {"string", "a string"},
        {"number", "a number"},  {"integer", "a whole number"}, {"boolean", "true or false"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i][0], type) == 0)
            return names[i][1];
    return type;
}

static int check(const json_t *schema, const json_t *v, const char *where, hutch_error *err)
{
    const char *type = json_string_value(json_object_get(schema, "type"));
    if (type && !type_matches(type, v))
        return error_set(err, HUTCH_E_INVALID, "%s must be %s, not %s", where, expected(type),
                         type_of(v));
    json_t *allowed = json_object_get(schema, "enum");
    if (allowed) {
        size_t i;
        json_t *item;
        bool found = false;
        json_array_foreach(allowed, i, item) found |= json_equal(item, v);
        if (!found) {
            char list[200] = "";
            size_t used = 0;
            json_array_foreach(allowed, i, item)
            {
                if (!fmt_append(list, sizeof list, &used, "%s%s", i ? ", " : "",
                                json_string_value(item) ?: "?"))
                    break; /* whole names, as many as fit */
            }
            return error_set(err, HUTCH_E_INVALID, "%s must be one of %s", where, list);
        }
    }
    json_t *min = json_object_get(schema, "minimum");
    if (min && json_is_number(v) && json_number_value(v) < json_number_value(min)) {
        return error_set(err, HUTCH_E_INVALID, "%s must be at least %g", where,
                         json_number_value(min));
    }
    json_t *min_len = json_object_get(schema, "minLength");
    if (min_len && json_is_string(v) &&
        json_string_length(v) < (size_t)json_integer_value(min_len)) {
        return error_set(err, HUTCH_E_INVALID, "%s must not be empty", where);
    }
    if (json_is_object(v)) {
        json_t *props = json_object_get(schema, "properties");
        json_t *extra = json_object_get(schema, "additionalProperties");
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)v, key, value)
        {
            char sub[256];
            fmt_trunc(sub, sizeof sub, "%s.%s", where, key); /* for messages */
            json_t *ps = json_object_get(props, key);
            if (!ps && json_is_false(extra)) {
                char names[200] = "";
                size_t used = 0;
                const char *pk;
                json_t *pv;
                json_object_foreach(props, pk, pv)
                {
                    if (!fmt_append(names, sizeof names, &used, "%s%s", used ? ", " : "", pk))
                        break; /* whole names, as many as fit */
                }
                return error_set(err, HUTCH_E_INVALID,
                                 "unknown argument %s (this tool takes %s); arguments cannot "
                                 "change the sandbox's policy",
                                 sub, names);
            }
            if (!ps && json_is_object(extra))
                ps = extra;
            if (ps && check(ps, value, sub, err) < 0)
                return -1;
        }
        size_t i;
        json_t *req;
        json_array_foreach(json_object_get(schema, "required"), i, req)
        {
            const char *name = json_string_value(req);
            if (name && !json_object_get(v, name))
                return error_set(err, HUTCH_E_INVALID, "%s.%s is required", where, name);
        }
    }
    if (json_is_array(v)) {
        json_t *items = json_object_get(schema, "items");
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            char sub[256];
            fmt_trunc(sub, sizeof sub, "%s[%zu]", where, i); /* for messages */
            if (items && check(items, item, sub, err) < 0)
                return -1;
        }
    }
    return 0;
}

int tool_args_check(const struct tool_def *d, const json_t *args, hutch_error *err)
{
    json_t *schema = json_loads(d->schema, 0, NULL);
    if (!schema)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    int r = check(schema, args, "arguments", err);
    json_decref(schema);
    return r;
}
