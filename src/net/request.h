/* Parsing what a sandboxed client sends the proxy: an HTTP proxy request
 * head (CONNECT, or a plain HTTP request in absolute form) or a SOCKS5
 * greeting and request. Pure: bytes in, a decision out. The proxy refuses
 * anything these parsers do not accept. */
#ifndef HUTCH_NET_REQUEST_H
#define HUTCH_NET_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hutch.h"
#include "net/rules.h"

/* A request head larger than this is refused (431). */
#define PROXY_HEAD_MAX 65536

enum proxy_kind { PROXY_CONNECT, PROXY_FORWARD };

struct proxy_request {
    enum proxy_kind kind;
    char host[NET_HOST_MAX + 1]; /* canonical (net_host_normalize) */
    uint16_t port;
    /* The target as the client wrote it, made printable (bytes outside
     * 0x21..0x7e become '?', at most 255), for logs and messages; also set
     * when the request is refused. */
    char shown[256];
    size_t head_len; /* bytes of buf the head took, up to and including the blank line */
    /* PROXY_FORWARD: the head to send upstream, malloc'd: the request line in
     * origin form ("GET /path?q HTTP/1.1"), a Host header made from the URL,
     * the client's headers minus Host, Connection, Keep-Alive,
     * Proxy-Connection, Proxy-Authorization and Upgrade, plus
     * "Connection: close", then the blank line. */
    char *forward_head;
    size_t forward_len;
};

void proxy_request_free(struct proxy_request *req);

/* Parses an HTTP proxy request head from buf (len bytes received so far).
 * Returns 1 when the head is complete and acceptable (req filled), 0 when
 * more bytes are needed (and len < PROXY_HEAD_MAX), -1 when refused: then
 * *status is the HTTP status to answer (400, 405, 431, 403 for a host
 * problem) and err (when not NULL) a short reason ("malformed request line",
 * "userinfo in the URL", "an IP address literal", ...).
 * Rules: every line ends with CRLF; no NUL, bare CR or bare LF in the head;
 * no folded header lines; header names are tokens; a request line is
 * METHOD SP TARGET SP HTTP/1.0|HTTP/1.1. CONNECT takes host:port (port
 * 1..65535 required, no brackets); other methods take http://AUTHORITY[/PATH]
 * (scheme case-insensitive; https:// in absolute form is refused, it needs
 * CONNECT), with no userinfo and port 80 by default; a fragment is dropped;
 * an empty path becomes "/". Both Content-Length and Transfer-Encoding, or
 * two different Content-Length values, are refused. */
int http_proxy_parse(const char *buf, size_t len, struct proxy_request *req, int *status,
                     hutch_error *err);

/* The SOCKS5 greeting (RFC 1928): version 5, n methods, methods. Returns the
 * bytes it took (> 0), 0 when more are needed, -1 when malformed. *no_auth
 * tells whether method 0 (no authentication) was offered. */
int socks5_parse_greeting(const unsigned char *buf, size_t len, bool *no_auth);

/* SOCKS5 reply codes */
enum {
    SOCKS5_OK = 0x00,
    SOCKS5_FAILURE = 0x01,
    SOCKS5_NOT_ALLOWED = 0x02,
    SOCKS5_NET_UNREACHABLE = 0x03,
    SOCKS5_HOST_UNREACHABLE = 0x04,
    SOCKS5_REFUSED = 0x05,
    SOCKS5_CMD_UNSUPPORTED = 0x07,
    SOCKS5_ATYP_UNSUPPORTED = 0x08,
};

/* The SOCKS5 request: 05 CMD 00 ATYP ADDR PORT. Only CONNECT (1) with a
 * domain name (ATYP 3) is accepted. Returns the bytes it took (> 0) with req
 * filled (kind PROXY_CONNECT, head_len = bytes taken), 0 when more are
 * needed, -1 when refused, with *reply the SOCKS5 code to answer
 * (CMD_UNSUPPORTED, ATYP_UNSUPPORTED for a malformed address type,
 * NOT_ALLOWED for an IP address (ATYP 1 or 4) or a host problem, FAILURE
 * when malformed) and err (when not NULL) a short reason. req->shown is set whenever an
 * address could be read. */
int socks5_parse_request(const unsigned char *buf, size_t len, struct proxy_request *req,
                         int *reply, hutch_error *err);

#endif
