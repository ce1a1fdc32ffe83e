/* libFuzzer target: the MCP message layer (src/mcp/jsonrpc.c), which sees
 * every byte an MCP client sends, on stdio or over HTTP. Each input is
 * classified; the params of the methods served are checked whatever the
 * method; every reply built must serialize to one line that parses back;
 * the Origin/Host checks see the raw text. Valid JSON that jansson cannot
 * hold (numbers beyond 64 bits, keys with \u0000, unpaired surrogates, ...)
 * is read a second time for its id: a refusal that keeps an id must keep
 * a usable one, and a method that goes on never holds a NUL. A response is
 * read as the answer to an approval (elicitation): approved only by
 * "accept" with approve true. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/jsonrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A reply must be one line of JSON that is a response again. */
static void check_reply(json_t *msg)
{
    if (!msg)
        return; /* out of memory */
    size_t len;
    char *text = jsonrpc_dump(msg, &len);
    if (!text || memchr(text, '\n', len))
        abort();
    struct jsonrpc_msg back;
    jsonrpc_parse(text, len, &back);
    if (back.kind != JSONRPC_RESPONSE)
        abort();
    jsonrpc_msg_clear(&back);
    free(text);
    json_decref(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jsonrpc_msg m;
    jsonrpc_parse((const char *)data, size, &m);
    if (m.kind == JSONRPC_BAD) {
        if (m.code != JSONRPC_PARSE_ERROR && m.code != JSONRPC_INVALID_REQUEST &&
            m.code != JSONRPC_INVALID_PARAMS)
            abort();
        if (m.id && !json_is_string(m.id) && !json_is_integer(m.id))
            abort();
        if (m.code == JSONRPC_PARSE_ERROR && (m.id || m.root))
            abort();
        check_reply(jsonrpc_error(m.id, m.code, m.err.message));
    } else if (m.kind == JSONRPC_REQUEST || m.kind == JSONRPC_NOTIFICATION) {
        if (!m.method || (m.kind == JSONRPC_REQUEST) != (m.id != NULL))
            abort();
        const json_t *method = json_object_get(m.root, "method");
        if (strlen(m.method) != json_string_length(method))
            abort(); /* a NUL would cut the method short */
        hutch_error err;
        const char *version;
        struct mcp_tool_call call;
        int level;
        if (mcp_check_initialize(m.params, &version, &err) == 0)
            check_reply(jsonrpc_result(
                m.id, json_pack("{s:s}", "protocolVersion", mcp_negotiate_version(version))));
        if (mcp_check_tool_call(m.params, &call, &err) == 0 &&
            (!call.name || (call.arguments && !json_is_object(call.arguments)) ||
             strlen(call.name) != json_string_length(json_object_get(m.params, "name"))))
            abort();
        if (mcp_check_set_level(m.params, &level, &err) == 0 && (level < 0 || level > 7))
            abort();
        (void)mcp_check_object_params(m.params, &err);
        const json_t *cancel = mcp_cancelled_request(m.params);
        if (cancel && !mcp_same_id(cancel, cancel))
            abort();
        /* Any params object as a tool's result. */
        if (json_is_object(m.params)) {
            json_t *result = mcp_call_result((json_t *)m.params);
            if (result && !json_is_array(json_object_get(result, "content")))
                abort();
            check_reply(jsonrpc_result(m.id, result));
        }
        check_reply(jsonrpc_error(m.id, JSONRPC_METHOD_NOT_FOUND, m.method));
        (void)mcp_client_can_elicit(m.params);
    } else if (m.kind == JSONRPC_RESPONSE) {
        /* A client's answer to an approval: approved only when it says so,
         * else a one-line reason. */
        char reason[256] = "";
        bool approved = mcp_approval_answer(m.root, reason, sizeof reason);
        json_t *result = json_object_get(m.root, "result");
        if (approved &&
            (json_object_get(m.root, "error") ||
             !json_is_true(json_object_get(json_object_get(result, "content"), "approve"))))
            abort();
        if (!approved && (!reason[0] || strchr(reason, '\n')))
            abort();
    }
    jsonrpc_msg_clear(&m);

    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    (void)mcp_local_origin(text);
    (void)mcp_local_host(text);
    free(text);
    return 0;
}
