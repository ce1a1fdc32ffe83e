#include "net/request.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"
#include "base/util.h"

void proxy_request_free(struct proxy_request *req)
{
    if (!req)
        return;
    free(req->forward_head);
    req->forward_head = NULL;
    req->forward_len = 0;
}

static void set_reason(hutch_error *err, const char *text)
{
    error_set(err, HUTCH_E_INVALID, "%s", text);
}

/* Bytes outside 0x21..0x7e become '?': logs and messages stay one line. */
static void make_shown(char shown[256], const char *s, size_t n)
{
    if (n > 255)
        n = 255;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        shown[i] = c >= 0x21 && c <= 0x7e ? (char)c : '?';
    }
    shown[n] = '\0';
}

/* ---- HTTP ---------------------------------------------------------------- */

/* Reasons set *status and return the text; NULL is success. */
static const char *fail(int *status, int code, const char *reason)
{
    *status = code;
    return reason;
}

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static bool all_tchars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return n > 0;
}

static bool has_prefix_nocase(const char *s, size_t n, const char *prefix)
{
    size_t pn = strlen(prefix);
    return n >= pn && strncasecmp(s, prefix, pn) == 0;
}

static bool name_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* The end of the authority of an absolute URL: its first '/', '?' or '#'. */
static const char *authority_end(const char *s, const char *end)
{
    while (s < end && *s != '/' && *s != '?' && *s != '#')
        s++;
    return s;
}

/* shown: the target of the first line, or the authority of an absolute URL,
 * as far as it can be made out; "" when there is no target. */
static void show_target(struct proxy_request *req, const char *buf, size_t avail)
{
    const char *line_end = buf;
    while (line_end < buf + avail && *line_end != '\r' && *line_end != '\n')
        line_end++;
    const char *sp = memchr(buf, ' ', (size_t)(line_end - buf));
    if (!sp) {
        req->shown[0] = '\0';
        return;
    }
    const char *t = sp + 1;
    const char *t_end = memchr(t, ' ', (size_t)(line_end - t));
    if (!t_end)
        t_end = line_end;
    size_t n = (size_t)(t_end - t);
    /* CONNECT takes host:port: nothing to cut there */
    bool is_connect = sp - buf == 7 && memcmp(buf, "CONNECT", 7) == 0;
    const char *scheme_end = NULL;
    if (!is_connect && has_prefix_nocase(t, n, "http://"))
        scheme_end = t + 7;
    else if (!is_connect && has_prefix_nocase(t, n, "https://"))
        scheme_end = t + 8;
    if (scheme_end) {
        t = scheme_end;
        t_end = authority_end(t, t_end);
    }
    /* Credentials in a refused URL must not reach the logs. */
    const char *at = NULL;
    for (const char *c = t; c < t_end; c++)
        if (*c == '@')
            at = c;
    if (at) {
        char rest[256];
        make_shown(rest, at + 1, (size_t)(t_end - (at + 1)));
        fmt_trunc(req->shown, sizeof req->shown, "(userinfo)@%s", rest); /* for logs: cut */
        return;
    }
    make_shown(req->shown, t, (size_t)(t_end - t));
}

/* The reason the first n bytes cannot be (the start of) a request head, or
 * NULL. A CR at the very end may still get its LF. */
static const char *bad_head_byte(const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (b[i] == '\0')
            return "NUL byte in the request head";
        if (b[i] == '\r' && i + 1 < n && b[i + 1] != '\n')
            return "bare CR in the request head";
        if (b[i] == '\n' && (i == 0 || b[i - 1] != '\r'))
            return "bare LF in the request head";
    }
    return NULL;
}

/* "host:port", "host" (default_port > 0) or "[v6]:port"; the host part is
 * left for net_host_normalize to judge. */
static const char *split_authority(const char *a, size_t n, unsigned default_port,
                                   const char **host, size_t *host_len, uint16_t *port, int *status)
{
    const char *end = a + n;
    const char *colon = NULL;
    if (n > 0 && a[0] == '[' && memchr(a, ']', n)) {
        const char *close = memchr(a, ']', n);
        *host = a;
        *host_len = (size_t)(close + 1 - a);
        if (close + 1 < end) {
            if (close[1] != ':')
                return fail(status, 400, "malformed host");
            colon = close + 1;
        }
    } else {
        for (const char *c = a; c < end; c++)
            if (*c == ':')
                colon = c;
        *host = a;
        *host_len = colon ? (size_t)(colon - a) : n;
    }
    if (!colon) {
        if (default_port == 0)
            return fail(status, 400, "missing port");
        *port = (uint16_t)default_port;
        return NULL;
    }
    const char *p = colon + 1;
    size_t pn = (size_t)(end - p);
    if (pn == 0 || pn > 5)
        return fail(status, 400, "invalid port");
    unsigned v = 0;
    for (size_t i = 0; i < pn; i++) {
        if (p[i] < '0' || p[i] > '9')
            return fail(status, 400, "invalid port");
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v == 0 || v > 65535)
        return fail(status, 400, "invalid port");
    *port = (uint16_t)v;
    return NULL;
}

static const char *check_host(struct proxy_request *req, const char *host, size_t n, int *status)
{
    enum net_host_problem problem = net_host_normalize(host, n, req->host);
    if (problem != NET_HOST_OK)
        return fail(status, 403, net_host_problem_text(problem));
    return NULL;
}

/* http://AUTHORITY[/PATH][?QUERY][#FRAGMENT]: the host, the port and the
 * origin-form path (fragment dropped, "/" when empty). */
/* host[:port] of a request: no userinfo, a host the rules let through. */
static const char *parse_authority(struct proxy_request *req, const char *a, size_t n,
                                   unsigned default_port, int *status)
{
    if (memchr(a, '@', n))
        return fail(status, 403, "userinfo in the URL");
    const char *host;
    size_t host_len;
    const char *reason = split_authority(a, n, default_port, &host, &host_len, &req->port, status);
    return reason ? reason : check_host(req, host, host_len, status);
}

static const char *parse_absolute(struct proxy_request *req, const char *t, size_t n,
                                  const char **path, size_t *path_len, int *status)
{
    if (has_prefix_nocase(t, n, "https://"))
        return fail(status, 405, "https URLs need CONNECT");
    if (!has_prefix_nocase(t, n, "http://"))
        return fail(status, 400, "not an absolute http:// URL");
    const char *end = t + n;
    const char *auth = t + 7;
    const char *auth_end = authority_end(auth, end);
    size_t auth_len = (size_t)(auth_end - auth);
    const char *reason = parse_authority(req, auth, auth_len, 80, status);
    if (reason)
        return reason;
    const char *fragment = memchr(auth_end, '#', (size_t)(end - auth_end));
    *path = auth_end;
    *path_len = (size_t)((fragment ? fragment : end) - auth_end);
    return NULL;
}

static const char *parse_connect(struct proxy_request *req, const char *t, size_t n, int *status)
{
    return parse_authority(req, t, n, 0, status);
}

/* The forward head is never longer than the client's head plus a Host line
 * and "Connection: close": its capacity is fixed up front. */
struct outbuf {
    char *data;
    size_t len, cap;
    bool overflow;
};

static void put(struct outbuf *o, const char *s, size_t n)
{
    if (o->overflow || n > o->cap - o->len) {
        o->overflow = true;
        return;
    }
    memcpy(o->data + o->len, s, n);
    o->len += n;
}

static void put_str(struct outbuf *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Headers that concern this hop only, or that we write ourselves. */
static bool is_dropped_header(const char *name, size_t n)
{
    static const char *const dropped[] = {
        "Host", "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Upgrade"};
    for (size_t i = 0; i < ARRAY_SIZE(dropped); i++)
        if (name_is(name, n, dropped[i]))
            return true;
    return false;
}

/* Checks the header lines [p, end) (each ending in CRLF) and copies the kept
 * ones to out, when out is given. */
static const char *parse_headers(const char *p, const char *end, struct outbuf *out, int *status)
{
    const char *content_length = NULL;
    size_t content_length_len = 0;
    bool transfer_encoding = false;
    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (!eol)
            return fail(status, 400, "malformed header line");
        if (*p == ' ' || *p == '\t')
            return fail(status, 400, "folded header line");
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon || !all_tchars(p, (size_t)(colon - p)))
            return fail(status, 400, "malformed header line");
        size_t name_len = (size_t)(colon - p);
        const char *v = colon + 1, *v_end = eol;
        while (v < v_end && (*v == ' ' || *v == '\t'))
            v++;
        while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t'))
            v_end--;
        for (const char *c = v; c < v_end; c++)
            if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
                return fail(status, 400, "control character in a header");
        size_t v_len = (size_t)(v_end - v);
        if (name_is(p, name_len, "Content-Length")) {
            if (v_len == 0 || v_len > 18)
                return fail(status, 400, "invalid Content-Length");
            for (const char *c = v; c < v_end; c++)
                if (*c < '0' || *c > '9')
                    return fail(status, 400, "invalid Content-Length");
            if (content_length &&
                (content_length_len != v_len || memcmp(content_length, v, v_len) != 0))
                return fail(status, 400, "conflicting Content-Length headers");
            content_length = v;
            content_length_len = v_len;
        } else if (name_is(p, name_len, "Transfer-Encoding")) {
            transfer_encoding = true;
        }
        if (out && !is_dropped_header(p, name_len))
            put(out, p, (size_t)(eol + 2 - p));
        p = eol + 2;
    }
    /* Two ways to find the end of the body: a smuggling vector. */
    if (content_length && transfer_encoding)
        return fail(status, 400, "both Content-Length and Transfer-Encoding");
    return NULL;
}

static const char *parse_head(const char *head, size_t head_len, struct proxy_request *req,
                              int *status)
{
    /* Without the final CRLF, every line ends in CRLF; there is no bare CR
     * or LF and the first empty line is the last one. */
    const char *end = head + head_len - 2;
    const char *eol = memchr(head, '\r', (size_t)(end - head) + 1);
    if (!eol)
        return fail(status, 400, "malformed request line");
    const char *sp1 = memchr(head, ' ', (size_t)(eol - head));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (!sp2)
        return fail(status, 400, "malformed request line");
    const char *method = head, *target = sp1 + 1, *version = sp2 + 1;
    size_t method_len = (size_t)(sp1 - head), target_len = (size_t)(sp2 - target);
    size_t version_len = (size_t)(eol - version);
    if (!all_tchars(method, method_len) || target_len == 0)
        return fail(status, 400, "malformed request line");
    for (size_t i = 0; i < target_len; i++)
        if ((unsigned char)target[i] < 0x21 || (unsigned char)target[i] > 0x7e)
            return fail(status, 400, "malformed request line");
    if (!name_is(version, version_len, "HTTP/1.1") && !name_is(version, version_len, "HTTP/1.0"))
        return fail(status, 400, "unsupported HTTP version");
    if (memcmp(version, "HTTP/", 5) != 0) /* name_is ignores case; the version does not */
        return fail(status, 400, "unsupported HTTP version");

    const char *headers = eol + 2;
    if (method_len == 7 && memcmp(method, "CONNECT", 7) == 0) {
        req->kind = PROXY_CONNECT;
        const char *reason = parse_connect(req, target, target_len, status);
        return reason ? reason : parse_headers(headers, end, NULL, status);
    }

    req->kind = PROXY_FORWARD;
    const char *path;
    size_t path_len;
    const char *reason = parse_absolute(req, target, target_len, &path, &path_len, status);
    if (reason)
        return reason;
    struct outbuf out = {.cap = head_len + NET_HOST_MAX + 64};
    autofree char *data = out.data = malloc(out.cap + 1);
    if (!data)
        return fail(status, 500, "out of memory");
    put(&out, method, method_len);
    put_str(&out, " ");
    if (path_len == 0 || path[0] != '/')
        put_str(&out, "/");
    put(&out, path, path_len);
    put_str(&out, " ");
    put(&out, version, version_len);
    char host_line[NET_HOST_MAX + 32];
    if (req->port == 80)
        fmt_bounded(host_line, "\r\nHost: %s\r\n", req->host);
    else
        fmt_bounded(host_line, "\r\nHost: %s:%u\r\n", req->host, req->port);
    put_str(&out, host_line);
    reason = parse_headers(headers, end, &out, status);
    if (reason)
        return reason;
    put_str(&out, "Connection: close\r\n\r\n");
    if (out.overflow)
        return fail(status, 500, "request head too large to forward");
    data[out.len] = '\0';
    req->forward_head = steal_pointer(&data);
    req->forward_len = out.len;
    return NULL;
}

int http_proxy_parse(const char *buf, size_t len, struct proxy_request *req, int *status,
                     hutch_error *err)
{
    memset(req, 0, sizeof *req);
    *status = 0;
    hutch_error_clear(err);
    size_t avail = len < PROXY_HEAD_MAX ? len : PROXY_HEAD_MAX;
    show_target(req, buf, avail);
    const char *blank = avail >= 4 ? memmem(buf, avail, "\r\n\r\n", 4) : NULL;
    const char *reason;
    if (!blank) {
        if (len >= PROXY_HEAD_MAX) {
            *status = 431;
            set_reason(err, "request head too large");
            return -1;
        }
        /* No point waiting for the rest of a head that is already bad. */
        reason = bad_head_byte(buf, avail);
        if (reason) {
            *status = 400;
            set_reason(err, reason);
            return -1;
        }
        return 0;
    }
    size_t head_len = (size_t)(blank - buf) + 4;
    reason = bad_head_byte(buf, head_len);
    if (!reason)
        reason = parse_head(buf, head_len, req, status);
    else
        *status = 400;
    if (reason) {
        proxy_request_free(req);
        req->host[0] = '\0';
        req->port = 0;
        set_reason(err, reason);
        return -1;
    }
    req->head_len = head_len;
    return 1;
}

/* ---- SOCKS5 -------------------------------------------------------------- */

int socks5_parse_greeting(const unsigned char *buf, size_t len, bool *no_auth)
{
    *no_auth = false;
    if (len < 1)
        return 0;
    if (buf[0] != 5)
        return -1;
    if (len < 2)
        return 0;
    size_t n = buf[1];
    if (n == 0)
        return -1; /* offers nothing to choose from */
    if (len < 2 + n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (buf[2 + i] == 0x00)
            *no_auth = true;
    return (int)(2 + n);
}

static int socks5_refuse(int *reply, int code, hutch_error *err, const char *text)
{
    *reply = code;
    set_reason(err, text);
    return -1;
}

int socks5_parse_request(const unsigned char *buf, size_t len, struct proxy_request *req,
                         int *reply, hutch_error *err)
{
    memset(req, 0, sizeof *req);
    *reply = SOCKS5_OK;
    hutch_error_clear(err);
    if (len >= 1 && buf[0] != 5)
        return socks5_refuse(reply, SOCKS5_FAILURE, err, "not a SOCKS5 request");
    if (len >= 3 && buf[2] != 0)
        return socks5_refuse(reply, SOCKS5_FAILURE, err, "malformed SOCKS5 request");
    if (len < 4)
        return 0;
    size_t addr_off = 4, addr_len;
    switch (buf[3]) {
    case 1:
        addr_len = 4;
        break;
    case 4:
        addr_len = 16;
        break;
    case 3:
        if (len < 5)
            return 0;
        addr_off = 5;
        addr_len = buf[4];
        break;
    default:
        return socks5_refuse(reply, SOCKS5_ATYP_UNSUPPORTED, err, "unknown address type");
    }
    size_t total = addr_off + addr_len + 2;
    if (len < total)
        return 0;

    const unsigned char *addr = buf + addr_off;
    uint16_t port = (uint16_t)(buf[total - 2] << 8 | buf[total - 1]);
    char text[256];
    if (buf[3] == 3)
        make_shown(text, (const char *)addr, addr_len);
    else
        inet_ntop(buf[3] == 1 ? AF_INET : AF_INET6, addr, text, sizeof text);
    fmt_trunc(req->shown, sizeof req->shown, buf[3] == 4 ? "[%s]:%u" : "%s:%u", text, port);

    if (buf[1] != 1)
        return socks5_refuse(reply, SOCKS5_CMD_UNSUPPORTED, err,
                             "only CONNECT is supported");
    if (buf[3] != 3)
        return socks5_refuse(reply, SOCKS5_NOT_ALLOWED, err,
                             net_host_problem_text(NET_HOST_IP_LITERAL));
    enum net_host_problem problem = net_host_normalize((const char *)addr, addr_len, req->host);
    if (problem != NET_HOST_OK)
        return socks5_refuse(reply, SOCKS5_NOT_ALLOWED, err,
                             net_host_problem_text(problem));
    if (port == 0)
        return socks5_refuse(reply, SOCKS5_FAILURE, err, "port 0");
    req->kind = PROXY_CONNECT;
    req->port = port;
    req->head_len = total;
    return (int)total;
}
