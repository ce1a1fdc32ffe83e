/* The MCP message layer (src/mcp/jsonrpc.c): classification, params, replies. */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "mcp/jsonrpc.h"
#include "tap.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static struct jsonrpc_msg parse(const char *text)
{
    struct jsonrpc_msg m;
    jsonrpc_parse(text, strlen(text), &m);
    return m;
}

static void check_bad(const char *text, int code, const char *reason_part, bool has_id)
{
    struct jsonrpc_msg m = parse(text);
    CHECK(m.kind == JSONRPC_BAD && m.code == code, "%s is error %d (got kind %d code %d)", text,
          code, m.kind, m.code);
    CHECK_CONTAINS(m.err.message, reason_part, "%s: the reason says %s", text, reason_part);
    CHECK((m.id != NULL) == has_id, "%s: id %s", text, has_id ? "kept" : "null");
    jsonrpc_msg_clear(&m);
}

static char *dump(json_t *msg)
{
    char *text = jsonrpc_dump(msg, NULL);
    json_decref(msg);
    return text;
}

static void test_classify(void)
{
    struct jsonrpc_msg m = parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}");
    CHECK(m.kind == JSONRPC_REQUEST && strcmp(m.method, "ping") == 0 && !m.params,
          "a request without params");
    CHECK(json_integer_value(m.id) == 7, "its id");
    jsonrpc_msg_clear(&m);

    m = parse("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"tools/list\",\"params\":{}}");
    CHECK(m.kind == JSONRPC_REQUEST && json_is_object(m.params), "a string id and params");
    jsonrpc_msg_clear(&m);

    m = parse("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    CHECK(m.kind == JSONRPC_NOTIFICATION, "a notification has no id");
    jsonrpc_msg_clear(&m);

    m = parse("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}");
    CHECK(m.kind == JSONRPC_RESPONSE, "a response");
    jsonrpc_msg_clear(&m);

    m = parse("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"x\"}}");
    CHECK(m.kind == JSONRPC_RESPONSE, "an error response without a usable id");
    jsonrpc_msg_clear(&m);

    check_bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"", JSONRPC_PARSE_ERROR,
              "parse error", false);
    check_bad("", JSONRPC_PARSE_ERROR, "parse error", false);
    check_bad("{\"a\":1,\"a\":2}", JSONRPC_INVALID_REQUEST, "\"jsonrpc\"", false);
    check_bad("{} trailing", JSONRPC_PARSE_ERROR, "parse error", false);
    check_bad("42", JSONRPC_INVALID_REQUEST, "JSON object", false);
    check_bad("[]", JSONRPC_INVALID_REQUEST, "batches", false);
    check_bad("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", JSONRPC_INVALID_REQUEST,
              "batches", false);
    check_bad("{\"id\":1,\"method\":\"ping\"}", JSONRPC_INVALID_REQUEST, "\"jsonrpc\"", true);
    check_bad("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", JSONRPC_INVALID_REQUEST,
              "\"jsonrpc\"", true);
    check_bad("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", JSONRPC_INVALID_REQUEST,
              "\"id\"", false);
    check_bad("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", JSONRPC_INVALID_REQUEST,
              "\"id\"", false);
    check_bad("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", JSONRPC_INVALID_REQUEST,
              "\"id\"", false);
    check_bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":3}", JSONRPC_INVALID_REQUEST, "\"method\"",
              true);
    check_bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":\"x\"}",
              JSONRPC_INVALID_REQUEST, "\"params\"", true);
    check_bad("{\"jsonrpc\":\"2.0\",\"id\":1}", JSONRPC_INVALID_REQUEST, "\"method\"", true);
    m = parse("{\"id\":1,\"result\":{},\"error\":{}}");
    CHECK(m.kind == JSONRPC_RESPONSE, "a broken response is still not answered");
    jsonrpc_msg_clear(&m);

    /* Not NUL-terminated: only len bytes count. */
    const char text[] = "{\"jsonrpc\":\"2.0\",\"method\":\"x\"}garbage";
    jsonrpc_parse(text, strlen(text) - 7, &m);
    CHECK(m.kind == JSONRPC_NOTIFICATION, "the length bounds the message");
    jsonrpc_msg_clear(&m);
}

/* A request whose id is id_text, with `extra` after the method: how it is
 * classified, with its reason and id. */
static struct jsonrpc_msg parse_request(const char *id_text, const char *extra)
{
    char text[8192];
    snprintf(text, sizeof text, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"tools/call\"%s}",
             id_text, extra);
    return parse(text);
}

/* Refused with code and reason_part, keeping the integer id 7. */
static void check_refused_with_id(const char *extra, int code, const char *reason_part)
{
    struct jsonrpc_msg m = parse_request("7", extra);
    CHECK(m.kind == JSONRPC_BAD && m.code == code, "%.80s is error %d (got kind %d code %d: %s)",
          extra, code, m.kind, m.code, m.err.message);
    CHECK(json_integer_value(m.id) == 7, "%.80s: the id 7 is kept", extra);
    CHECK_CONTAINS(m.err.message, reason_part, "%.80s: the reason says %s", extra, reason_part);
    jsonrpc_msg_clear(&m);
}

static void test_nul_characters(void)
{
    /* In argument values: data, carried on whole. */
    struct jsonrpc_msg m = parse_request(
        "7", ",\"params\":{\"name\":\"bash\",\"arguments\":{\"command\":\"echo \\u0000x\"}}");
    CHECK(m.kind == JSONRPC_REQUEST, "a NUL in an argument parses: %s", m.err.message);
    const json_t *command = json_object_get(json_object_get(m.params, "arguments"), "command");
    CHECK(json_string_length(command) == 7 &&
              memcmp(json_string_value(command), "echo \0x", 7) == 0,
          "the argument keeps its NUL and what follows");
    jsonrpc_msg_clear(&m);

    /* In an id: data, answered with exactly that id. */
    m = parse_request("\"a\\u0000b\"", "");
    CHECK(m.kind == JSONRPC_REQUEST && json_string_length(m.id) == 3, "an id with a NUL is an id");
    char *text = dump(jsonrpc_result(m.id, json_object()));
    CHECK_CONTAINS(text, "\"id\":\"a\\u0000b\"", "and the reply carries it back whole");
    free(text);
    json_t *other = json_string("a");
    CHECK(!mcp_same_id(m.id, other), "\"a\\u0000b\" is not the id \"a\"");
    json_decref(other);
    jsonrpc_msg_clear(&m);

    /* In the method or the version: refused, with the id. */
    m = parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\\u0000x\"}");
    CHECK(m.kind == JSONRPC_BAD && m.code == JSONRPC_INVALID_REQUEST &&
              json_integer_value(m.id) == 7,
          "a method with a NUL is an invalid request that keeps its id");
    CHECK_CONTAINS(m.err.message, "NUL", "and says why");
    jsonrpc_msg_clear(&m);
    m = parse("{\"jsonrpc\":\"2.0\\u0000\",\"id\":7,\"method\":\"ping\"}");
    CHECK(m.kind == JSONRPC_BAD && m.code == JSONRPC_INVALID_REQUEST &&
              json_integer_value(m.id) == 7,
          "\"2.0\\u0000\" is not \"2.0\"");
    jsonrpc_msg_clear(&m);

    /* In params that name things: refused or unknown, never cut short. */
    hutch_error err;
    struct mcp_tool_call call;
    json_t *p = json_loads("{\"name\":\"bash\\u0000x\",\"arguments\":{}}", JSON_ALLOW_NUL, NULL);
    CHECK(p && mcp_check_tool_call(p, &call, &err) < 0, "a tool name with a NUL");
    CHECK_CONTAINS(err.message, "NUL", "is refused as such");
    json_decref(p);
    int level = -1;
    p = json_loads("{\"level\":\"debug\\u0000\"}", JSON_ALLOW_NUL, NULL);
    CHECK(p && mcp_check_set_level(p, &level, &err) < 0, "a log level with a NUL");
    json_decref(p);
    const char *version = NULL;
    p = json_loads("{\"protocolVersion\":\"2025-06-18\\u0000\",\"capabilities\":{},"
                   "\"clientInfo\":{\"name\":\"t\\u0000\",\"version\":\"1\"}}",
                   JSON_ALLOW_NUL, NULL);
    CHECK(p && mcp_check_initialize(p, &version, &err) == 0 &&
              strcmp(mcp_negotiate_version(version), MCP_LATEST_VERSION) == 0,
          "a protocol version with a NUL is not 2025-06-18: the latest is offered");
    json_decref(p);
    p = json_loads("{\"requestId\":\"x\\u0000y\"}", JSON_ALLOW_NUL, NULL);
    CHECK(json_string_length(mcp_cancelled_request(p)) == 3, "a request id to cancel keeps its NUL");
    json_decref(p);

    /* Tool output with a NUL byte: the text content is not cut there. */
    json_t *r = json_pack("{s:b,s:s%}", "ok", 1, "text", "a\0b", (size_t)3);
    json_t *c = mcp_call_result(r);
    CHECK(json_string_length(json_object_get(json_array_get(json_object_get(c, "content"), 0),
                                             "text")) == 3,
          "tool output with a NUL is passed on whole");
    json_decref(c);
    json_decref(r);
}

/* Valid JSON that jansson cannot hold costs the request nothing but its
 * params: it is refused with its id, when its id can be read. */
static void test_unreadable_values(void)
{
    const char *args = ",\"params\":{\"name\":\"bash\",\"arguments\":{\"command\":\"x\",";
    char extra[6000];
    snprintf(extra, sizeof extra, "%s\"timeout\":18446744073709551616}}", args);
    check_refused_with_id(extra, JSONRPC_INVALID_PARAMS, "number out of range");
    snprintf(extra, sizeof extra, "%s\"timeout\":-9223372036854775809}}", args);
    check_refused_with_id(extra, JSONRPC_INVALID_PARAMS, "number out of range");
    snprintf(extra, sizeof extra, "%s\"timeout\":1e400}}", args);
    check_refused_with_id(extra, JSONRPC_INVALID_PARAMS, "number out of range");
    snprintf(extra, sizeof extra, "%s\"comm\\u0000and\":1}}", args);
    check_refused_with_id(extra, JSONRPC_INVALID_PARAMS, "NUL character");
    snprintf(extra, sizeof extra, "%s\"x\":\"\\ud800\"}}", args);
    check_refused_with_id(extra, JSONRPC_INVALID_PARAMS, "unpaired");
    snprintf(extra, sizeof extra, "%s\"x\":\"\\udc00\\ud800\"}}", args);
    check_refused_with_id(extra, JSONRPC_INVALID_PARAMS, "unpaired");
    snprintf(extra, sizeof extra, "%s\"x\":\"\xc0\xaf\"}}", args);
    check_refused_with_id(extra, JSONRPC_INVALID_PARAMS, "not UTF-8");
    snprintf(extra, sizeof extra, "%s\"x\":1,\"x\":2}}", args);
    check_refused_with_id(extra, JSONRPC_INVALID_PARAMS, "twice");
    size_t n = (size_t)snprintf(extra, sizeof extra, "%s\"x\":", args);
    for (int i = 0; i < 2100; i++)
        extra[n++] = '[';
    for (int i = 0; i < 2100; i++)
        extra[n++] = ']';
    snprintf(extra + n, sizeof extra - n, "}}");
    check_refused_with_id(extra, JSONRPC_INVALID_PARAMS, "nesting");
    /* Outside params: an invalid request, still with its id. */
    check_refused_with_id(",\"x\":18446744073709551616", JSONRPC_INVALID_REQUEST,
                          "number out of range");
    check_refused_with_id(",\"\\u0000\":1", JSONRPC_INVALID_REQUEST, "NUL character");
    check_refused_with_id(",\"x\":1,\"x\":2", JSONRPC_INVALID_REQUEST, "twice");
    check_refused_with_id(",\"params\":{},\"x\":[18446744073709551616]", JSONRPC_INVALID_REQUEST,
                          "number out of range");

    /* The limits themselves are read as they are. */
    struct jsonrpc_msg m = parse_request("9223372036854775807", ",\"params\":{\"a\":-9223372036854775808,"
                                         "\"b\":1.7e308,\"c\":1e-400,\"d\":\"\\ud83d\\ude00\\\\u0000\"}");
    CHECK(m.kind == JSONRPC_REQUEST && json_integer_value(m.id) == INT64_MAX,
          "the 64-bit limits, a large real, an underflow, a surrogate pair and \\\\u0000 parse: %s",
          m.err.message);
    jsonrpc_msg_clear(&m);

    /* An id that cannot be read: null, as JSON-RPC says. */
    static const char *const bad_ids[] = {"18446744073709551616", "-9223372036854775809", "1e400",
                                          "\"\\ud800\"", "\"\xff\""};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        m = parse_request(bad_ids[i], "");
        CHECK(m.kind == JSONRPC_BAD && m.code == JSONRPC_INVALID_REQUEST && !m.id,
              "id %s cannot be read: an invalid request with id null (got kind %d code %d)",
              bad_ids[i], m.kind, m.code);
        CHECK_CONTAINS(m.err.message, "\"id\" cannot be read", "id %s: the reason says so",
                       bad_ids[i]);
        jsonrpc_msg_clear(&m);
    }
    /* Nor when "id" is there twice, or the text is not JSON after all. */
    check_bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"\\u0069d\":2,\"method\":\"ping\",\"x\":1e999}",
              JSONRPC_PARSE_ERROR, "\"id\" appears twice", false);
    check_bad("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\",\"x\":18446744073709551616,}",
              JSONRPC_PARSE_ERROR, "parse error", false);
    check_bad("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\",\"x\":\"\\ud800\\x\"}",
              JSONRPC_PARSE_ERROR, "parse error", false);
    check_bad("\xff{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\",\"x\":1e400}",
              JSONRPC_PARSE_ERROR, "parse error", false);
    check_bad("[{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\",\"x\":1e400}]",
              JSONRPC_INVALID_REQUEST, "batches", false);
    /* Nesting that never closes is not JSON, and is found so in one pass
     * (not one pass per level: 4 MiB of "[" would take hours). */
    size_t deep_len = (size_t)4 << 20;
    char *deep = malloc(deep_len);
    if (deep) {
        int head = snprintf(deep, deep_len, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\",\"params\":");
        memset(deep + head, '[', deep_len - (size_t)head);
        double started = now_ms();
        jsonrpc_parse(deep, deep_len, &m);
        CHECK(m.kind == JSONRPC_BAD && m.code == JSONRPC_PARSE_ERROR && !m.id,
              "4 MiB of unclosed nesting is a parse error");
        CHECK(now_ms() - started < 2000, "found in %.0f ms", now_ms() - started);
        jsonrpc_msg_clear(&m);
        free(deep);
    }
    /* An escaped key is still the id. */
    m = parse("{\"jsonrpc\":\"2.0\",\"\\u0069d\":7,\"method\":\"ping\",\"x\":1e400}");
    CHECK(m.kind == JSONRPC_BAD && json_integer_value(m.id) == 7, "\"\\u0069d\" is the id");
    jsonrpc_msg_clear(&m);

    /* A notification is refused without an id; a response is still not answered. */
    m = parse("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
              "\"params\":{\"requestId\":18446744073709551616}}");
    CHECK(m.kind == JSONRPC_BAD && m.code == JSONRPC_INVALID_PARAMS && !m.id && !m.method,
          "a notification hutch cannot read is not acted on");
    jsonrpc_msg_clear(&m);
    m = parse("{\"jsonrpc\":\"2.0\",\"id\":18446744073709551616,\"result\":{}}");
    CHECK(m.kind == JSONRPC_RESPONSE, "a response hutch cannot read is still a response");
    jsonrpc_msg_clear(&m);

    /* Only len bytes count, here too. */
    const char text[] = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\",\"x\":1e400}1e400";
    jsonrpc_parse(text, strlen(text) - 5, &m);
    CHECK(m.kind == JSONRPC_BAD && json_integer_value(m.id) == 7, "the length bounds the rereading");
    jsonrpc_msg_clear(&m);
}

static void test_replies(void)
{
    json_t *id = json_integer(5);
    char *text = dump(jsonrpc_result(id, json_object()));
    CHECK_STR(text, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}", "a result");
    free(text);
    text = dump(jsonrpc_error(NULL, JSONRPC_PARSE_ERROR, "bad"));
    CHECK_STR(text,
              "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"bad\"}}",
              "an error without id has id null");
    free(text);
    text = dump(jsonrpc_error(id, JSONRPC_INVALID_PARAMS, "line one\nline two"));
    CHECK(text && !strchr(text, '\n'), "a message stays on one line");
    free(text);
    text = dump(jsonrpc_error(id, 1, "\xff\xfe"));
    CHECK_CONTAINS(text, "not valid UTF-8",
                   "an error with bytes that are not UTF-8 still goes out");
    free(text);
    text = dump(jsonrpc_notification("notifications/progress", json_pack("{s:i}", "progress", 1)));
    CHECK_STR(
        text,
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}",
        "a notification");
    free(text);
    json_decref(id);
}

static void test_params(void)
{
    hutch_error err;
    const char *version = NULL;
    json_t *p = json_loads("{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
                           "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}",
                           0, NULL);
    CHECK(mcp_check_initialize(p, &version, &err) == 0 &&
              strcmp(version, "2025-06-18") == 0,
          "initialize params");
    json_object_del(p, "clientInfo");
    CHECK(mcp_check_initialize(p, &version, &err) < 0, "clientInfo is required");
    CHECK_CONTAINS(err.message, "clientInfo", "and named");
    json_decref(p);
    CHECK(mcp_check_initialize(NULL, &version, &err) < 0, "params are required");

    CHECK_STR(mcp_negotiate_version("2025-11-25"), "2025-11-25", "the latest is kept");
    CHECK_STR(mcp_negotiate_version("2025-06-18"), "2025-06-18", "2025-06-18 is kept");
    CHECK_STR(mcp_negotiate_version("2025-03-26"), "2025-03-26", "2025-03-26 is kept");
    CHECK_STR(mcp_negotiate_version("2024-11-05"), "2025-11-25", "an older one gets the latest");
    CHECK_STR(mcp_negotiate_version("2099-01-01"), "2025-11-25", "a newer one gets the latest");
    CHECK(!mcp_version_served("2024-11-05") && mcp_version_served("2025-03-26"), "versions served");

    struct mcp_tool_call call;
    p = json_loads("{\"name\":\"bash\",\"arguments\":{\"command\":\"id\"},"
                   "\"_meta\":{\"progressToken\":\"t1\"}}",
                   0, NULL);
    CHECK(mcp_check_tool_call(p, &call, &err) == 0 && strcmp(call.name, "bash") == 0 &&
              json_is_object(call.arguments) &&
              strcmp(json_string_value(call.progress_token), "t1") == 0,
          "tools/call params with a progress token");
    json_decref(p);
    p = json_loads("{\"name\":\"read\"}", 0, NULL);
    CHECK(mcp_check_tool_call(p, &call, &err) == 0 && !call.arguments &&
              !call.progress_token,
          "arguments are optional");
    json_decref(p);
    static const char *const bad_calls[] = {
        "{}", "{\"name\":1}", "{\"name\":\"bash\",\"arguments\":[]}",
        "{\"name\":\"bash\",\"_meta\":3}", "{\"name\":\"bash\",\"_meta\":{\"progressToken\":{}}}"};
    for (size_t i = 0; i < sizeof bad_calls / sizeof bad_calls[0]; i++) {
        p = json_loads(bad_calls[i], 0, NULL);
        CHECK(mcp_check_tool_call(p, &call, &err) < 0 &&
                  strncmp(err.message, "invalid params", 14) == 0,
              "tools/call %s is refused", bad_calls[i]);
        json_decref(p);
    }

    p = json_loads("{\"requestId\":\"x\"}", 0, NULL);
    CHECK_STR(json_string_value(mcp_cancelled_request(p)), "x", "the id to cancel");
    json_decref(p);
    p = json_loads("{\"requestId\":null}", 0, NULL);
    CHECK(!mcp_cancelled_request(p) && !mcp_cancelled_request(NULL), "no usable id to cancel");
    json_decref(p);

    int level = -1;
    p = json_loads("{\"level\":\"error\"}", 0, NULL);
    CHECK(mcp_check_set_level(p, &level, &err) == 0 && level == 4, "level error is 4");
    json_decref(p);
    p = json_loads("{\"level\":\"loud\"}", 0, NULL);
    CHECK(mcp_check_set_level(p, &level, &err) < 0, "an unknown level");
    json_decref(p);
    CHECK(mcp_check_object_params(NULL, &err) == 0, "absent params are fine");
    p = json_array();
    CHECK(mcp_check_object_params(p, &err) < 0, "array params are not");
    json_decref(p);
}

static void test_call_result(void)
{
    json_t *r = json_pack("{s:b,s:s,s:f}", "ok", 1, "text", "hello", "duration_ms", 1.5);
    json_t *c = mcp_call_result(r);
    CHECK(json_is_false(json_object_get(c, "isError")), "ok: isError false");
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(c, "content"), 0), "text")),
              "hello", "the text is the content");
    CHECK(json_object_get(c, "structuredContent") == r, "structuredContent is the result");
    json_decref(c);
    json_decref(r);

    r = json_pack("{s:b,s:s}", "ok", 0, "error", "no such file");
    c = mcp_call_result(r);
    CHECK(json_is_true(json_object_get(c, "isError")), "a failure: isError true");
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(c, "content"), 0), "text")),
              "no such file", "the error is the content");
    json_decref(c);
    json_decref(r);

    r = json_pack("{s:b,s:s,s:{s:s,s:s}}", "ok", 1, "text", "an image", "image", "mimeType",
                  "image/png", "data", "iVBORw0K");
    c = mcp_call_result(r);
    json_t *image = json_array_get(json_object_get(c, "content"), 1);
    CHECK_STR(json_string_value(json_object_get(image, "type")), "image", "an image item");
    CHECK_STR(json_string_value(json_object_get(image, "mimeType")), "image/png", "its type");
    CHECK_STR(json_string_value(json_object_get(image, "data")), "iVBORw0K", "its data");
    json_decref(c);
    json_decref(r);
}

static void test_ids_and_origins(void)
{
    json_t *a = json_integer(1), *b = json_integer(1), *s = json_string("1");
    CHECK(mcp_same_id(a, b) && !mcp_same_id(a, s) && !mcp_same_id(NULL, NULL), "id equality");
    json_decref(a);
    json_decref(b);
    json_decref(s);

    static const char *const good[] = {"http://localhost", "http://localhost:3000",
                                       "http://127.0.0.1:8080", "https://[::1]:1",
                                       "HTTP://LOCALHOST:5"};
    static const char *const bad[] = {"http://evil.example",
                                      "http://localhost.evil.example",
                                      "http://127.0.0.1.nip.io",
                                      "null",
                                      "file://",
                                      "localhost",
                                      "http://localhost:",
                                      "http://localhost:123456",
                                      "http://localhost/",
                                      "http://localhost:80x",
                                      "http://[::1]evil",
                                      "ftp://localhost"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK(mcp_local_origin(good[i]), "origin %s is local", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!mcp_local_origin(bad[i]), "origin %s is not", bad[i]);
    CHECK(mcp_local_host("localhost:8080") && mcp_local_host("127.0.0.1") &&
              !mcp_local_host("evil.example.com") && !mcp_local_host("evil.example.com:80") &&
              !mcp_local_host(NULL),
          "hosts");
}

int main(void)
{
    test_classify();
    test_nul_characters();
    test_unreadable_values();
    test_replies();
    test_params();
    test_call_result();
    test_ids_and_origins();
    return tap_done();
}
