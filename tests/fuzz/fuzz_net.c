/* libFuzzer target: the egress proxy's parsers on arbitrary bytes, with the
 * invariants the proxy relies on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/request.h"
#include "net/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_host(const char *host)
{
    /* what the parsers accept must be canonical: normalizing again is a no-op */
    char again[NET_HOST_MAX + 1];
    size_t n = strlen(host);
    if (n == 0 || n > NET_HOST_MAX || net_host_normalize(host, n, again) != NET_HOST_OK ||
        strcmp(host, again) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;

    char host[NET_HOST_MAX + 1];
    if (net_host_normalize(text, size, host) == NET_HOST_OK) {
        if (memchr(text, '\0', size))
            abort();
        check_host(host);
    }

    struct proxy_request req;
    int status = 0;
    hutch_error err;
    int r = http_proxy_parse(text, size, &req, &status, &err);
    if (r == 1) {
        if (req.head_len > size || req.head_len > PROXY_HEAD_MAX || req.head_len < 4 ||
            memcmp(text + req.head_len - 4, "\r\n\r\n", 4) != 0 || req.port == 0)
            abort();
        check_host(req.host);
        if (req.kind == PROXY_FORWARD) {
            if (!req.forward_head || req.forward_len < 4 ||
                strlen(req.forward_head) != req.forward_len ||
                memcmp(req.forward_head + req.forward_len - 4, "\r\n\r\n", 4) != 0 ||
                memchr(req.forward_head, '\0', req.forward_len) ||
                strstr(req.forward_head, "\r\n\r\n") != req.forward_head + req.forward_len - 4)
                abort();
        } else if (req.forward_head) {
            abort();
        }
    } else if (r == 0) {
        if (size >= PROXY_HEAD_MAX || req.forward_head)
            abort();
    } else if (r == -1) {
        if (status < 400 || status > 599 || req.forward_head || err.message[0] == '\0')
            abort();
    } else {
        abort();
    }
    if (strlen(req.shown) > 255)
        abort();
    for (const char *c = req.shown; *c; c++)
        if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e)
            abort();
    proxy_request_free(&req);
    proxy_request_free(&req);

    /* SOCKS5: a greeting, then a request from the bytes after it */
    bool no_auth;
    int g = socks5_parse_greeting(data, size, &no_auth);
    if (g > 0 && (size_t)g > size)
        abort();
    size_t off = g > 0 ? (size_t)g : 0;
    int reply = 0;
    int s = socks5_parse_request(data + off, size - off, &req, &reply, &err);
    if (s > 0) {
        if ((size_t)s > size - off || req.head_len != (size_t)s || req.port == 0 ||
            reply != SOCKS5_OK)
            abort();
        check_host(req.host);
    } else if (s == -1 && (reply == SOCKS5_OK || err.message[0] == '\0')) {
        abort();
    }
    proxy_request_free(&req);
    return 0;
}
