#include "mcp/server.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <time.h>

#include "base/notice.h"
#include "session/tool_call.h"

/* A running tools/call. */
struct call {
    struct call *next;
    struct mcp_session *s;
    json_t *id;
    json_t *token; /* _meta.progressToken, or NULL */
    char *name;
    json_t *args;
    int cancel_r, cancel_w; /* a byte on cancel_w kills the run */
    bool cancelled;         /* under s->lock */
    double last_progress;   /* seconds; progress must grow */
    struct mcp_sink *sink;
};

/* A request of the server's to the client, waiting for its response. */
struct pending {
    struct pending *next;
    json_t *id;
    json_t *answer; /* the client's response message, once it came */
};

struct mcp_session {
    const struct mcp_server *srv;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    pthread_cond_t answered; /* a pending request was answered, or a call cancelled */
    bool can_elicit;         /* initialize declared form-mode elicitation */
    bool elicit_mode;        /* 2025-11-25: elicitation/create says "mode": "form" */
    bool input_closed;       /* nothing more comes from the client */
    struct pending *pending;
    unsigned long requests;  /* the server's request ids so far */
    int refs;
    bool initialized;
    int log_level;      /* notifications/message from this level up */
    struct call *calls; /* those that can still be cancelled */
    int active;         /* calls not yet answered: at most MCP_MAX_CALLS */
    int running;        /* calls whose thread has not ended yet */
};

void mcp_log(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vfmt_trunc(line, sizeof line, fmt, ap); /* a log line: cut on purpose */
    va_end(ap);
    notice("mcp: %s", line);
}

struct mcp_session *mcp_session_new(const struct mcp_server *srv)
{
    struct mcp_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->srv = srv;
    s->refs = 1;
    s->log_level = mcp_log_level("warning");
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->idle, NULL);
    pthread_cond_init(&s->answered, NULL);
    return s;
}

void mcp_session_ref(struct mcp_session *s)
{
    pthread_mutex_lock(&s->lock);
    s->refs++;
    pthread_mutex_unlock(&s->lock);
}

void mcp_session_unref(struct mcp_session *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&s->lock);
    if (!last)
        return;
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->idle);
    pthread_cond_destroy(&s->answered);
    free(s);
}

bool mcp_session_initialized(struct mcp_session *s)
{
    pthread_mutex_lock(&s->lock);
    bool v = s->initialized;
    pthread_mutex_unlock(&s->lock);
    return v;
}

bool mcp_session_busy(struct mcp_session *s)
{
    pthread_mutex_lock(&s->lock);
    bool v = s->running > 0;
    pthread_mutex_unlock(&s->lock);
    return v;
}

/* Sends the one final message of a request; msg NULL (out of memory)
 * still answers, with a fixed error. */
static void answer(struct mcp_sink *sink, const json_t *id, json_t *msg)
{
    if (!msg)
        msg = jsonrpc_error(id, JSONRPC_INTERNAL_ERROR, "out of memory");
    sink->send(sink, msg, true);
    json_decref(msg);
}

static void answer_error(struct mcp_sink *sink, const json_t *id, int code, const char *message)
{
    answer(sink, id, jsonrpc_error(id, code, message));
}

/* notifications/message about a call, when the client's level wants it. */
static void notify_log(struct call *c, int level, const char *text)
{
    pthread_mutex_lock(&c->s->lock);
    bool wanted = level >= c->s->log_level && !c->cancelled;
    pthread_mutex_unlock(&c->s->lock);
    if (!wanted)
        return;
    json_t *msg = jsonrpc_notification(
        "notifications/message", json_pack("{s:s,s:s,s:s}", "level", mcp_log_level_name(level),
                                           "logger", "hutch", "data", text));
    if (msg)
        c->sink->send(c->sink, msg, false);
    json_decref(msg);
}

static void on_progress(void *ctx, double elapsed_ms)
{
    struct call *c = ctx;
    if (!c->token)
        return;
    pthread_mutex_lock(&c->s->lock);
    bool cancelled = c->cancelled;
    pthread_mutex_unlock(&c->s->lock);
    /* Tenths of a second, strictly growing, as the spec asks of progress. */
    double seconds = (double)(long long)(elapsed_ms / 100.0) / 10.0;
    if (cancelled || seconds <= c->last_progress)
        return;
    c->last_progress = seconds;
    char text[128];
    fmt_trunc(text, sizeof text, "%s running for %.0f s", c->name, seconds); /* for people */
    json_t *msg = jsonrpc_notification("notifications/progress",
                                       json_pack("{s:O,s:f,s:s}", "progressToken", c->token,
                                                 "progress", seconds, "message", text));
    if (msg)
        c->sink->send(c->sink, msg, false);
    json_decref(msg);
}

/* ---- approval: elicitation/create ------------------------------------------------ */

/* Longer arguments are not shown, and so not approved (as on the CLI's
 * terminal): a question too long to read is not one to say yes to. */
#define MCP_APPROVAL_SHOWN_MAX (64 * 1024)

/* Sends notifications/cancelled for a request of ours the call gave up on. */
static void cancel_request(struct call *c, const json_t *id, const char *why)
{
    json_t *msg = jsonrpc_notification("notifications/cancelled",
                                       json_pack("{s:O,s:s}", "requestId", id, "reason", why));
    if (msg)
        c->sink->send(c->sink, msg, false);
    json_decref(msg);
}

/* Waits for the answer to p; under s->lock. The answer, or NULL with why. */
static json_t *wait_answer(struct call *c, struct pending *p, const char **why)
{
    struct mcp_session *s = c->s;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += MCP_APPROVAL_WAIT_MS / 1000;
    *why = NULL;
    while (!p->answer && !c->cancelled && !s->input_closed && !*why)
        if (pthread_cond_timedwait(&s->answered, &s->lock, &until) == ETIMEDOUT)
            *why = "timeout";
    if (p->answer)
        return json_incref(p->answer);
    if (c->cancelled)
        *why = "cancelled";
    else if (s->input_closed)
        *why = "closed";
    return NULL;
}

static void unlink_pending(struct mcp_session *s, struct pending *p)
{
    for (struct pending **q = &s->pending; *q; q = &(*q)->next)
        if (*q == p) {
            *q = p->next;
            return;
        }
}

/* The approval hook of tool_call(): asks the client with elicitation
 * (form mode, one boolean), and waits for its answer on the call's thread. */
static int ask_client(const hutch_approval_request *req, char *reason, size_t len, void *ctx)
{
    struct call *c = ctx;
    struct mcp_session *s = c->s;
    pthread_mutex_lock(&s->lock);
    bool can = s->can_elicit, with_mode = s->elicit_mode;
    unsigned long n = ++s->requests;
    pthread_mutex_unlock(&s->lock);
    if (!can || !c->sink->can_request) {
        fmt_trunc(reason, len,
                  "approval.require has \"%s\" and this MCP client cannot be asked (%s): use a "
                  "client that supports elicitation, or take the entry out of approval.require",
                  req->rule,
                  !can ? "it did not declare the elicitation capability at initialize"
                       : "its request does not accept text/event-stream");
        return HUTCH_REFUSE;
    }
    if (strlen(req->args_json) > MCP_APPROVAL_SHOWN_MAX) {
        fmt_trunc(reason, len,
                  "the call is too long to show in an approval request (its arguments are over "
                  "%d KiB), so it was not asked about",
                  MCP_APPROVAL_SHOWN_MAX / 1024);
        return HUTCH_REFUSE;
    }
    autofree char *message = NULL;
    if (asprintf(&message, "hutch: approve %s %s in session %s? (approval.require has \"%s\")",
                 req->tool, req->args_json, req->session, req->rule) < 0) {
        fmt_trunc(reason, len, "out of memory while asking for approval");
        return HUTCH_REFUSE;
    }
    char id_text[64];
    fmt_bounded(id_text, "hutch-approval-%lu", n);
    struct pending p = {.id = json_string(id_text)};
    json_t *msg = p.id ? jsonrpc_request(p.id, "elicitation/create",
                                         mcp_approval_elicitation(message, with_mode))
                       : NULL;
    if (!msg) {
        json_decref(p.id);
        fmt_trunc(reason, len, "out of memory while asking for approval");
        return HUTCH_REFUSE;
    }
    pthread_mutex_lock(&s->lock);
    p.next = s->pending;
    s->pending = &p;
    pthread_mutex_unlock(&s->lock);
    c->sink->send(c->sink, msg, false);
    json_decref(msg);

    pthread_mutex_lock(&s->lock);
    const char *why;
    json_t *answer = wait_answer(c, &p, &why);
    unlink_pending(s, &p);
    pthread_mutex_unlock(&s->lock);
    json_decref(p.answer);

    int verdict = HUTCH_REFUSE;
    if (answer) {
        verdict = mcp_approval_answer(answer, reason, len) ? HUTCH_APPROVE : HUTCH_REFUSE;
    } else if (strcmp(why, "timeout") == 0) {
        fmt_trunc(reason, len, "the MCP client did not answer within %d s",
                  MCP_APPROVAL_WAIT_MS / 1000);
        cancel_request(c, p.id, "hutch stopped waiting for an answer");
    } else if (strcmp(why, "cancelled") == 0) {
        fmt_trunc(reason, len, "the call was cancelled");
        cancel_request(c, p.id, "the tool call was cancelled");
    } else {
        fmt_trunc(reason, len, "the MCP client closed its input before it answered");
    }
    json_decref(answer);
    json_decref(p.id);
    return verdict;
}

/* A response from the client: the answer to one of our requests. */
static void handle_response(struct mcp_session *s, const struct jsonrpc_msg *m)
{
    if (!m->id || !m->root)
        return;
    pthread_mutex_lock(&s->lock);
    for (struct pending *p = s->pending; p; p = p->next)
        if (!p->answer && mcp_same_id(p->id, m->id)) {
            p->answer = json_incref(m->root);
            pthread_cond_broadcast(&s->answered);
            break;
        }
    pthread_mutex_unlock(&s->lock);
}

void mcp_session_input_closed(struct mcp_session *s)
{
    pthread_mutex_lock(&s->lock);
    s->input_closed = true;
    pthread_cond_broadcast(&s->answered);
    pthread_mutex_unlock(&s->lock);
}

static void call_free(struct call *c)
{
    json_decref(c->id);
    json_decref(c->token);
    json_decref(c->args);
    free(c->name);
    close_fd(&c->cancel_r);
    close_fd(&c->cancel_w);
    free(c);
}

static void unlink_call(struct mcp_session *s, struct call *c)
{
    for (struct call **p = &s->calls; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            return;
        }
}

static json_t *call_response(struct call *c, int rc, json_t *result, bool unknown,
                             const hutch_error *err)
{
    if (rc < 0) {
        /* Unknown and denied tools are the client's mistake; a session that
         * cannot be brought up is the server's. */
        if (!unknown)
            notify_log(c, mcp_log_level("error"), err->message);
        return jsonrpc_error(c->id, unknown ? JSONRPC_INVALID_PARAMS : JSONRPC_INTERNAL_ERROR,
                             err->message);
    }
    json_t *content = mcp_call_result(result);
    return content ? jsonrpc_result(c->id, content)
                   : jsonrpc_error(c->id, JSONRPC_INTERNAL_ERROR,
                                   "the tool's result could not be encoded");
}

static void *call_main(void *arg)
{
    struct call *c = arg;
    struct mcp_session *s = c->s;
    struct tool_call_opts opts = {.content_fd = -1,
                                  .cancel_fd = c->cancel_r,
                                  .progress = on_progress,
                                  .approve = ask_client,
                                  .ctx = c};
    json_t *result = NULL;
    bool unknown = false;
    hutch_error err = {0};
    int rc = tool_call(s->srv->policy, s->srv->session_key, c->name, c->args, &opts, &result,
                       &unknown, &err);

    /* Out of the list and the count first: once answered, the client may
     * reuse the id and start another call at once. */
    pthread_mutex_lock(&s->lock);
    bool cancelled = c->cancelled;
    unlink_call(s, c);
    s->active--;
    pthread_mutex_unlock(&s->lock);
    if (cancelled) {
        c->sink->send(c->sink, NULL, true);
    } else {
        json_t *msg = call_response(c, rc, result, unknown, &err);
        answer(c->sink, c->id, msg);
    }
    json_decref(result);

    pthread_mutex_lock(&s->lock);
    s->running--;
    pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
    call_free(c);
    mcp_session_unref(s);
    return NULL;
}

static void start_call(struct mcp_session *s, const struct jsonrpc_msg *m, struct mcp_sink *sink)
{
    struct mcp_tool_call tc;
    hutch_error err;
    if (mcp_check_tool_call(m->params, &tc, &err) < 0) {
        answer_error(sink, m->id, JSONRPC_INVALID_PARAMS, err.message);
        return;
    }
    struct call *c = calloc(1, sizeof *c);
    int fds[2] = {-1, -1};
    if (!c || pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        free(c);
        answer_error(sink, m->id, JSONRPC_INTERNAL_ERROR,
                     "cannot start the call: out of memory or file descriptors");
        return;
    }
    c->s = s;
    c->cancel_r = fds[0];
    c->cancel_w = fds[1];
    c->sink = sink;
    c->id = json_copy((json_t *)m->id);
    c->token = tc.progress_token ? json_copy((json_t *)tc.progress_token) : NULL;
    c->name = strdup(tc.name);
    c->args = tc.arguments ? json_deep_copy(tc.arguments) : json_object();
    if (!c->id || !c->name || !c->args || (tc.progress_token && !c->token)) {
        call_free(c);
        answer_error(sink, m->id, JSONRPC_INTERNAL_ERROR, "out of memory");
        return;
    }

    pthread_mutex_lock(&s->lock);
    const char *refused = NULL;
    int code = MCP_SERVER_ERROR;
    if (s->active >= MCP_MAX_CALLS)
        refused = "too many tool calls are running in this session (16): wait for one to "
                  "finish, or cancel one";
    for (struct call *o = s->calls; !refused && o; o = o->next)
        if (mcp_same_id(o->id, c->id)) {
            refused = "invalid request: a running call already has this request id";
            code = JSONRPC_INVALID_REQUEST;
        }
    if (!refused) {
        c->next = s->calls;
        s->calls = c;
        s->active++;
        s->running++;
        s->refs++;
    }
    pthread_mutex_unlock(&s->lock);
    if (refused) {
        answer_error(sink, m->id, code, refused);
        call_free(c);
        return;
    }

    if (thread_start_detached(call_main, c) != 0) {
        pthread_mutex_lock(&s->lock);
        unlink_call(s, c);
        s->active--;
        s->running--;
        s->refs--;
        pthread_cond_broadcast(&s->idle);
        pthread_mutex_unlock(&s->lock);
        answer_error(sink, m->id, JSONRPC_INTERNAL_ERROR, "cannot start a thread for the call");
        call_free(c);
    }
}

/* Marks a call cancelled and kills its run; under s->lock. */
static void cancel_locked(struct call *c)
{
    if (c->cancelled)
        return;
    c->cancelled = true;
    char byte = 1;
    (void)!write(c->cancel_w, &byte, 1);
    pthread_cond_broadcast(&c->s->answered); /* an approval it waits for */
}

void mcp_session_cancel_all(struct mcp_session *s)
{
    pthread_mutex_lock(&s->lock);
    for (struct call *c = s->calls; c; c = c->next)
        cancel_locked(c);
    pthread_mutex_unlock(&s->lock);
}

void mcp_session_wait_idle(struct mcp_session *s)
{
    pthread_mutex_lock(&s->lock);
    while (s->running > 0)
        pthread_cond_wait(&s->idle, &s->lock);
    pthread_mutex_unlock(&s->lock);
}

static void handle_notification(struct mcp_session *s, const struct jsonrpc_msg *m)
{
    if (strcmp(m->method, "notifications/cancelled") == 0) {
        /* An id no call has is one that finished already (or never was):
         * nothing to do, as the spec says. */
        const json_t *id = mcp_cancelled_request(m->params);
        pthread_mutex_lock(&s->lock);
        for (struct call *c = s->calls; id && c; c = c->next)
            if (mcp_same_id(c->id, id))
                cancel_locked(c);
        pthread_mutex_unlock(&s->lock);
    }
    /* notifications/initialized and the rest need nothing. */
}

static json_t *initialize_result(struct mcp_session *s, const char *version)
{
    char instructions[512];
    fmt_trunc(instructions, sizeof instructions,
              "The tools run in the sandbox of hutch session \"%s\": files and background "
              "processes stay between calls; /workspace is the session's workspace. Commands "
              "can do only what the sandbox's policy lets them (network, files, limits).",
              s->srv->session_key);
    return json_pack("{s:s,s:{s:{s:b},s:{}},s:{s:s,s:s,s:s},s:s}", "protocolVersion", version,
                     "capabilities", "tools", "listChanged", 0, "logging", "serverInfo", "name",
                     "hutch", "title", "hutch sandbox", "version", hutch_version(), "instructions",
                     instructions);
}

static void handle_request(struct mcp_session *s, const struct jsonrpc_msg *m,
                           struct mcp_sink *sink)
{
    hutch_error err;
    const char *method = m->method;
    if (strcmp(method, "initialize") == 0) {
        const char *version;
        if (mcp_check_initialize(m->params, &version, &err) < 0) {
            answer_error(sink, m->id, JSONRPC_INVALID_PARAMS, err.message);
            return;
        }
        const char *negotiated = mcp_negotiate_version(version);
        pthread_mutex_lock(&s->lock);
        bool again = s->initialized;
        s->initialized = true;
        if (!again) {
            s->can_elicit = mcp_client_can_elicit(m->params);
            s->elicit_mode = strcmp(negotiated, "2025-11-25") == 0;
        }
        pthread_mutex_unlock(&s->lock);
        if (again) {
            answer_error(sink, m->id, JSONRPC_INVALID_REQUEST,
                         "invalid request: the session is initialized already");
            return;
        }
        answer(sink, m->id,
               jsonrpc_result(m->id, initialize_result(s, negotiated)));
        return;
    }
    if (strcmp(method, "ping") == 0) {
        answer(sink, m->id, jsonrpc_result(m->id, json_object()));
        return;
    }
    if (!mcp_session_initialized(s)) {
        answer_error(sink, m->id, MCP_SERVER_ERROR,
                     "server not initialized: send initialize first");
        return;
    }
    if (strcmp(method, "tools/call") == 0) {
        start_call(s, m, sink);
        return;
    }
    if (strcmp(method, "tools/list") == 0) {
        if (mcp_check_object_params(m->params, &err) < 0) {
            answer_error(sink, m->id, JSONRPC_INVALID_PARAMS, err.message);
            return;
        }
        json_t *tools = tool_catalog(s->srv->policy);
        answer(sink, m->id,
               tools ? jsonrpc_result(m->id, json_pack("{s:o}", "tools", tools)) : NULL);
        return;
    }
    if (strcmp(method, "logging/setLevel") == 0) {
        int level;
        if (mcp_check_set_level(m->params, &level, &err) < 0) {
            answer_error(sink, m->id, JSONRPC_INVALID_PARAMS, err.message);
            return;
        }
        pthread_mutex_lock(&s->lock);
        s->log_level = level;
        pthread_mutex_unlock(&s->lock);
        answer(sink, m->id, jsonrpc_result(m->id, json_object()));
        return;
    }
    char message[256];
    fmt_bounded(message,
                "method not found: %.120s (hutch serves initialize, ping, tools/list, tools/call "
                "and logging/setLevel)",
                method);
    answer_error(sink, m->id, JSONRPC_METHOD_NOT_FOUND, message);
}

void mcp_session_handle(struct mcp_session *s, const struct jsonrpc_msg *m, struct mcp_sink *sink)
{
    switch (m->kind) {
    case JSONRPC_REQUEST:
        handle_request(s, m, sink);
        break;
    case JSONRPC_NOTIFICATION:
        handle_notification(s, m);
        break;
    case JSONRPC_RESPONSE:
        handle_response(s, m); /* one nothing waits for is dropped */
        break;
    case JSONRPC_BAD:
        if (sink)
            answer_error(sink, m->id, m->code, m->err.message);
        break;
    }
}

HUTCH_API int hutch_mcp_serve(const hutch_policy *p, const char *key, int port, int stop_fd,
                              hutch_error *err)
{
    hutch_error_clear(err);
    if (!p || !key)
        return error_set(err, HUTCH_E_INVALID, "hutch_mcp_serve: a policy and a key are required");
    if (port > 65535)
        return error_set(err, HUTCH_E_INVALID, "hutch_mcp_serve: %d is not a port number", port);
    struct mcp_server srv = {.policy = p, .session_key = key};
    return port >= 0 ? mcp_serve_http(&srv, port, stop_fd, err)
                     : mcp_serve_stdio(&srv, stop_fd, err);
}
