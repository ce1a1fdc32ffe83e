/* Calling an agent tool in a session, from the host: the one path behind
 * `hutch tool`, the C library and the MCP server. It checks the tool
 * policy (tools.allow / tools.deny), validates the arguments against the
 * tool's schema (unknown fields such as "network" or
 * "dangerouslyDisableSandbox" are refused: arguments never change the
 * sandbox policy), clamps numbers to the policy (bash timeout <=
 * limits.timeoutSeconds), makes sure the session is up, runs the tool
 * through the session's agent (or in-process for unsandboxed sessions), and
 * appends one line to the session's audit log. A call approval.require
 * names is asked about first (base/approval.h). docs/tools.md. */
#ifndef HUTCH_SESSION_TOOL_CALL_H
#define HUTCH_SESSION_TOOL_CALL_H

#include <jansson.h>
#include <stdbool.h>

#include "base/error.h"
#include "policy/policy.h"

/* The tools offered under p, in order: an array of MCP tool objects
 * {"name", "title", "description", "inputSchema" (JSON Schema 2020-12,
 * "additionalProperties": false), "annotations" {"readOnlyHint",
 * "destructiveHint", "idempotentHint", "openWorldHint"}}. Denied tools are
 * absent. */
json_t *tool_catalog(const struct hutch_policy *p);

/* True when the tool exists and the policy offers it. */
bool tool_offered(const struct hutch_policy *p, const char *name);
/* tools.allow and tools.deny alone, for any name (a harness's own tools too). */
bool tool_policy_allows(const struct hutch_policy *p, const char *name);

struct tool_call_opts {
    int content_fd;  /* write: content read from here instead of args.content; -1 */
    int cancel_fd;   /* readable (a byte) = cancel: the run is killed; -1 */
    /* Called about every second while a tool runs (MCP progress). */
    void (*progress)(void *ctx, double elapsed_ms);
    /* Asks for approval when approval.require names the call (MCP
     * elicitation); NULL: the handler of hutch_set_approval_handler(). */
    hutch_approval_fn *approve;
    void *ctx;
};

/* Runs tool `name` in session `key` under p. Returns -1 with err when the
 * call cannot be made at all: an unknown or denied tool (err.status
 * HUTCH_E_INVALID, and *unknown_tool set), or the session cannot be
 * brought up. Otherwise 0 and *result is {"ok": true, "text": ..., ...} or
 * {"ok": false, "error": "..."} (bad arguments are such a result, so that
 * the model can correct itself), plus "duration_ms". */
int tool_call(const struct hutch_policy *p, const char *key, const char *name, json_t *args,
              const struct tool_call_opts *opts, json_t **result, bool *unknown_tool,
              hutch_error *err);

#endif
