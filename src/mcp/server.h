/* The MCP server: what each method does, whatever the transport. One
 * server (the policy and the sandbox session that tools run in) serves any
 * number of protocol sessions (one on stdio, one per Mcp-Session-Id over
 * HTTP). A tools/call runs on a thread of its own, so that ping and
 * notifications/cancelled are answered while a long bash runs. A call
 * that approval.require names is asked about with elicitation/create;
 * the client's response is routed back to the call's thread.
 * docs/mcp.md. */
#ifndef HUTCH_MCP_SERVER_H
#define HUTCH_MCP_SERVER_H

#include <jansson.h>
#include <stdbool.h>

#include "hutch.h"
#include "mcp/jsonrpc.h"
#include "base/util.h"

/* Tool calls one protocol session may have running at once. */
#define MCP_MAX_CALLS 16

/* Where the messages about one request go. The server calls send() with
 * any notifications about the request (progress, log messages; final
 * false), then exactly once with final true: the response, or NULL when
 * the request was cancelled and gets none. It never touches the sink
 * after that. send() may be called from any thread. */
struct mcp_sink {
    void (*send)(struct mcp_sink *sink, const json_t *msg, bool final);
    /* A request of the server's (elicitation) can reach the client this
     * way before the final message: stdio; HTTP when the POST takes a
     * stream. */
    bool can_request;
};

/* How long a tool call waits for the client's answer to an approval it
 * asked for (elicitation/create) before it is refused. */
#define MCP_APPROVAL_WAIT_MS (10 * 60 * 1000)

struct mcp_server {
    const hutch_policy *policy;
    const char *session_key; /* the sandbox session tools run in */
};

struct mcp_session;

/* A protocol session: before initialize, only initialize and ping are served. */
struct mcp_session *mcp_session_new(const struct mcp_server *srv);
void mcp_session_ref(struct mcp_session *s);
/* Drops a reference; the session goes when its running calls are done too. */
void mcp_session_unref(struct mcp_session *s);

/* Handles one message from the client. Requests are answered through
 * sink (perhaps later, from a call's thread); notifications and responses
 * never use it (it may be NULL for them). */
void mcp_session_handle(struct mcp_session *s, const struct jsonrpc_msg *m, struct mcp_sink *sink);

/* Cancels every running call (their processes are killed; none is
 * answered) and returns at once. */
void mcp_session_cancel_all(struct mcp_session *s);
/* The client sends nothing more (stdio at EOF): approvals being asked
 * for are refused at once instead of waiting for an answer. */
void mcp_session_input_closed(struct mcp_session *s);
/* Waits until no call is running. */
void mcp_session_wait_idle(struct mcp_session *s);
/* True when calls are running. */
bool mcp_session_busy(struct mcp_session *s);
/* True once initialize was answered. */
bool mcp_session_initialized(struct mcp_session *s);

/* ---- transports ------------------------------------------------------------- */

/* Serves one protocol session on stdin/stdout (one JSON message per line;
 * stdout is then kept for protocol messages only: fd 1 is pointed at
 * stderr). Returns at EOF once the running calls are done, or when a byte
 * arrives on stop_fd (running calls are then cancelled). 0, or -1 with err. */
int mcp_serve_stdio(const struct mcp_server *srv, int stop_fd, hutch_error *err);

/* Serves streamable HTTP on http://127.0.0.1:PORT/mcp (0: any free port;
 * the URL is printed on stderr) until a byte arrives on stop_fd. */
int mcp_serve_http(const struct mcp_server *srv, int port, int stop_fd, hutch_error *err);

/* Logs a line as a notice ("mcp: ..."; the CLI prints it on stderr, never
 * on stdout, which is the protocol's). */
void mcp_log(const char *fmt, ...) PRINTF_LIKE(1, 2);

#endif
