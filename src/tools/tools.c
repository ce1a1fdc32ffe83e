/* tool_run(): the dispatcher, and what every tool uses to read its
 * arguments and build its result. */
#include <inttypes.h>
#include <stdarg.h>

#include "tools/internal.h"
#include "base/utf8.h"

/* ---- results --------------------------------------------------------------------- */

json_t *tool_string(const char *text, size_t len)
{
    size_t clean_len;
    autofree char *clean = utf8_sanitize(text ? text : "", text ? len : 0, false, &clean_len);
    if (!clean)
        return NULL;
    return json_stringn_nocheck(clean, clean_len);
}

bool tool_set(json_t *result, const char *key, json_t *value)
{
    if (!result || !value) {
        json_decref(result);
        json_decref(value);
        return false;
    }
    /* set_new takes value in any case. */
    if (json_object_set_new(result, key, value) < 0) {
        json_decref(result);
        return false;
    }
    return true;
}

int tool_commands_ruleset = -1;

json_t *tool_ok(const char *text, size_t len)
{
    json_t *r = json_object();
    if (!r || json_object_set_new(r, "ok", json_true()) < 0 ||
        !tool_set(r, "text", tool_string(text, len))) {
        json_decref(r);
        return NULL;
    }
    return r;
}

json_t *tool_fail(const char *fmt, ...)
{
    char msg[ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vfmt_trunc(msg, sizeof msg, fmt, ap); /* a message: cut on purpose */
    va_end(ap);
    /* One line: a model reads it, a log keeps it. */
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    json_t *r = json_object();
    if (!r || json_object_set_new(r, "ok", json_false()) < 0 ||
        !tool_set(r, "error", tool_string(msg, strlen(msg)))) {
        json_decref(r);
        return NULL;
    }
    return r;
}

json_t *tool_fail_error(const hutch_error *err)
{
    return tool_fail("%s", err->message);
}

/* ---- arguments ------------------------------------------------------------------- */

static bool is_string(const json_t *j)
{
    return json_is_string(j);
}

static bool is_boolean(const json_t *j)
{
    return json_is_boolean(j);
}

/* An integer, or a real with no fraction that a double holds exactly (2.0 is 2). */
static bool is_whole_number(const json_t *j)
{
    return json_is_integer(j) ||
           (json_is_real(j) && json_real_value(j) >= -9e15 && json_real_value(j) <= 9e15 &&
            (double)(int64_t)json_real_value(j) == json_real_value(j));
}

/* The argument key into *v: 1; 0 when absent or null; -1 with err ("KEY
 * must be MUST") when it is not of the kind fits accepts. */
static int arg_get(const json_t *args, const char *key, bool (*fits)(const json_t *),
                   const char *must, const json_t **v, hutch_error *err)
{
    *v = json_object_get(args, key);
    if (!*v || json_is_null(*v))
        return 0;
    if (!fits(*v))
        return error_set(err, HUTCH_E_INVALID, "%s must be %s", key, must);
    return 1;
}

int arg_bytes(const json_t *args, const char *key, const char **s, size_t *len, hutch_error *err)
{
    const json_t *v;
    int r = arg_get(args, key, is_string, "a string", &v, err);
    if (r == 1) {
        *s = json_string_value(v);
        *len = json_string_length(v);
    }
    return r;
}

int arg_string(const json_t *args, const char *key, const char **s, size_t *len, hutch_error *err)
{
    int r = arg_bytes(args, key, s, len, err);
    if (r == 1 && memchr(*s, '\0', *len)) {
        error_set(err, HUTCH_E_INVALID, "%s contains a NUL byte", key);
        return -1;
    }
    return r;
}

int arg_int(const json_t *args, const char *key, int64_t min, int64_t max, int64_t *v,
            hutch_error *err)
{
    const json_t *j;
    int r = arg_get(args, key, is_whole_number, "a whole number", &j, err);
    if (r != 1)
        return r;
    *v = json_is_integer(j) ? (int64_t)json_integer_value(j) : (int64_t)json_real_value(j);
    if (*v < min || *v > max) {
        error_set(err, HUTCH_E_INVALID, "%s must be from %" PRId64 " to %" PRId64 ", not %" PRId64,
                  key, min, max, *v);
        return -1;
    }
    return 1;
}

int arg_bool(const json_t *args, const char *key, bool *v, hutch_error *err)
{
    const json_t *j;
    int r = arg_get(args, key, is_boolean, "true or false", &j, err);
    if (r == 1)
        *v = json_is_true(j);
    return r;
}

/* ---- small things ---------------------------------------------------------------- */

void tool_size_text(uint64_t bytes, char *buf, size_t size)
{
    /* For people: a size buffer too small only cuts what they read. */
    if (bytes < 1024)
        fmt_trunc(buf, size, "%" PRIu64 " bytes", bytes);
    else if (bytes < 1024 * 1024)
        fmt_trunc(buf, size, "%.1f KiB", (double)bytes / 1024.0);
    else if (bytes < 1024ull * 1024 * 1024)
        fmt_trunc(buf, size, "%.1f MiB", (double)bytes / (1024.0 * 1024.0));
    else
        fmt_trunc(buf, size, "%.1f GiB", (double)bytes / (1024.0 * 1024.0 * 1024.0));
}

char *base64_encode(const unsigned char *data, size_t len, size_t *out_len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
        return NULL;
    size_t n = (len + 2) / 3 * 4;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    char *o = out;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = alphabet[(v >> 6) & 63];
        *o++ = alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0);
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    if (out_len)
        *out_len = n;
    return out;
}

/* ---- the dispatcher --------------------------------------------------------------- */

int tool_run(const char *name, const json_t *args, int content_fd, const struct tool_env *env,
             json_t **result)
{
    *result = NULL;
    if (!name)
        name = "";
    if (!json_is_object(args)) {
        *result = tool_fail("the arguments of %.64s must be a JSON object", name);
    } else if (!env || !env->roots.workspace || !*env->roots.workspace) {
        *result = tool_fail("no workspace is set up for the tools");
    } else if (strcmp(name, "read") == 0) {
        *result = tool_read(args, env);
    } else if (strcmp(name, "write") == 0) {
        *result = tool_write(args, content_fd, env);
    } else if (strcmp(name, "edit") == 0) {
        *result = tool_edit(args, env);
    } else if (strcmp(name, "bash") == 0) {
        *result = tool_bash(args, env);
    } else if (strcmp(name, "process") == 0) {
        *result = tool_process(args, env);
    } else {
        *result = tool_fail("unknown tool %.64s: the tools are bash, read, write, edit and process",
                            name);
    }
    return *result ? 0 : -1;
}
