/* Asking for approval before a tool call or command runs: through the
 * handler set with hutch_set_approval_handler(), or through a hook of the
 * call's own (the MCP server asks its client). Knows nothing of the
 * policy: callers have matched approval.require (policy/approval_rules.h)
 * and ask only when an entry did. */
#ifndef HUTCH_APPROVAL_H
#define HUTCH_APPROVAL_H

#include "hutch.h"

/* Room for a refusal's reason, as handlers get it. */
#define APPROVAL_REASON_MAX 512

/* A call's own way to ask, used instead of the process-wide handler. */
struct approval_hook {
    hutch_approval_fn *fn;
    void *ctx;
};

/* Asks about req (its size is set here): 1 when approved; 0 when not, with
 * the reason in reason (one line, never empty, without "not approved"). No
 * hook and no handler: refused, with a reason that says how to approve. */
int approval_ask(hutch_approval_request *req, const struct approval_hook *hook, char *reason,
                 size_t len);

#endif
