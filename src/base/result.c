#include <jansson.h>

#include "base/result.h"
#include "base/utf8.h"
#include "base/util.h"

#include <stddef.h>

static void free_string_list(char **list)
{
    for (char **item = list; item && *item; item++)
        free(*item);
    free(list);
}

static json_t *string_list_json(char *const *list)
{
    json_t *out = json_array();
    for (char *const *item = list; item && *item; item++)
        json_array_append_new(out, json_string(*item));
    return out;
}

/* Frees the fields that lie within the first size bytes of r. */
static void free_fields(hutch_result *r, size_t size)
{
#define WITHIN(field) (offsetof(hutch_result, field) + sizeof r->field <= size)
    if (WITHIN(out))
        free(r->out.data);
    if (WITHIN(err))
        free(r->err.data);
    if (WITHIN(error))
        free(r->error);
    if (WITHIN(degraded_reason))
        free(r->degraded_reason);
    if (WITHIN(network_denied))
        free_string_list(r->network_denied);
    if (WITHIN(unenforced))
        free_string_list(r->unenforced);
#undef WITHIN
}

void hutch_result_free_v1(hutch_result *r, size_t size)
{
    if (!r)
        return;
    free_fields(r, size < sizeof *r ? size : sizeof *r);
    memset(r, 0, size); /* a newer caller's later fields were never set */
}

int command_from_caller(hutch_command *full, const hutch_command *cmd, size_t cmd_size,
                        hutch_error *err)
{
    if (cmd_size < HUTCH_COMMAND_V1_SIZE)
        return error_set(err, HUTCH_E_INVALID,
                         "the command struct is %zu bytes, smaller than any hutch_command: "
                         "build against hutch.h, or pass sizeof(hutch_command)",
                         cmd_size);
    /* A newer caller's fields this library does not know must be unset:
     * one asking for something (a restriction, say) would be ignored. */
    for (size_t i = sizeof *full; i < cmd_size; i++)
        if (((const unsigned char *)cmd)[i])
            return error_set(err, HUTCH_E_INVALID,
                             "the command sets fields this libhutch (%s) does not know: use the "
                             "libhutch of the hutch.h the program was built with",
                             HUTCH_VERSION_STRING);
    hutch_command_init_v1(full, sizeof *full);
    memcpy(full, cmd, cmd_size < sizeof *full ? cmd_size : sizeof *full);
    return 0;
}

int api_command_in(bool given, const char *required, const hutch_command *caller_cmd,
                   size_t cmd_size, hutch_result *caller_r, size_t result_size,
                   hutch_command *cmd, hutch_error *err)
{
    hutch_error_clear(err);
    /* First: a caller may free the result of a call that failed. */
    if (caller_r)
        memset(caller_r, 0, result_size); /* a newer caller's later fields too */
    if (!given || !caller_cmd || !caller_r)
        return error_set(err, HUTCH_E_INVALID, "%s", required);
    if (result_size < HUTCH_RESULT_V1_SIZE)
        return error_set(err, HUTCH_E_INVALID,
                         "the result struct is %zu bytes, smaller than any hutch_result: build "
                         "against hutch.h, or pass sizeof(hutch_result)",
                         result_size);
    return command_from_caller(cmd, caller_cmd, cmd_size, err);
}

int api_result_out(int rc, hutch_result *r, hutch_result *caller_r, size_t result_size)
{
    if (rc < 0) {
        hutch_result_free(r);
        return rc;
    }
    size_t n = result_size < sizeof *r ? result_size : sizeof *r;
    memcpy(caller_r, r, n);
    /* Fields a newer library has and the caller does not. */
    hutch_result rest = *r;
    memset(&rest, 0, n);
    free_fields(&rest, sizeof rest);
    return rc;
}

int api_json_in(char **out, hutch_error *err)
{
    if (!out)
        return error_set(err, HUTCH_E_INVALID, "a place for the JSON answer is required");
    *out = NULL;
    hutch_error_clear(err);
    return 0;
}

int api_json_out(json_t *value, char **out, hutch_error *err)
{
    *out = value ? json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(value);
    return *out ? 0 : error_set(err, HUTCH_E_SYSTEM, "out of memory");
}

static json_t *text_json(const char *text, size_t len, bool cut_tail)
{
    size_t clean_len;
    autofree char *clean = utf8_sanitize(text, len, cut_tail, &clean_len);
    return clean ? json_stringn(clean, clean_len) : NULL;
}

static json_t *output_text(const hutch_output *o)
{
    if (!o->data)
        return json_null();
    return text_json(o->data, o->len, o->truncated);
}

char *hutch_result_to_json_v1(const hutch_result *caller, size_t size)
{
    if (size < HUTCH_RESULT_V1_SIZE)
        return NULL;
    /* The caller's fields; later ones read as their defaults. */
    hutch_result full = {0};
    memcpy(&full, caller, size < sizeof full ? size : sizeof full);
    const hutch_result *r = &full;
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    json_object_set_new(obj, "backend", json_string(r->backend));
    json_object_set_new(obj, "isolated", json_boolean(r->isolated));
    json_object_set_new(obj, "exit_code", json_integer(r->exit_code));
    json_object_set_new(obj, "signal", r->signal ? json_integer(r->signal) : json_null());
    json_object_set_new(obj, "timed_out", json_boolean(r->timed_out));
    json_object_set_new(obj, "oom_killed", json_boolean(r->oom_killed));
    json_object_set_new(obj, "limits_via", json_string(r->limits_via[0] ? r->limits_via : "none"));
    json_object_set_new(obj, "duration_ms", json_real((double)(long long)(r->duration_ms * 1000.0 + 0.5) / 1000.0));
    json_object_set_new(obj, "stdout", output_text(&r->out));
    json_object_set_new(obj, "stderr", output_text(&r->err));
    json_object_set_new(obj, "stdout_truncated", json_boolean(r->out.truncated));
    json_object_set_new(obj, "stderr_truncated", json_boolean(r->err.truncated));
    json_object_set_new(obj, "stdout_bytes", json_integer((json_int_t)r->out.bytes));
    json_object_set_new(obj, "stderr_bytes", json_integer((json_int_t)r->err.bytes));
    json_object_set_new(obj, "degraded", json_boolean(r->degraded));
    json_object_set_new(obj, "error", r->error ? text_json(r->error, strlen(r->error), false) : json_null());
    if (r->degraded) {
        json_object_set_new(obj, "degraded_reason",
                            r->degraded_reason ? json_string(r->degraded_reason) : json_null());
        json_object_set_new(obj, "unenforced", string_list_json(r->unenforced));
    }
    if (r->network_filtered)
        json_object_set_new(obj, "network_denied", string_list_json(r->network_denied));
    char *text = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(obj);
    return text;
}

void result_take_network_denied(hutch_result *r, struct strlist *hosts)
{
    r->network_filtered = true;
    free_string_list(r->network_denied);
    r->network_denied = hosts->items;
    memset(hosts, 0, sizeof *hosts);
}

void result_apply_outcome(hutch_result *r, const struct supervise_outcome *o)
{
    r->timed_out = o->timed_out;
    r->signal = o->exited ? 0 : o->signal;
    if (o->timed_out)
        r->exit_code = 124;
    else if (!o->exited)
        r->exit_code = 128 + o->signal;
    else
        r->exit_code = o->code;
}

int result_exec_failed(hutch_result *r, const char *argv0, int errnum)
{
    bool missing = errnum == ENOENT || errnum == ENOTDIR;
    r->exit_code = missing ? 127 : 126;
    char *msg = NULL;
    if (asprintf(&msg, "cannot run %s: %s", argv0,
                 missing ? "command not found" : strerror(errnum)) < 0)
        return -1;
    free(r->error);
    r->error = msg;
    return 0;
}

void result_take_output(hutch_result *r, struct command_io *io)
{
    sink_finish(&io->out, &r->out);
    sink_finish(&io->err, &r->err);
}
