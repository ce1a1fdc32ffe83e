#include "mcp/jsonrpc.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "util.h"

const char *const mcp_versions[] = {MCP_LATEST_VERSION, "2025-06-18", "2025-03-26", NULL};

static const char *const log_levels[] = {"debug", "info",     "notice", "warning",
                                         "error", "critical", "alert",  "emergency"};

static void why_set(char *why, size_t len, const char *fmt, ...) PRINTF_LIKE(3, 4);
static void why_set(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

static int bad(struct jsonrpc_msg *m, int code, const char *fmt, ...) PRINTF_LIKE(3, 4);
static int bad(struct jsonrpc_msg *m, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->why, sizeof m->why, fmt, ap);
    va_end(ap);
    m->kind = JSONRPC_BAD;
    m->code = code;
    m->method = NULL;
    m->params = NULL;
    return -1;
}

/* MCP narrows JSON-RPC: an id is a string or an integer, never null. */
static bool usable_id(const json_t *id)
{
    return json_is_string(id) || json_is_integer(id);
}

void jsonrpc_parse(const char *buf, size_t len, struct jsonrpc_msg *m)
{
    memset(m, 0, sizeof *m);
    json_error_t jerr;
    /* Any value parses, so that `42` is an invalid request rather than a
     * parse error; duplicate keys are refused so that no two readers of the
     * same message can disagree on it. */
    m->root = json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!m->root) {
        bad(m, JSONRPC_PARSE_ERROR, "parse error: %s (at byte %d)", jerr.text, jerr.position);
        return;
    }
    json_t *root = m->root;
    if (json_is_array(root)) {
        bad(m, JSONRPC_INVALID_REQUEST,
            "invalid request: batches are not supported (MCP removed them in 2025-06-18); "
            "send one message at a time");
        return;
    }
    if (!json_is_object(root)) {
        bad(m, JSONRPC_INVALID_REQUEST, "invalid request: a message must be a JSON object");
        return;
    }
    json_t *id = json_object_get(root, "id");
    if (usable_id(id))
        m->id = id;
    json_t *method = json_object_get(root, "method");
    /* Whatever looks like a response is never answered, however broken:
     * two peers must not trade errors about errors forever. */
    if (!method && (json_object_get(root, "result") || json_object_get(root, "error"))) {
        m->kind = JSONRPC_RESPONSE;
        return;
    }
    json_t *version = json_object_get(root, "jsonrpc");
    if (!json_is_string(version) || strcmp(json_string_value(version), "2.0") != 0) {
        bad(m, JSONRPC_INVALID_REQUEST, "invalid request: \"jsonrpc\" must be \"2.0\"");
        return;
    }
    if (!method) {
        bad(m, JSONRPC_INVALID_REQUEST,
            "invalid request: a message needs a \"method\" (a request or a notification) or "
            "a \"result\" or \"error\" (a response)");
        return;
    }
    if (!json_is_string(method)) {
        bad(m, JSONRPC_INVALID_REQUEST, "invalid request: \"method\" must be a string");
        return;
    }
    if (id && !m->id) {
        bad(m, JSONRPC_INVALID_REQUEST, "invalid request: \"id\" must be a string or an integer");
        return;
    }
    json_t *params = json_object_get(root, "params");
    if (params && !json_is_object(params) && !json_is_array(params)) {
        bad(m, JSONRPC_INVALID_REQUEST, "invalid request: \"params\" must be an object");
        return;
    }
    m->method = json_string_value(method);
    m->params = params;
    m->kind = m->id ? JSONRPC_REQUEST : JSONRPC_NOTIFICATION;
}

void jsonrpc_msg_clear(struct jsonrpc_msg *m)
{
    json_decref(m->root);
    memset(m, 0, sizeof *m);
}

static json_t *reply(const json_t *id)
{
    json_t *msg = json_object();
    if (!msg)
        return NULL;
    json_t *copy = id ? json_copy((json_t *)id) : json_null();
    if (json_object_set_new(msg, "jsonrpc", json_string("2.0")) < 0 ||
        json_object_set_new(msg, "id", copy) < 0) {
        json_decref(msg);
        return NULL;
    }
    return msg;
}

json_t *jsonrpc_result(const json_t *id, json_t *result)
{
    json_t *msg = result ? reply(id) : NULL;
    if (!msg || json_object_set_new(msg, "result", result) < 0) {
        if (!msg)
            json_decref(result);
        json_decref(msg);
        return NULL;
    }
    return msg;
}

json_t *jsonrpc_error(const json_t *id, int code, const char *message)
{
    json_t *msg = reply(id);
    if (!msg)
        return NULL;
    /* Messages come from hutch, which writes UTF-8, but a path or a name
     * the client sent may not be: never lose the error over it. */
    json_t *text = json_string(message);
    if (!text)
        text = json_string("(the error message is not valid UTF-8)");
    if (json_object_set_new(msg, "error", json_pack("{s:i,s:o*}", "code", code, "message", text)) <
        0) {
        json_decref(msg);
        return NULL;
    }
    return msg;
}

json_t *jsonrpc_notification(const char *method, json_t *params)
{
    json_t *msg = json_pack("{s:s,s:s,s:o*}", "jsonrpc", "2.0", "method", method, "params", params);
    return msg;
}

char *jsonrpc_dump(const json_t *msg, size_t *len)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    if (text && len)
        *len = strlen(text);
    return text;
}

/* ---- params ------------------------------------------------------------------ */

bool mcp_version_served(const char *version)
{
    for (size_t i = 0; version && mcp_versions[i]; i++)
        if (strcmp(version, mcp_versions[i]) == 0)
            return true;
    return false;
}

const char *mcp_negotiate_version(const char *requested)
{
    for (size_t i = 0; requested && mcp_versions[i]; i++)
        if (strcmp(requested, mcp_versions[i]) == 0)
            return mcp_versions[i];
    return MCP_LATEST_VERSION;
}

int mcp_check_object_params(const json_t *params, char *why, size_t len)
{
    if (params && !json_is_object(params)) {
        why_set(why, len, "invalid params: \"params\" must be an object");
        return -1;
    }
    return 0;
}

int mcp_check_initialize(const json_t *params, const char **version, char *why, size_t len)
{
    if (!json_is_object(params)) {
        why_set(why, len,
                "invalid params: initialize needs params {\"protocolVersion\", "
                "\"capabilities\", \"clientInfo\"}");
        return -1;
    }
    json_t *v = json_object_get(params, "protocolVersion");
    if (!json_is_string(v)) {
        why_set(why, len, "invalid params: \"protocolVersion\" must be a string such as \"%s\"",
                MCP_LATEST_VERSION);
        return -1;
    }
    if (!json_is_object(json_object_get(params, "capabilities"))) {
        why_set(why, len, "invalid params: \"capabilities\" must be an object");
        return -1;
    }
    json_t *info = json_object_get(params, "clientInfo");
    if (!json_is_object(info) || !json_is_string(json_object_get(info, "name")) ||
        !json_is_string(json_object_get(info, "version"))) {
        why_set(why, len,
                "invalid params: \"clientInfo\" must be an object with the strings "
                "\"name\" and \"version\"");
        return -1;
    }
    *version = json_string_value(v);
    return 0;
}

int mcp_check_tool_call(const json_t *params, struct mcp_tool_call *call, char *why, size_t len)
{
    memset(call, 0, sizeof *call);
    if (!json_is_object(params)) {
        why_set(why, len, "invalid params: tools/call needs params {\"name\", \"arguments\"}");
        return -1;
    }
    json_t *name = json_object_get(params, "name");
    if (!json_is_string(name)) {
        why_set(why, len, "invalid params: \"name\" must be the name of a tool (a string)");
        return -1;
    }
    json_t *args = json_object_get(params, "arguments");
    if (args && !json_is_object(args)) {
        why_set(why, len, "invalid params: \"arguments\" must be an object");
        return -1;
    }
    json_t *meta = json_object_get(params, "_meta");
    if (meta && !json_is_object(meta)) {
        why_set(why, len, "invalid params: \"_meta\" must be an object");
        return -1;
    }
    json_t *token = json_object_get(meta, "progressToken");
    if (token && !json_is_string(token) && !json_is_number(token)) {
        why_set(why, len, "invalid params: \"_meta.progressToken\" must be a string or a number");
        return -1;
    }
    call->name = json_string_value(name);
    call->arguments = args;
    call->progress_token = token;
    return 0;
}

const json_t *mcp_cancelled_request(const json_t *params)
{
    json_t *id = json_object_get(params, "requestId");
    return usable_id(id) ? id : NULL;
}

int mcp_log_level(const char *name)
{
    for (size_t i = 0; name && i < ARRAY_SIZE(log_levels); i++)
        if (strcmp(name, log_levels[i]) == 0)
            return (int)i;
    return -1;
}

const char *mcp_log_level_name(int level)
{
    return level >= 0 && (size_t)level < ARRAY_SIZE(log_levels) ? log_levels[level] : "info";
}

int mcp_check_set_level(const json_t *params, int *level, char *why, size_t len)
{
    json_t *name = json_object_get(params, "level");
    int l = json_is_object(params) ? mcp_log_level(json_string_value(name)) : -1;
    if (l < 0) {
        why_set(why, len,
                "invalid params: \"level\" must be one of debug, info, notice, "
                "warning, error, critical, alert, emergency");
        return -1;
    }
    *level = l;
    return 0;
}

json_t *mcp_call_result(json_t *result)
{
    bool ok = json_is_true(json_object_get(result, "ok"));
    const char *text = json_string_value(json_object_get(result, ok ? "text" : "error"));
    if (!text)
        text = ok ? "" : "the tool failed without saying why";
    json_t *content = json_array();
    json_t *item = json_pack("{s:s,s:s}", "type", "text", "text", text);
    if (!content || json_array_append_new(content, item) < 0) {
        json_decref(content);
        return NULL;
    }
    json_t *image = json_object_get(result, "image");
    json_t *mime = json_object_get(image, "mimeType");
    json_t *data = json_object_get(image, "data");
    if (json_is_string(mime) && json_is_string(data) &&
        json_array_append_new(content, json_pack("{s:s,s:O,s:O}", "type", "image", "data", data,
                                                 "mimeType", mime)) < 0) {
        json_decref(content);
        return NULL;
    }
    return json_pack("{s:o,s:O,s:b}", "content", content, "structuredContent", result, "isError",
                     !ok);
}

bool mcp_local_host(const char *host)
{
    static const char *const names[] = {"localhost", "127.0.0.1", "[::1]"};
    if (!host)
        return false;
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(names) && !n; i++)
        if (strncasecmp(host, names[i], strlen(names[i])) == 0)
            n = strlen(names[i]);
    if (!n)
        return false;
    const char *p = host + n;
    if (*p == '\0')
        return true;
    if (*p++ != ':')
        return false;
    size_t digits = strspn(p, "0123456789");
    return digits >= 1 && digits <= 5 && p[digits] == '\0';
}

bool mcp_local_origin(const char *origin)
{
    if (!origin)
        return false;
    if (strncasecmp(origin, "http://", 7) == 0)
        return mcp_local_host(origin + 7);
    if (strncasecmp(origin, "https://", 8) == 0)
        return mcp_local_host(origin + 8);
    return false;
}

bool mcp_same_id(const json_t *a, const json_t *b)
{
    if (json_is_string(a) && json_is_string(b))
        return json_equal((json_t *)a, (json_t *)b);
    if (json_is_integer(a) && json_is_integer(b))
        return json_integer_value(a) == json_integer_value(b);
    return false;
}
