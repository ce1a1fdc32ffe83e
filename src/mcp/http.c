/* MCP's streamable HTTP transport, on 127.0.0.1 only, at /mcp, with
 * libmicrohttpd (one thread per connection: a request may wait for its
 * tool call). POST carries one JSON-RPC message: a request is answered
 * with application/json, or with a text/event-stream when notifications
 * (progress) come before the response and the client accepts a stream;
 * notifications and responses get 202. initialize opens a protocol session
 * and names it in Mcp-Session-Id, which every later request must carry
 * (404 for one that is unknown); DELETE ends it. GET is 405: hutch sends
 * nothing unasked. A request whose Origin or Host is not a loopback name
 * is refused with 403 (DNS rebinding). docs/mcp.md. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "error.h"
#include "mcp/mhd_loader.h"
#include "mcp/server.h"

/* Protocol sessions kept at once: the least recently used idle one makes
 * room for a new one (clients often end without DELETE). */
#define MAX_SESSIONS 64
#define MAX_CONNECTIONS 128

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
    bool stopping; /* new requests are refused */
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

/* A connection's current request: its body as it arrives. */
struct request {
    char *body;
    size_t len, cap;
    bool too_large;
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
    ex->len += (size_t)snprintf(ex->pending + ex->len, ex->cap - ex->len,
                                "event: message\ndata: %s\n\n", text);
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
    /* One thread per connection: waiting here holds up no one else. */
    while (ex->off == ex->len && !ex->done)
        pthread_cond_wait(&ex->cond, &ex->lock);
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
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(id + 2 * i, 3, "%02x", raw[i]);
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

/* Runs one request of session s and replies: JSON, or a stream. */
static enum MHD_Result run_request(struct http_server *h, struct MHD_Connection *conn,
                                   struct mcp_session *s, const struct jsonrpc_msg *m, bool sse_ok)
{
    struct exchange *ex = exchange_new(sse_ok);
    if (!ex)
        return MHD_NO;
    mcp_session_handle(s, m, &ex->base);
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
    char why[160];
    if (stopping(h))
        return reply_error(h, conn, 503, NULL, MCP_SERVER_ERROR, "the server is stopping");
    if (req->too_large) {
        snprintf(why, sizeof why, "invalid request: the message is larger than %zu MiB",
                 MCP_MAX_MESSAGE >> 20);
        return reply_error(h, conn, 413, NULL, JSONRPC_INVALID_REQUEST, why);
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
    jsonrpc_parse(req->body ? req->body : "", req->len, &m);
    enum MHD_Result r;
    if (m.kind == JSONRPC_BAD) {
        r = reply_error(h, conn, 400, m.id, m.code, m.why);
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
            snprintf(why, sizeof why,
                     "Bad Request: unsupported MCP-Protocol-Version %.40s (hutch serves "
                     "2025-11-25, 2025-06-18 and 2025-03-26)",
                     version);
            r = reply_error(h, conn, 400, m.id, MCP_SERVER_ERROR, why);
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
    char why[200];
    if (origin && !mcp_local_origin(origin)) {
        snprintf(why, sizeof why,
                 "Forbidden: Origin %.80s is not this machine's (DNS rebinding protection)",
                 origin);
        *r = reply_error(h, conn, 403, NULL, MCP_SERVER_ERROR, why);
        return true;
    }
    if (host && !mcp_local_host(host)) {
        snprintf(why, sizeof why,
                 "Forbidden: Host %.80s is not a loopback name (DNS rebinding protection)", host);
        *r = reply_error(h, conn, 403, NULL, MCP_SERVER_ERROR, why);
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
        snprintf(why, sizeof why, "invalid request: the message is larger than %zu MiB",
                 MCP_MAX_MESSAGE >> 20);
        *r = reply_error(h, conn, 413, NULL, JSONRPC_INVALID_REQUEST, why);
        return true;
    }
    return false;
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
        return strcmp(method, "DELETE") == 0 ? handle_delete(h, conn) : MHD_YES;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (req->too_large || req->len + n > MCP_MAX_MESSAGE) {
            /* Read and dropped: memory stays bounded whatever is sent. */
            free(req->body);
            req->body = NULL;
            req->len = req->cap = 0;
            req->too_large = true;
            return MHD_YES;
        }
        if (req->len + n + 1 > req->cap) {
            size_t cap = req->cap ? req->cap : 4096;
            while (cap < req->len + n + 1)
                cap *= 2;
            char *p = realloc(req->body, cap);
            if (!p)
                return MHD_NO;
            req->body = p;
            req->cap = cap;
        }
        memcpy(req->body + req->len, upload_data, n);
        req->len += n;
        return MHD_YES;
    }
    if (strcmp(method, "POST") != 0)
        return MHD_YES; /* DELETE was answered on the first call */
    return handle_post(h, conn, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct request *req = *con_cls;
    if (req)
        free(req->body);
    free(req);
    *con_cls = NULL;
}

/* ---- the server ------------------------------------------------------------------ */

static int listen_loopback(int port, unsigned *bound, hutch_error *err)
{
    autoclose int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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
    if (listen(fd, 64) < 0 || getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
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
    int fd = listen_loopback(port, &bound, err);
    if (fd < 0)
        return -1;
    pthread_mutex_init(&h.lock, NULL);
    struct MHD_Daemon *d = h.mhd->start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
            MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, &h, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, 600u, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, &h, MHD_OPTION_END);
    if (!d) {
        close(fd);
        pthread_mutex_destroy(&h.lock);
        return error_set(err, HUTCH_E_SYSTEM, "libmicrohttpd could not start on 127.0.0.1:%u",
                         bound);
    }
    mcp_log_stderr("serving MCP on http://127.0.0.1:%u/mcp (session %s)", bound, srv->session_key);

    struct pollfd pfd = {.fd = stop_fd, .events = POLLIN};
    while (TEMP_FAILURE_RETRY(poll(&pfd, stop_fd >= 0 ? 1 : 0, -1)) == 0)
        ;

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
    h.mhd->stop_daemon(d); /* closes the listening socket too */
    while (h.sessions) {
        struct http_session *e = h.sessions;
        h.sessions = e->next;
        mcp_session_unref(e->s);
        free(e);
    }
    pthread_mutex_destroy(&h.lock);
    return 0;
}
