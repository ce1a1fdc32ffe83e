/* MCP's stdio transport: one compact JSON-RPC message per line each way.
 * stdout carries protocol messages only, so fd 1 is pointed at stderr and
 * the messages go to a private copy of it: a stray printf anywhere cannot
 * corrupt the stream. Lines longer than MCP_MAX_MESSAGE are refused
 * without being held: the rest of such a line is read and dropped. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>

#include "base/error.h"
#include "mcp/server.h"

struct stdio_sink {
    struct mcp_sink base;
    pthread_mutex_t lock; /* one message at a time on the stream */
    int fd;
    bool broken; /* the client stopped reading */
};

static void stdio_send(struct mcp_sink *sink, const json_t *msg, bool final)
{
    (void) final;
    struct stdio_sink *out = (struct stdio_sink *)sink;
    if (!msg)
        return;
    size_t len;
    autofree char *text = jsonrpc_dump(msg, &len);
    if (!text)
        return;
    text[len] = '\n'; /* the NUL is not sent: room for the newline */
    pthread_mutex_lock(&out->lock);
    if (!out->broken && write_all(out->fd, text, len + 1) < 0) {
        out->broken = true;
        mcp_log("cannot write to stdout (%s): the client is gone", strerror(errno));
    }
    pthread_mutex_unlock(&out->lock);
}

/* One line: a message, or nothing for a blank line. */
static void handle_line(struct mcp_session *s, struct stdio_sink *out, char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    size_t start = 0;
    while (start < len && (line[start] == ' ' || line[start] == '\t'))
        start++;
    if (start == len)
        return;
    struct jsonrpc_msg m;
    jsonrpc_parse(line + start, len - start, &m);
    mcp_session_handle(s, &m, &out->base);
    jsonrpc_msg_clear(&m);
}

static void refuse_too_large(struct stdio_sink *out)
{
    char message[128];
    fmt_bounded(message, "invalid request: the message is larger than %zu MiB (one line at most)",
                MCP_MAX_MESSAGE >> 20);
    json_t *msg = jsonrpc_error(NULL, JSONRPC_INVALID_REQUEST, message);
    if (msg)
        stdio_send(&out->base, msg, true);
    json_decref(msg);
}

/* A line being read: grows up to MCP_MAX_MESSAGE, then is dropped. */
struct line_buf {
    struct bytebuf text;
    bool discarding; /* inside a line that was too long */
};

static int line_append(struct line_buf *b, const char *p, size_t n)
{
    if (b->discarding)
        return 0;
    if (b->text.len + n > MCP_MAX_MESSAGE) {
        bytebuf_clear(&b->text);
        b->discarding = true;
        return 0;
    }
    return bytebuf_append(&b->text, p, n) ? 0 : -1;
}

/* Splits what was read into lines and handles each complete one. */
static int feed(struct mcp_session *s, struct stdio_sink *out, struct line_buf *b, const char *p,
                size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t part = nl ? (size_t)(nl - p) : n;
        if (line_append(b, p, part) < 0)
            return -1;
        if (!nl)
            break;
        if (b->discarding)
            refuse_too_large(out);
        else
            handle_line(s, out, b->text.data ? b->text.data : (char *)"", b->text.len);
        b->text.len = 0;
        b->discarding = false;
        if (b->text.cap > ((size_t)1 << 20))
            bytebuf_clear(&b->text); /* not kept at the size of the largest message */
        p = nl + 1;
        n -= part + 1;
    }
    return 0;
}

static bool stop_requested(int stop_fd, int timeout_ms)
{
    if (stop_fd < 0) {
        if (timeout_ms > 0)
            poll(NULL, 0, timeout_ms);
        return false;
    }
    struct pollfd pfd = {.fd = stop_fd, .events = POLLIN};
    return TEMP_FAILURE_RETRY(poll(&pfd, 1, timeout_ms)) > 0;
}

int mcp_serve_stdio(const struct mcp_server *srv, int stop_fd, hutch_error *err)
{
    struct stdio_sink out = {.base.send = stdio_send, .base.can_request = true, .fd = -1};
    out.fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (out.fd < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
        return error_sys(err, errno, "cannot set up stdout for the protocol");
    pthread_mutex_init(&out.lock, NULL);
    struct mcp_session *s = mcp_session_new(srv);
    if (!s) {
        close(out.fd);
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    }

    struct line_buf line = {0};
    static char chunk[64 * 1024];
    bool stopped = false;
    int rc = 0;
    for (;;) {
        struct pollfd pfds[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
                                 {.fd = stop_fd, .events = POLLIN}};
        if (TEMP_FAILURE_RETRY(poll(pfds, stop_fd >= 0 ? 2 : 1, -1)) < 0) {
            rc = error_sys(err, errno, "poll on stdin");
            break;
        }
        if (stop_fd >= 0 && pfds[1].revents) {
            stopped = true;
            break;
        }
        ssize_t n = TEMP_FAILURE_RETRY(read(STDIN_FILENO, chunk, sizeof chunk));
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n < 0) {
            rc = error_sys(err, errno, "cannot read stdin");
            break;
        }
        if (n == 0) {
            /* A last message without its newline still counts. */
            if (line.discarding)
                refuse_too_large(&out);
            else if (line.text.len > 0)
                handle_line(s, &out, line.text.data, line.text.len);
            break;
        }
        if (feed(s, &out, &line, chunk, (size_t)n) < 0) {
            rc = error_set(err, HUTCH_E_SYSTEM, "out of memory reading a message");
            break;
        }
    }
    bytebuf_clear(&line.text);
    mcp_session_input_closed(s); /* no answer to an approval can come now */

    /* At EOF, running calls finish and are answered (a client that will
     * not wait sends SIGTERM: they are cancelled then). */
    while (!stopped && rc == 0 && mcp_session_busy(s))
        stopped = stop_requested(stop_fd, 200);
    if (stopped || rc < 0)
        mcp_session_cancel_all(s);
    mcp_session_wait_idle(s);
    mcp_session_unref(s);
    pthread_mutex_destroy(&out.lock);
    close(out.fd);
    return rc;
}
