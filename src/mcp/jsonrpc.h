/* The JSON-RPC 2.0 messages of MCP: classifying what a client sends,
 * checking the params of the methods hutch serves, and building replies.
 * Pure (no I/O, no state), so that it can be fuzzed (tests/fuzz/
 * fuzz_jsonrpc.c). docs/mcp.md. */
#ifndef HUTCH_MCP_JSONRPC_H
#define HUTCH_MCP_JSONRPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "hutch.h"

#define JSONRPC_PARSE_ERROR -32700
#define JSONRPC_INVALID_REQUEST -32600
#define JSONRPC_METHOD_NOT_FOUND -32601
#define JSONRPC_INVALID_PARAMS -32602
#define JSONRPC_INTERNAL_ERROR -32603
/* Implementation-defined server errors: not initialized yet, too busy
 * (the code the official SDKs' HTTP transports use for the same). */
#define MCP_SERVER_ERROR -32000

/* The largest message read: one stdio line, one HTTP body. */
#define MCP_MAX_MESSAGE ((size_t)16 * 1024 * 1024)

/* Protocol revisions served, newest first. */
#define MCP_LATEST_VERSION "2025-11-25"
extern const char *const mcp_versions[];

enum jsonrpc_kind {
    JSONRPC_REQUEST,      /* method and id: answer exactly once */
    JSONRPC_NOTIFICATION, /* method, no id: never answered */
    JSONRPC_RESPONSE,     /* id and result or error: hutch sends no requests, so ignored */
    JSONRPC_BAD,          /* answered with error `code` (id when usable, else null) */
};

struct jsonrpc_msg {
    enum jsonrpc_kind kind;
    json_t *root;         /* the whole message, owned (NULL on a parse error) */
    const json_t *id;     /* borrowed from root; NULL when absent or unusable */
    const char *method;   /* requests and notifications */
    const json_t *params; /* NULL when absent; else an object or an array */
    int code;             /* JSONRPC_BAD: JSONRPC_PARSE_ERROR, JSONRPC_INVALID_REQUEST, or
                           * JSONRPC_INVALID_PARAMS for valid JSON that hutch cannot hold
                           * all of (a number beyond 64 bits, a key with \u0000, ...) in
                           * params only */
    hutch_error err;      /* JSONRPC_BAD: what is wrong, for the error message */
};

/* Classifies buf[0..len) (need not be NUL-terminated). Always fills m;
 * release it with jsonrpc_msg_clear(). Strings may hold NUL characters
 * (\u0000): m->method never does (such a message is JSONRPC_BAD); ids and
 * params carry them as data. Valid JSON that jansson cannot hold is
 * JSONRPC_BAD, but keeps its id when the id itself can be read. */
void jsonrpc_parse(const char *buf, size_t len, struct jsonrpc_msg *m);
void jsonrpc_msg_clear(struct jsonrpc_msg *m);

/* Replies to id (copied; NULL gives "id": null). jsonrpc_result steals
 * result. NULL only when out of memory. */
json_t *jsonrpc_result(const json_t *id, json_t *result);
json_t *jsonrpc_error(const json_t *id, int code, const char *message);
/* A notification; steals params. */
json_t *jsonrpc_notification(const char *method, json_t *params);
/* A request of the server's own (id copied); steals params. */
json_t *jsonrpc_request(const json_t *id, const char *method, json_t *params);

/* One compact line (no newline: strings escape theirs); NULL when msg
 * cannot be serialized. */
char *jsonrpc_dump(const json_t *msg, size_t *len);

/* ---- the params of the methods served ----------------------------------- */
/* Each returns 0, or -1 with a one-line reason in err (for -32602). */

/* The revision to answer initialize with: the client's when served,
 * else the latest. */
const char *mcp_negotiate_version(const char *requested);
bool mcp_version_served(const char *version);

/* initialize: protocolVersion (string), capabilities (object) and
 * clientInfo (object with a string name) are required. *version is ""
 * (served by none) when protocolVersion holds a NUL. */
int mcp_check_initialize(const json_t *params, const char **version, hutch_error *err);

/* tools/call: name (string without NUL), arguments (object; {} when absent),
 * _meta.progressToken (string or integer; NULL when absent). All
 * borrowed from params. */
struct mcp_tool_call {
    const char *name;
    const json_t *arguments;
    const json_t *progress_token;
};
int mcp_check_tool_call(const json_t *params, struct mcp_tool_call *call, hutch_error *err);

/* tools/list and other requests whose params are optional: an object or absent. */
int mcp_check_object_params(const json_t *params, hutch_error *err);

/* notifications/cancelled: the requestId (borrowed), or NULL when unusable. */
const json_t *mcp_cancelled_request(const json_t *params);

/* Log levels of logging/setLevel, as syslog's: 0 debug ... 7 emergency. */
int mcp_log_level(const char *name); /* -1 when unknown */
const char *mcp_log_level_name(int level);
int mcp_check_set_level(const json_t *params, int *level, hutch_error *err);

/* The CallToolResult for a tool result ({"ok", "text" | "error", "image"?, ...}):
 * content [text (and image)], structuredContent (the result itself) and
 * isError (!ok). Takes a reference of its own to result. */
json_t *mcp_call_result(json_t *result);

/* ---- approval through elicitation (approval.require) --------------------- */

/* True when initialize's params declare form-mode elicitation:
 * capabilities.elicitation is an object with "form", or with neither
 * "form" nor "url" (what 2025-06-18 clients send). */
bool mcp_client_can_elicit(const json_t *initialize_params);

/* The params of elicitation/create asking to approve a call: message, and
 * a form of one required boolean, approve (default false); with_mode adds
 * "mode": "form" (revision 2025-11-25). */
json_t *mcp_approval_elicitation(const char *message, bool with_mode);

/* The client's answer (the whole response message) to that request: true
 * only for action "accept" with approve true; else false, with why in
 * reason (one line). */
bool mcp_approval_answer(const json_t *response, char *reason, size_t len);

/* The HTTP transport's defence against DNS rebinding: an Origin header
 * (scheme://host[:port]) or Host header (host[:port]) naming this machine
 * by a loopback name: localhost, 127.0.0.1 or [::1]. */
bool mcp_local_origin(const char *origin);
bool mcp_local_host(const char *host);

/* True when two request ids are the same id (a string or an integer). */
bool mcp_same_id(const json_t *a, const json_t *b);

#endif
