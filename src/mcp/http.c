/* MCP's streamable HTTP transport, on 127.0.0.1 only, at /mcp, with
 * libmicrohttpd (one thread per connection: a request may wait for its
 * tool call). POST carries one JSON-RPC message: a request is answered
 * with application/json, or with a text/event-stream when notifications
 * (progress) come before the response and the client accepts a stream;
 * notifications and responses get 202. initialize opens a protocol session
 * and names it in Mcp-Session-Id, which every later request must carry
 * (404 for one that is unknown); DELETE ends it. GET is 405: hutch sends
 * nothing unasked. A request whose Origin or Host is not a loopback name
 * is refused with 403 (DNS rebinding).
 *
 * Connections are accepted here, not by libmicrohttpd, and handed over only
 * once their request has arrived (the headers, and a body of up to
 * SMALL_REQUEST bytes with them): a client that connects and sends nothing,
 * or trickles its headers a byte at a time (slowloris), holds an entry in a
 * table of MAX_WAITING, never a thread nor one of libmicrohttpd's
 * MAX_SERVING slots; the oldest entry makes room for a new connection, and
 * none waits longer than REQUEST_DEADLINE_MS. Larger bodies are read by
 * libmicrohttpd, MAX_LARGE_UPLOADS at once, each within LARGE_UPLOAD_MS.
 * Every response closes its connection, so that nothing idles in
 * libmicrohttpd between requests. docs/mcp.md ("Limits"). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "base/error.h"
#include "mcp/mhd_loader.h"
#include "mcp/server.h"

/* Protocol sessions kept at once: the least recently used idle one makes
 * room for a new one (clients often end without DELETE). */
#define MAX_SESSIONS 64

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

/* Connections whose request has not arrived yet. */
#define MAX_WAITING 256
/* How long a connection has, from its connect, to send its request (its
 * headers, and its body when that is small). Clients send theirs at once. */
#define REQUEST_DEADLINE_MS 10000
/* Request headers longer than this are refused (431). */
#define MAX_HEADERS 16384
/* Requests up to this size (headers and body) arrive whole before
 * libmicrohttpd sees them: well under what a loopback socket's receive
 * buffer holds unread (128 KiB by default). A body over it is a large upload. */
#define SMALL_REQUEST 32768
/* Requests libmicrohttpd serves at once (a thread each; a tool call holds
 * one until it ends); beyond, 503. Its own limit is twice that, so that it
 * never refuses one of ours silently. */
#define MAX_SERVING 128
/* Large uploads received at once (503 beyond), and how long each may take. */
#define MAX_LARGE_UPLOADS 4
#define LARGE_UPLOAD_MS 30000
/* A small body was there when the connection was handed over: it may not
 * take longer than this (it could only lag behind a request the table read
 * one way and libmicrohttpd another). */
#define SMALL_UPLOAD_MS 2000
/* libmicrohttpd closes a connection that sends or takes nothing for this
 * many seconds: before its request is read, during a large upload, and
 * while its response waits for a client that does not read. */
#define STALL_BEFORE_S 3
#define STALL_UPLOAD_S 10
#define STALL_RESPONSE_S 30
/* A stream with nothing to say sends an SSE comment this often. */
#define KEEPALIVE_S 10
/* New connections accepted per turn of the loop: those already waiting
 * are looked at first, so that a flood of new ones cannot push out one
 * whose request came in meanwhile. */
#define ACCEPT_BATCH 64

struct http_session {
    struct http_session *next;
    char id[33];
    struct mcp_session *s;
    double last_used;
};

struct http_server {
    const struct mcp_server *srv;
    const struct mhd_api *mhd;
    pthread_mutex_t lock;
    struct http_session *sessions;
    size_t n_sessions;
    bool stopping;     /* new requests are refused */
    int serving;       /* connections libmicrohttpd has */
    int large_uploads; /* of those, receiving a body over SMALL_REQUEST */
    /* One large message is parsed at a time: jansson's tree of a message
     * full of small values takes some 30 times its size. */
    pthread_mutex_t parse_lock;
};

/* The messages about one request, between the call's thread (send) and
 * the connection's thread (the HTTP reply). */
struct exchange {
    struct mcp_sink base;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int refs;      /* the connection's, and the server's until its final send */
    bool sse_ok;   /* the client accepts text/event-stream */
    bool notified; /* a notification came first: the reply is a stream */
    bool done;
    json_t *final; /* the response, for a JSON reply; NULL when cancelled */
    char *pending; /* stream text not sent yet: pending[off..len) */
    size_t off, len, cap;
};

/* A connection's request: its body as it arrives. */
struct request {
    struct bytebuf body;
    bool too_large;
    bool large;      /* holds one of the MAX_LARGE_UPLOADS */
    double deadline; /* the body must have arrived by then */
};

/* ---- exchanges ----------------------------------------------------------------- */

static void exchange_unref(struct exchange *ex)
{
    pthread_mutex_lock(&ex->lock);
    bool last = --ex->refs == 0;
    pthread_mutex_unlock(&ex->lock);
    if (!last)
        return;
    json_decref(ex->final);
    free(ex->pending);
    pthread_mutex_destroy(&ex->lock);
    pthread_cond_destroy(&ex->cond);
    free(ex);
}

/* Appends one server-sent event; under ex->lock. */
static void queue_event(struct exchange *ex, const json_t *msg)
{
    size_t n;
    autofree char *text = jsonrpc_dump(msg, &n);
    size_t need = n + 32;
    if (!text)
        return;
    if (ex->len + need > ex->cap) {
        size_t cap = ex->cap ? ex->cap : 4096;
        while (cap < ex->len + need)
            cap *= 2;
        char *p = realloc(ex->pending, cap);
        if (!p)
            return;
        ex->pending = p;
        ex->cap = cap;
    }
    /* Room was made above; an event goes whole or not at all. */
    (void)!fmt_append(ex->pending, ex->cap, &ex->len, "event: message\ndata: %s\n\n", text);
}

static void exchange_send(struct mcp_sink *sink, const json_t *msg, bool final)
{
    struct exchange *ex = (struct exchange *)sink;
    pthread_mutex_lock(&ex->lock);
    if (!final) {
        /* Without a stream there is no way to deliver it: dropped. */
        if (ex->sse_ok && msg) {
            queue_event(ex, msg);
            ex->notified = true;
        }
    } else {
        if (ex->notified && msg)
            queue_event(ex, msg);
        else if (msg)
            ex->final = json_incref((json_t *)msg);
        ex->done = true;
    }
    pthread_cond_broadcast(&ex->cond);
    pthread_mutex_unlock(&ex->lock);
    if (final)
        exchange_unref(ex);
}

static struct exchange *exchange_new(bool sse_ok)
{
    struct exchange *ex = calloc(1, sizeof *ex);
    if (!ex)
        return NULL;
    ex->base.send = exchange_send;
    ex->base.can_request = sse_ok; /* an elicitation goes on the stream */
    ex->refs = 2;
    ex->sse_ok = sse_ok;
    pthread_mutex_init(&ex->lock, NULL);
    pthread_cond_init(&ex->cond, NULL);
    return ex;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct exchange *ex = cls;
    pthread_mutex_lock(&ex->lock);
    /* One thread per connection: waiting here holds up no one else. A
     * stream silent for STALL_RESPONSE_S would be closed: while a call
     * waits (for an approval, say), a comment keeps it open. */
    while (ex->off == ex->len && !ex->done) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += KEEPALIVE_S;
        if (pthread_cond_timedwait(&ex->cond, &ex->lock, &until) == ETIMEDOUT &&
            ex->off == ex->len && !ex->done && max >= 3) {
            pthread_mutex_unlock(&ex->lock);
            memcpy(buf, ":\n\n", 3);
            return 3;
        }
    }
    ssize_t n = MHD_CONTENT_READER_END_OF_STREAM;
    if (ex->off < ex->len) {
        size_t take = ex->len - ex->off < max ? ex->len - ex->off : max;
        memcpy(buf, ex->pending + ex->off, take);
        ex->off += take;
        if (ex->off == ex->len)
            ex->off = ex->len = 0;
        n = (ssize_t)take;
    }
    pthread_mutex_unlock(&ex->lock);
    return n;
}

static void stream_free(void *cls)
{
    exchange_unref(cls);
}

/* ---- replies ------------------------------------------------------------------- */

static enum MHD_Result reply_text(struct http_server *h, struct MHD_Connection *conn,
                                  unsigned status, const char *type, const char *text, size_t len,
                                  const char *session_id)
{
    struct MHD_Response *resp =
        h->mhd->create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    if (type)
        h->mhd->add_response_header(resp, "Content-Type", type);
    if (session_id)
        h->mhd->add_response_header(resp, "Mcp-Session-Id", session_id);
    if (status == 405)
        h->mhd->add_response_header(resp, "Allow", "POST, DELETE");
    if (status == 503)
        h->mhd->add_response_header(resp, "Retry-After", "1");
    /* No connection idles in libmicrohttpd waiting for a next request. */
    h->mhd->add_response_header(resp, "Connection", "close");
    enum MHD_Result r = h->mhd->queue_response(conn, status, resp);
    h->mhd->destroy_response(resp);
    return r;
}

static enum MHD_Result reply_json(struct http_server *h, struct MHD_Connection *conn,
                                  unsigned status, const json_t *msg, const char *session_id)
{
    size_t len;
    autofree char *text = msg ? jsonrpc_dump(msg, &len) : NULL;
    if (!text)
        return MHD_NO;
    return reply_text(h, conn, status, "application/json", text, len, session_id);
}

/* An HTTP-level refusal, with a JSON-RPC error body as the SDKs send. */
static enum MHD_Result reply_error(struct http_server *h, struct MHD_Connection *conn,
                                   unsigned status, const json_t *id, int code, const char *message)
{
    json_t *msg = jsonrpc_error(id, code, message);
    enum MHD_Result r = reply_json(h, conn, status, msg, NULL);
    json_decref(msg);
    return r;
}

static const char *header(struct http_server *h, struct MHD_Connection *conn, const char *name)
{
    return h->mhd->lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* ---- protocol sessions ----------------------------------------------------------- */

/* The session with this id, with a reference for the caller; NULL when unknown. */
static struct mcp_session *session_get(struct http_server *h, const char *id)
{
    struct mcp_session *s = NULL;
    pthread_mutex_lock(&h->lock);
    for (struct http_session *e = h->sessions; e; e = e->next)
        if (strcmp(e->id, id) == 0) {
            e->last_used = monotonic_ms();
            s = e->s;
            mcp_session_ref(s);
            break;
        }
    pthread_mutex_unlock(&h->lock);
    return s;
}

/* Detaches the session with this id (the caller unrefs it); NULL when unknown. */
static struct mcp_session *session_take(struct http_server *h, const char *id)
{
    struct mcp_session *s = NULL;
    pthread_mutex_lock(&h->lock);
    for (struct http_session **p = &h->sessions; *p; p = &(*p)->next)
        if (strcmp((*p)->id, id) == 0) {
            struct http_session *e = *p;
            *p = e->next;
            h->n_sessions--;
            s = e->s;
            free(e);
            break;
        }
    pthread_mutex_unlock(&h->lock);
    return s;
}

/* Keeps s (its reference moves in) under a new id; -1 when full of busy sessions. */
static int session_add(struct http_server *h, struct mcp_session *s, char id[33])
{
    unsigned char raw[16];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return -1;
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        id[2 * i] = hex[raw[i] >> 4];
        id[2 * i + 1] = hex[raw[i] & 15];
    }
    id[2 * sizeof raw] = '\0';
    struct http_session *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    memcpy(e->id, id, 33);
    e->s = s;
    e->last_used = monotonic_ms();
    struct mcp_session *evicted = NULL;
    pthread_mutex_lock(&h->lock);
    if (h->n_sessions >= MAX_SESSIONS) {
        struct http_session **oldest = NULL;
        for (struct http_session **p = &h->sessions; *p; p = &(*p)->next)
            if (!mcp_session_busy((*p)->s) && (!oldest || (*p)->last_used < (*oldest)->last_used))
                oldest = p;
        if (oldest) {
            struct http_session *o = *oldest;
            *oldest = o->next;
            h->n_sessions--;
            evicted = o->s;
            free(o);
        }
    }
    bool room = h->n_sessions < MAX_SESSIONS;
    if (room) {
        e->next = h->sessions;
        h->sessions = e;
        h->n_sessions++;
    }
    pthread_mutex_unlock(&h->lock);
    mcp_session_unref(evicted);
    if (!room)
        free(e);
    return room ? 0 : -1;
}

/* ---- requests -------------------------------------------------------------------- */

static bool has_token(const char *list, const char *token)
{
    return list && strcasestr(list, token) != NULL;
}

static bool is_json_type(const char *type)
{
    if (!type || strncasecmp(type, "application/json", 16) != 0)
        return false;
    char next = type[16];
    return next == '\0' || next == ';' || next == ' ';
}

/* Runs one request of session s and replies: JSON, or a stream. m is
 * cleared once the request is under way: a call keeps copies of what it
 * needs, and the message is not held for as long as the call runs. */
static enum MHD_Result run_request(struct http_server *h, struct MHD_Connection *conn,
                                   struct mcp_session *s, struct jsonrpc_msg *m, bool sse_ok)
{
    struct exchange *ex = exchange_new(sse_ok);
    if (!ex)
        return MHD_NO;
    mcp_session_handle(s, m, &ex->base);
    jsonrpc_msg_clear(m);
    pthread_mutex_lock(&ex->lock);
    while (!ex->done && !ex->notified)
        pthread_cond_wait(&ex->cond, &ex->lock);
    bool stream = ex->notified;
    json_t *final = json_incref(ex->final);
    pthread_mutex_unlock(&ex->lock);

    enum MHD_Result r;
    if (stream) {
        struct MHD_Response *resp = h->mhd->create_response_from_callback(
            MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, ex, stream_free);
        if (!resp) {
            exchange_unref(ex);
            return MHD_NO;
        }
        h->mhd->add_response_header(resp, "Content-Type", "text/event-stream");
        h->mhd->add_response_header(resp, "Cache-Control", "no-cache");
        h->mhd->add_response_header(resp, "Connection", "close");
        r = h->mhd->queue_response(conn, 200, resp);
        h->mhd->destroy_response(resp); /* the stream's reference went to resp */
        return r;
    }
    /* A cancelled request gets no response: the connection is closed. */
    r = final ? reply_json(h, conn, 200, final, NULL) : MHD_NO;
    json_decref(final);
    exchange_unref(ex);
    return r;
}

static enum MHD_Result post_initialize(struct http_server *h, struct MHD_Connection *conn,
                                       const struct jsonrpc_msg *m)
{
    if (header(h, conn, "Mcp-Session-Id"))
        return reply_error(h, conn, 400, m->id, JSONRPC_INVALID_REQUEST,
                           "invalid request: initialize starts a new session; send it without "
                           "Mcp-Session-Id");
    struct mcp_session *s = mcp_session_new(h->srv);
    struct exchange *ex = s ? exchange_new(false) : NULL;
    if (!ex) {
        mcp_session_unref(s);
        return MHD_NO;
    }
    mcp_session_handle(s, m, &ex->base); /* answered at once */
    json_t *final = json_incref(ex->final);
    exchange_unref(ex);
    enum MHD_Result r;
    char id[33];
    if (!json_object_get(final, "result")) {
        r = reply_json(h, conn, 200, final, NULL);
        mcp_session_unref(s);
    } else if (session_add(h, s, id) < 0) {
        mcp_session_unref(s);
        r = reply_error(h, conn, 503, m->id, MCP_SERVER_ERROR,
                        "too many MCP sessions are busy: end one with DELETE, or try later");
    } else {
        r = reply_json(h, conn, 200, final, id);
    }
    json_decref(final);
    return r;
}

static bool stopping(struct http_server *h)
{
    pthread_mutex_lock(&h->lock);
    bool v = h->stopping;
    pthread_mutex_unlock(&h->lock);
    return v;
}

static enum MHD_Result handle_post(struct http_server *h, struct MHD_Connection *conn,
                                   struct request *req)
{
    char message[160];
    if (stopping(h))
        return reply_error(h, conn, 503, NULL, MCP_SERVER_ERROR, "the server is stopping");
    if (req->too_large) {
        fmt_bounded(message, "invalid request: the message is larger than %zu MiB",
                    MCP_MAX_MESSAGE >> 20);
        return reply_error(h, conn, 413, NULL, JSONRPC_INVALID_REQUEST, message);
    }
    if (!is_json_type(header(h, conn, "Content-Type")))
        return reply_error(h, conn, 415, NULL, MCP_SERVER_ERROR,
                           "Unsupported Media Type: Content-Type must be application/json");
    const char *accept = header(h, conn, "Accept");
    if (accept && !has_token(accept, "application/json") && !has_token(accept, "*/*") &&
        !has_token(accept, "application/*"))
        return reply_error(h, conn, 406, NULL, MCP_SERVER_ERROR,
                           "Not Acceptable: the client must accept application/json");
    bool sse_ok = has_token(accept, "text/event-stream");

    struct jsonrpc_msg m;
    bool big = req->body.len > SMALL_REQUEST;
    if (big)
        pthread_mutex_lock(&h->parse_lock);
    jsonrpc_parse(req->body.data ? req->body.data : "", req->body.len, &m);
    if (big)
        pthread_mutex_unlock(&h->parse_lock);
    /* The message is in m now: the body goes back at once. */
    bytebuf_clear(&req->body);
    enum MHD_Result r;
    if (m.kind == JSONRPC_BAD) {
        /* A request whose id can be read is answered as requests are, so
         * that a client waiting for that id gets its answer (SDKs drop the
         * body of a 400); the rest is refused with 400. Nothing runs. */
        r = reply_error(h, conn, m.id ? 200 : 400, m.id, m.code, m.err.message);
    } else if (m.kind == JSONRPC_REQUEST && strcmp(m.method, "initialize") == 0) {
        r = post_initialize(h, conn, &m);
    } else {
        const char *id = header(h, conn, "Mcp-Session-Id");
        const char *version = header(h, conn, "MCP-Protocol-Version");
        struct mcp_session *s = id ? session_get(h, id) : NULL;
        if (!id) {
            r = reply_error(h, conn, 400, m.id, MCP_SERVER_ERROR,
                            "Bad Request: Mcp-Session-Id header is required (send initialize "
                            "first)");
        } else if (!s) {
            r = reply_error(h, conn, 404, m.id, -32001,
                            "Session not found: it ended or never was; send initialize again");
        } else if (version && !mcp_version_served(version)) {
            fmt_bounded(message,
                        "Bad Request: unsupported MCP-Protocol-Version %.40s (hutch serves "
                        "2025-11-25, 2025-06-18 and 2025-03-26)",
                        version);
            r = reply_error(h, conn, 400, m.id, MCP_SERVER_ERROR, message);
        } else if (m.kind != JSONRPC_REQUEST) {
            mcp_session_handle(s, &m, NULL);
            r = reply_text(h, conn, 202, NULL, "", 0, NULL);
        } else {
            r = run_request(h, conn, s, &m, sse_ok);
        }
        mcp_session_unref(s);
    }
    jsonrpc_msg_clear(&m);
    return r;
}

static enum MHD_Result handle_delete(struct http_server *h, struct MHD_Connection *conn)
{
    if (stopping(h))
        return reply_error(h, conn, 503, NULL, MCP_SERVER_ERROR, "the server is stopping");
    const char *id = header(h, conn, "Mcp-Session-Id");
    if (!id)
        return reply_error(h, conn, 400, NULL, MCP_SERVER_ERROR,
                           "Bad Request: Mcp-Session-Id header is required");
    struct mcp_session *s = session_take(h, id);
    if (!s)
        return reply_error(h, conn, 404, NULL, -32001, "Session not found");
    /* Its running calls are killed; their requests get no response. */
    mcp_session_cancel_all(s);
    mcp_session_unref(s);
    return reply_text(h, conn, 200, NULL, "", 0, NULL);
}

/* What can be refused from the headers alone. Returns true when it replied. */
static bool refuse_early(struct http_server *h, struct MHD_Connection *conn, const char *url,
                         const char *method, enum MHD_Result *r)
{
    const char *origin = header(h, conn, "Origin");
    const char *host = header(h, conn, "Host");
    char message[200];
    if (origin && !mcp_local_origin(origin)) {
        fmt_bounded(message,
                    "Forbidden: Origin %.80s is not this machine's (DNS rebinding protection)",
                    origin);
        *r = reply_error(h, conn, 403, NULL, MCP_SERVER_ERROR, message);
        return true;
    }
    if (host && !mcp_local_host(host)) {
        fmt_bounded(message,
                    "Forbidden: Host %.80s is not a loopback name (DNS rebinding protection)",
                    host);
        *r = reply_error(h, conn, 403, NULL, MCP_SERVER_ERROR, message);
        return true;
    }
    if (strcmp(url, "/mcp") != 0) {
        static const char text[] = "not found: the MCP endpoint is /mcp\n";
        *r = reply_text(h, conn, 404, "text/plain", text, sizeof text - 1, NULL);
        return true;
    }
    if (strcmp(method, "POST") != 0 && strcmp(method, "DELETE") != 0) {
        *r = reply_error(h, conn, 405, NULL, MCP_SERVER_ERROR,
                         "Method Not Allowed: POST messages to /mcp (hutch offers no GET "
                         "stream)");
        return true;
    }
    const char *length = header(h, conn, "Content-Length");
    if (length && strtoull(length, NULL, 10) > MCP_MAX_MESSAGE) {
        fmt_bounded(message, "invalid request: the message is larger than %zu MiB",
                    MCP_MAX_MESSAGE >> 20);
        *r = reply_error(h, conn, 413, NULL, JSONRPC_INVALID_REQUEST, message);
        return true;
    }
    return false;
}

static void give_back_large(struct http_server *h, struct request *req)
{
    if (!req->large)
        return;
    req->large = false;
    pthread_mutex_lock(&h->lock);
    h->large_uploads--;
    pthread_mutex_unlock(&h->lock);
}

/* Before a POST's body is read: how long it may take, and for a large
 * one, one of the MAX_LARGE_UPLOADS (or 503). */
static enum MHD_Result start_upload(struct http_server *h, struct MHD_Connection *conn,
                                    struct request *req)
{
    const char *length = header(h, conn, "Content-Length");
    bool large = header(h, conn, "Transfer-Encoding") ||
                 (length && strtoull(length, NULL, 10) > SMALL_REQUEST);
    if (large) {
        pthread_mutex_lock(&h->lock);
        req->large = h->large_uploads < MAX_LARGE_UPLOADS;
        h->large_uploads += req->large;
        pthread_mutex_unlock(&h->lock);
        if (!req->large) {
            char message[160];
            fmt_bounded(message,
                        "the server is busy: %d requests over %d KiB are being received; retry "
                        "in a moment",
                        MAX_LARGE_UPLOADS, SMALL_REQUEST >> 10);
            return reply_error(h, conn, 503, NULL, MCP_SERVER_ERROR, message);
        }
    }
    req->deadline = monotonic_ms() + (large ? LARGE_UPLOAD_MS : SMALL_UPLOAD_MS);
    h->mhd->set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                  (unsigned)(large ? STALL_UPLOAD_S : STALL_BEFORE_S));
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct http_server *h = cls;
    struct request *req = *con_cls;
    if (!req) {
        enum MHD_Result r;
        if (refuse_early(h, conn, url, method, &r))
            return r;
        if (!(req = calloc(1, sizeof *req)))
            return MHD_NO;
        *con_cls = req;
        req->deadline = monotonic_ms() + SMALL_UPLOAD_MS;
        return strcmp(method, "DELETE") == 0 ? handle_delete(h, conn)
                                              : start_upload(h, conn, req);
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        /* A body that trickles in is cut off: the connection is closed. */
        if (monotonic_ms() > req->deadline)
            return MHD_NO;
        if (req->too_large || req->body.len + n > MCP_MAX_MESSAGE) {
            /* Read and dropped: memory stays bounded whatever is sent. */
            bytebuf_clear(&req->body);
            req->too_large = true;
            return MHD_YES;
        }
        return bytebuf_append(&req->body, upload_data, n) ? MHD_YES : MHD_NO;
    }
    if (strcmp(method, "POST") != 0)
        return MHD_YES; /* DELETE was answered on the first call */
    give_back_large(h, req);
    h->mhd->set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                  (unsigned)STALL_RESPONSE_S);
    return handle_post(h, conn, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    struct request *req = *con_cls;
    if (req) {
        give_back_large(cls, req);
        bytebuf_clear(&req->body);
    }
    free(req);
    *con_cls = NULL;
}

/* Counts libmicrohttpd's connections: every one it starts, it closes. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)conn;
    (void)socket_context;
    struct http_server *h = cls;
    pthread_mutex_lock(&h->lock);
    h->serving += code == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1;
    pthread_mutex_unlock(&h->lock);
}

/* ---- the door: connections until their request has arrived -------------------- */

struct waiting {
    struct waiting *prev, *next; /* oldest first */
    int fd;
    double since; /* when it was accepted */
    struct sockaddr_storage addr;
    socklen_t addr_len;
};

struct door {
    struct http_server *h;
    struct MHD_Daemon *d;
    int listen_fd, ep;
    struct waiting pool[MAX_WAITING];
    struct waiting *unused, *oldest, *newest;
    size_t n;
    char peek[SMALL_REQUEST + 1];
    double paused_until; /* out of file descriptors: accept again then */
    char listen_tag, stop_tag; /* their addresses tell epoll's events apart */
};

enum verdict {
    V_WAIT,      /* not all of it yet */
    V_READY,     /* hand it to libmicrohttpd */
    V_GONE,      /* closed before its request was all there: dropped */
    V_TOO_LARGE, /* headers over MAX_HEADERS: 431 */
};

/* The end of the headers in p[0..n) (after the blank line), or 0. */
static size_t headers_end(const char *p, size_t n)
{
    const char *crlf = memmem(p, n, "\r\n\r\n", 4);
    const char *lf = memmem(p, n, "\n\n", 2);
    size_t a = crlf ? (size_t)(crlf - p) + 4 : 0, b = lf ? (size_t)(lf - p) + 2 : 0;
    return a && (!b || a < b) ? a : b;
}

/* The length of the body the headers p[0..n) announce, when it is one
 * that can be waited for here; false when libmicrohttpd reads the body
 * itself (chunked, Expect: 100-continue, a length that is not plain), so
 * that it counts as a large upload there. */
static bool plain_body(const char *p, size_t n, size_t *body)
{
    *body = 0;
    bool seen = false;
    const char *line = memchr(p, '\n', n); /* after the request line */
    while (line && (size_t)(++line - p) < n) {
        size_t left = n - (size_t)(line - p);
        const char *end = memchr(line, '\n', left);
        size_t len = end ? (size_t)(end - line) : left;
        if (len && (line[0] == ' ' || line[0] == '\t'))
            return false; /* a folded header: libmicrohttpd decides */
        if (len >= 17 && strncasecmp(line, "transfer-encoding", 17) == 0)
            return false;
        if (len >= 6 && strncasecmp(line, "expect", 6) == 0)
            return false;
        if (len >= 15 && strncasecmp(line, "content-length:", 15) == 0) {
            size_t i = 15, digits = 0, v = 0;
            while (i < len && (line[i] == ' ' || line[i] == '\t'))
                i++;
            for (; i < len && line[i] >= '0' && line[i] <= '9' && digits < 9; i++, digits++)
                v = v * 10 + (size_t)(line[i] - '0');
            while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
                i++;
            if (seen || !digits || i != len)
                return false;
            seen = true;
            *body = v;
        }
        line = end;
    }
    return true;
}

/* Looks at what fd has sent so far, without taking it. */
static enum verdict examine(struct door *g, int fd)
{
    ssize_t n = recv(fd, g->peek, sizeof g->peek, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? V_WAIT : V_GONE;
    if (n == 0)
        return V_GONE;
    size_t head = headers_end(g->peek, (size_t)n);
    if (!head || head > MAX_HEADERS)
        return !head && (size_t)n < MAX_HEADERS ? V_WAIT : V_TOO_LARGE;
    size_t body;
    if (!plain_body(g->peek, head, &body) || head + body > SMALL_REQUEST)
        return V_READY; /* libmicrohttpd reads the body, as a large upload */
    return (size_t)n >= head + body ? V_READY : V_WAIT;
}

/* Answers a connection libmicrohttpd never sees, and closes it. */
static void refuse_raw(int fd, const char *status, const char *message)
{
    /* A protocol answer: whole, or none (the connection is closed anyway). */
    char body[256], text[640];
    bool whole = fmt_fits(body, sizeof body,
                          "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32000,"
                          "\"message\":\"%s\"}}",
                          message) &&
                 fmt_fits(text, sizeof text,
                          "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: "
                          "%zu\r\n%sConnection: close\r\n\r\n%s",
                          status, strlen(body),
                          strncmp(status, "503", 3) == 0 ? "Retry-After: 1\r\n" : "", body);
    /* What it sent is read first: closing on unread data would reset the
     * connection, and the client could lose the answer. */
    char sink[4096];
    for (int i = 0; i < 16 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++)
        ;
    if (whole)
        (void)!send(fd, text, strlen(text), MSG_DONTWAIT | MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    close(fd);
}

static void hand_off(struct door *g, int fd, const struct sockaddr_storage *addr, socklen_t len)
{
    pthread_mutex_lock(&g->h->lock);
    bool room = g->h->serving < MAX_SERVING;
    pthread_mutex_unlock(&g->h->lock);
    if (!room) {
        char message[128];
        fmt_bounded(message, "the server is busy: %d requests are being served; retry in a moment",
                    MAX_SERVING);
        refuse_raw(fd, "503 Service Unavailable", message);
        return;
    }
    /* libmicrohttpd owns fd from here, and closes it if it cannot take it. */
    g->h->mhd->add_connection(g->d, fd, (const struct sockaddr *)addr, len);
}

/* Takes w out of the table; its fd stays open. */
static void unlink_waiting(struct door *g, struct waiting *w)
{
    epoll_ctl(g->ep, EPOLL_CTL_DEL, w->fd, NULL);
    *(w->prev ? &w->prev->next : &g->oldest) = w->next;
    *(w->next ? &w->next->prev : &g->newest) = w->prev;
    w->next = g->unused;
    g->unused = w;
    g->n--;
}

static void drop_waiting(struct door *g, struct waiting *w)
{
    int fd = w->fd;
    unlink_waiting(g, w);
    close(fd);
}

/* Acts on a verdict about fd; the table no longer has it. */
static void decide(struct door *g, int fd, enum verdict v, const struct sockaddr_storage *addr,
                   socklen_t len)
{
    if (v == V_READY)
        hand_off(g, fd, addr, len);
    else if (v == V_TOO_LARGE)
        refuse_raw(fd, "431 Request Header Fields Too Large",
                   "the request headers are larger than " STRINGIFY(MAX_HEADERS) " bytes");
    else
        close(fd);
}

static void add_waiting(struct door *g, int fd, const struct sockaddr_storage *addr,
                        socklen_t len)
{
    if (g->n == MAX_WAITING)
        drop_waiting(g, g->oldest); /* the one that has had the longest to send */
    struct waiting *w = g->unused;
    g->unused = w->next;
    *w = (struct waiting){.prev = g->newest, .fd = fd, .since = monotonic_ms(), .addr = *addr,
                          .addr_len = len};
    *(g->newest ? &g->newest->next : &g->oldest) = w;
    g->newest = w;
    g->n++;
    /* Edge-triggered: an event for each new arrival, none for what was
     * looked at already (it stays unread until libmicrohttpd reads it). */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = w};
    if (epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        drop_waiting(g, w);
}

static void pause_accepting(struct door *g, bool pause)
{
    struct epoll_event ev = {.events = pause ? 0 : EPOLLIN, .data.ptr = &g->listen_tag};
    epoll_ctl(g->ep, EPOLL_CTL_MOD, g->listen_fd, &ev);
    g->paused_until = pause ? monotonic_ms() + 100 : 0;
}

static void accept_some(struct door *g)
{
    for (int k = 0; k < ACCEPT_BATCH; k++) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof addr;
        int fd = accept4(g->listen_fd, (struct sockaddr *)&addr, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
            continue;
        if (fd < 0 && (errno == EMFILE || errno == ENFILE) && g->oldest) {
            drop_waiting(g, g->oldest); /* its descriptor is the one to reuse */
            continue;
        }
        if (fd < 0) {
            /* Out of descriptors or memory with none to give back: a
             * pause, not a loop that spins on the waiting connection. */
            if (errno != EAGAIN)
                pause_accepting(g, true);
            return;
        }
        /* A client sends its request with its connect: it is often all
         * there already. */
        enum verdict v = examine(g, fd);
        if (v == V_WAIT)
            add_waiting(g, fd, &addr, len);
        else
            decide(g, fd, v, &addr, len);
    }
}

static struct door *door_new(struct http_server *h, int listen_fd, int stop_fd, hutch_error *err)
{
    struct door *g = calloc(1, sizeof *g);
    if (!g) {
        error_set(err, HUTCH_E_SYSTEM, "out of memory");
        return NULL;
    }
    g->h = h;
    g->listen_fd = listen_fd;
    for (size_t i = 0; i < MAX_WAITING; i++) {
        g->pool[i].next = g->unused;
        g->unused = &g->pool[i];
    }
    g->ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &g->listen_tag};
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &g->stop_tag};
    if (g->ep < 0 || epoll_ctl(g->ep, EPOLL_CTL_ADD, listen_fd, &lev) < 0 ||
        (stop_fd >= 0 && epoll_ctl(g->ep, EPOLL_CTL_ADD, stop_fd, &sev) < 0)) {
        error_sys(err, errno, "cannot set up epoll for the HTTP transport");
        if (g->ep >= 0)
            close(g->ep);
        free(g);
        return NULL;
    }
    return g;
}

static void door_free(struct door *g)
{
    while (g->oldest)
        drop_waiting(g, g->oldest);
    close(g->ep);
    free(g);
}

/* Runs until a byte arrives on stop_fd. */
static int door_run(struct door *g, hutch_error *err)
{
    struct epoll_event events[64];
    for (;;) {
        double now = monotonic_ms();
        while (g->oldest && now - g->oldest->since >= REQUEST_DEADLINE_MS)
            drop_waiting(g, g->oldest);
        if (g->paused_until && now >= g->paused_until)
            pause_accepting(g, false);
        double wake = g->oldest ? g->oldest->since + REQUEST_DEADLINE_MS : 0;
        if (g->paused_until && (!wake || g->paused_until < wake))
            wake = g->paused_until;
        int timeout = wake ? (int)(wake - now) + 1 : -1;
        int n = epoll_wait(g->ep, events, (int)ARRAY_SIZE(events), timeout);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_sys(err, errno, "epoll_wait on the HTTP transport's connections");
        bool incoming = false;
        for (int i = 0; i < n; i++) {
            void *tag = events[i].data.ptr;
            if (tag == &g->stop_tag)
                return 0;
            if (tag == &g->listen_tag) {
                incoming = true;
                continue;
            }
            struct waiting *w = tag;
            enum verdict v = examine(g, w->fd);
            if (v == V_WAIT && (events[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                v = V_GONE; /* it stopped sending before its request was whole */
            if (v == V_WAIT)
                continue;
            int fd = w->fd;
            struct sockaddr_storage addr = w->addr;
            socklen_t len = w->addr_len;
            unlink_waiting(g, w);
            decide(g, fd, v, &addr, len);
        }
        if (incoming)
            accept_some(g);
    }
}

/* ---- the server ------------------------------------------------------------------ */

/* libmicrohttpd's own messages ("closed with incomplete request", ...),
 * a few a second: a client that makes it complain must not flood stderr. */
#define LOG_PER_SECOND 5

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static double second;
    static unsigned shown, dropped;
    pthread_mutex_lock(&lock);
    double now = monotonic_ms();
    if (now - second >= 1000) {
        if (dropped)
            mcp_log("libmicrohttpd: %u more messages not shown", dropped);
        second = now;
        shown = dropped = 0;
    }
    bool show = shown < LOG_PER_SECOND;
    shown += show;
    dropped += !show;
    pthread_mutex_unlock(&lock);
    if (!show)
        return;
    char line[512];
    vfmt_trunc(line, sizeof line, fmt, ap); /* a log line: cut on purpose */
    line[strcspn(line, "\n")] = '\0';
    mcp_log("libmicrohttpd: %s", line);
}

static int listen_loopback(int port, unsigned *bound, hutch_error *err)
{
    autoclose int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return error_sys(err, errno, "cannot make a socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        return error_sys(err, errno, "cannot listen on 127.0.0.1:%d%s", port,
                         errno == EADDRINUSE ? " (the port is in use: pick another)" : "");
    socklen_t len = sizeof addr;
    /* A long backlog: connections are taken off it at once, without a thread each. */
    if (listen(fd, 1024) < 0 || getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
        return error_sys(err, errno, "cannot listen on 127.0.0.1:%d", port);
    *bound = ntohs(addr.sin_port);
    return steal_fd(&fd);
}

int mcp_serve_http(const struct mcp_server *srv, int port, int stop_fd, hutch_error *err)
{
    struct http_server h = {.srv = srv};
    if (!(h.mhd = mhd_api_load(err)))
        return -1;
    unsigned bound = 0;
    autoclose int fd = listen_loopback(port, &bound, err);
    if (fd < 0)
        return -1;
    struct door *g = door_new(&h, fd, stop_fd, err);
    if (!g)
        return -1;
    pthread_mutex_init(&h.lock, NULL);
    pthread_mutex_init(&h.parse_lock, NULL);
    struct MHD_Daemon *d = h.mhd->start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
            MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC | MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, &h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)(2 * MAX_SERVING), MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)STALL_BEFORE_S, MHD_OPTION_NOTIFY_COMPLETED, on_completed, &h,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, &h, MHD_OPTION_END);
    if (!d) {
        door_free(g);
        pthread_mutex_destroy(&h.lock);
        pthread_mutex_destroy(&h.parse_lock);
        return error_set(err, HUTCH_E_SYSTEM, "libmicrohttpd could not start on 127.0.0.1:%u",
                         bound);
    }
    g->d = d;
    mcp_log("serving MCP on http://127.0.0.1:%u/mcp (session %s)", bound, srv->session_key);

    int rc = door_run(g, err);
    /* No new connection from here: those waiting are dropped. */
    door_free(g);
    close_fd(&fd);

    /* Running calls are killed; their connections then finish. The
     * sessions are held here: connection threads may still change the list. */
    pthread_mutex_lock(&h.lock);
    h.stopping = true;
    size_t n = 0;
    struct mcp_session **all = calloc(h.n_sessions + 1, sizeof *all);
    for (struct http_session *e = h.sessions; all && e; e = e->next) {
        mcp_session_ref(e->s);
        all[n++] = e->s;
    }
    pthread_mutex_unlock(&h.lock);
    for (size_t i = 0; i < n; i++)
        mcp_session_cancel_all(all[i]);
    for (size_t i = 0; i < n; i++) {
        mcp_session_wait_idle(all[i]);
        mcp_session_unref(all[i]);
    }
    free(all);
    h.mhd->stop_daemon(d);
    while (h.sessions) {
        struct http_session *e = h.sessions;
        h.sessions = e->next;
        mcp_session_unref(e->s);
        free(e);
    }
    pthread_mutex_destroy(&h.lock);
    pthread_mutex_destroy(&h.parse_lock);
    return rc;
}
