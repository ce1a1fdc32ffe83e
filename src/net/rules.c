#include "net/rules.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"

/* ---- host names ---------------------------------------------------------- */

static bool is_host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

static bool is_hex_digit(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* WHATWG URL "ends in a number": a last label of digits only, or "0x"
 * followed by hex digits (even none), makes the whole name an IPv4 address
 * to a URL parser, and to inet_aton. */
static bool label_is_number(const char *label, size_t len)
{
    size_t i = 0;
    if (len >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X')) {
        for (i = 2; i < len; i++)
            if (!is_hex_digit((unsigned char)label[i]))
                return false;
        return true;
    }
    if (len == 0)
        return false;
    for (; i < len; i++)
        if (label[i] < '0' || label[i] > '9')
            return false;
    return true;
}

/* "::1", "[::1]", "[::ffff:1.2.3.4]", and also "[1.2.3.4]". */
static bool is_ipv6_literal(const char *host, size_t len)
{
    char text[INET6_ADDRSTRLEN + 8];
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof text)
        return false;
    memcpy(text, host, len);
    text[len] = '\0';
    struct in6_addr a6;
    struct in_addr a4;
    return inet_pton(AF_INET6, text, &a6) == 1 || inet_aton(text, &a4) != 0;
}

enum net_host_problem net_host_normalize(const char *host, size_t len, char out[NET_HOST_MAX + 1])
{
    out[0] = '\0';
    if (memchr(host, '\0', len))
        return NET_HOST_BAD_CHAR;
    if (memchr(host, ':', len) || (len > 0 && host[0] == '[')) {
        if (is_ipv6_literal(host, len))
            return NET_HOST_IP_LITERAL;
        return NET_HOST_BAD_CHAR;
    }
    if (len > 0 && host[len - 1] == '.')
        len--;
    if (len == 0)
        return NET_HOST_EMPTY;
    for (size_t i = 0; i < len; i++)
        if (!is_host_char((unsigned char)host[i]))
            return NET_HOST_BAD_CHAR;
    if (len > NET_HOST_MAX)
        return NET_HOST_TOO_LONG;

    const char *label = host;
    const char *end = host + len;
    const char *last_label = host;
    size_t last_len = 0;
    while (label <= end) {
        const char *dot = memchr(label, '.', (size_t)(end - label));
        if (!dot)
            dot = end;
        size_t n = (size_t)(dot - label);
        if (n == 0)
            return NET_HOST_BAD_LABEL;
        if (n > 63)
            return NET_HOST_TOO_LONG;
        if (label[0] == '-' || dot[-1] == '-')
            return NET_HOST_BAD_LABEL;
        last_label = label;
        last_len = n;
        label = dot + 1;
    }
    if (label_is_number(last_label, last_len))
        return NET_HOST_IP_LITERAL;

    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)host[i]);
    out[len] = '\0';
    /* Belt and braces: whatever the libc resolver would read as an address. */
    struct in_addr a4;
    if (inet_aton(out, &a4) != 0) {
        out[0] = '\0';
        return NET_HOST_IP_LITERAL;
    }
    return NET_HOST_OK;
}

const char *net_host_problem_text(enum net_host_problem problem)
{
    switch (problem) {
    case NET_HOST_OK:
        return "a valid host name";
    case NET_HOST_EMPTY:
        return "an empty host name";
    case NET_HOST_TOO_LONG:
        return "a host name or label that is too long";
    case NET_HOST_BAD_CHAR:
        return "a character not allowed in a host name";
    case NET_HOST_BAD_LABEL:
        return "an empty label or one that starts or ends with '-'";
    case NET_HOST_IP_LITERAL:
        return "an IP address literal";
    }
    return "an invalid host name";
}

/* ---- domain rules -------------------------------------------------------- */

bool net_domain_matches(const char *pattern, const char *host)
{
    if (strcmp(pattern, "*") == 0)
        return true;
    if (strncmp(pattern, "*.", 2) == 0) {
        const char *suffix = pattern + 1; /* ".example.com" */
        size_t sn = strlen(suffix), hn = strlen(host);
        return hn > sn && strcasecmp(host + hn - sn, suffix) == 0;
    }
    return strcasecmp(pattern, host) == 0;
}

static bool any_matches(const struct strlist *patterns, const char *host)
{
    if (!patterns)
        return false;
    for (size_t i = 0; i < patterns->len; i++)
        if (patterns->items[i] && net_domain_matches(patterns->items[i], host))
            return true;
    return false;
}

enum net_verdict net_domain_check(const struct strlist *allowed, const struct strlist *denied,
                                  const char *host)
{
    if (any_matches(denied, host))
        return NET_DENIED_BY_RULE;
    if (any_matches(allowed, host))
        return NET_ALLOWED;
    return NET_NOT_ALLOWED;
}

/* ---- addresses ----------------------------------------------------------- */

/* An address as bytes: 4 for IPv4, 16 for IPv6. sockaddrs are copied, not
 * cast: a struct sockaddr * need not be aligned for sockaddr_in6. */
struct raw_addr {
    int family;
    uint8_t b[16];
};

static bool raw_from_sockaddr(const struct sockaddr *sa, struct raw_addr *out)
{
    memset(out, 0, sizeof *out);
    out->family = sa->sa_family;
    /* The address's offset and length in its sockaddr, copied out whole. */
    if (sa->sa_family == AF_INET)
        memcpy(out->b, (const char *)sa + offsetof(struct sockaddr_in, sin_addr), 4);
    else if (sa->sa_family == AF_INET6)
        memcpy(out->b, (const char *)sa + offsetof(struct sockaddr_in6, sin6_addr), 16);
    return sa->sa_family == AF_INET || sa->sa_family == AF_INET6;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    unsigned whole = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool is_v4_mapped(const uint8_t b[16])
{
    return memcmp(b, v4_mapped_prefix, 12) == 0;
}

struct special_range {
    uint8_t addr[16];
    unsigned prefix;
    const char *kind;
};

/* First match wins: single addresses come before the ranges holding them. */
static const struct special_range special_v4[] = {
    {{169, 254, 169, 254}, 32, "cloud metadata"},
    {{255, 255, 255, 255}, 32, "broadcast"},
    {{0, 0, 0, 0}, 8, "unspecified"},
    {{10, 0, 0, 0}, 8, "private"},
    {{100, 64, 0, 0}, 10, "shared (CGNAT)"},
    {{127, 0, 0, 0}, 8, "loopback"},
    {{169, 254, 0, 0}, 16, "link-local"},
    {{172, 16, 0, 0}, 12, "private"},
    {{192, 0, 0, 0}, 24, "reserved"},
    {{192, 0, 2, 0}, 24, "documentation"},
    {{192, 168, 0, 0}, 16, "private"},
    {{198, 18, 0, 0}, 15, "reserved"},
    {{198, 51, 100, 0}, 24, "documentation"},
    {{203, 0, 113, 0}, 24, "documentation"},
    {{224, 0, 0, 0}, 4, "multicast"},
    {{240, 0, 0, 0}, 4, "reserved"},
};

static const struct special_range special_v6[] = {
    {{0}, 128, "unspecified"},
    {{[15] = 1}, 128, "loopback"},
    {{0xfd, 0x00, 0x0e, 0xc2, [14] = 0x02, 0x54}, 128, "cloud metadata"},
    {{0xfc}, 7, "unique local"},
    {{0xfe, 0x80}, 10, "link-local"},
    {{0xfe, 0xc0}, 10, "reserved"},
    {{0xff}, 8, "multicast"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "documentation"},
    {{0x01, 0x00}, 64, "reserved"},
    /* Tunnels and a translator whose IPv4 end cannot be judged from here. */
    {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48, "reserved (local NAT64)"},
    {{0x20, 0x01, 0x00, 0x00}, 32, "reserved (Teredo)"},
};

static const char *match_special(const struct special_range *table, size_t n, const uint8_t *b)
{
    for (size_t i = 0; i < n; i++)
        if (prefix_equal(table[i].addr, b, table[i].prefix))
            return table[i].kind;
    return NULL;
}

static const char *v4_special(const uint8_t b[4])
{
    return match_special(special_v4, ARRAY_SIZE(special_v4), b);
}

/* The IPv4 address an IPv6 address carries, if it is one of the forms a
 * host or a translator turns into an IPv4 connection. */
static bool v6_embedded_v4(const uint8_t b[16], uint8_t v4[4])
{
    static const uint8_t zero[12] = {0};
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    if (is_v4_mapped(b) || memcmp(b, zero, 12) == 0 || memcmp(b, nat64, 12) == 0) {
        memcpy(v4, b + 12, 4);
        return true;
    }
    if (b[0] == 0x20 && b[1] == 0x02) { /* 6to4 */
        memcpy(v4, b + 2, 4);
        return true;
    }
    return false;
}

static const char *raw_special(const struct raw_addr *a)
{
    if (a->family == AF_INET)
        return v4_special(a->b);
    /* :: and ::1 are themselves, not IPv4-compatible 0.0.0.0 and 0.0.0.1 */
    const char *kind = match_special(special_v6, ARRAY_SIZE(special_v6), a->b);
    if (kind)
        return kind;
    uint8_t v4[4];
    if (v6_embedded_v4(a->b, v4))
        return v4_special(v4);
    return NULL;
}

const char *net_address_special(const struct sockaddr *sa)
{
    struct raw_addr a;
    if (!sa || !raw_from_sockaddr(sa, &a))
        return "reserved"; /* not an IP address at all: never "public" */
    return raw_special(&a);
}

int net_cidr_parse(const char *text, struct net_cidr *out)
{
    memset(out, 0, sizeof *out);
    const char *slash = strchr(text, '/');
    size_t alen = slash ? (size_t)(slash - text) : strlen(text);
    char addr[INET6_ADDRSTRLEN + 1];
    if (alen == 0 || alen >= sizeof addr)
        return -1;
    memcpy(addr, text, alen);
    addr[alen] = '\0';
    unsigned max;
    if (inet_pton(AF_INET, addr, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    out->prefix = max;
    if (slash) {
        const char *p = slash + 1;
        size_t n = strlen(p);
        /* plain decimal only: no sign, no leading zero, no spaces */
        if (n == 0 || n > 3 || (n > 1 && p[0] == '0'))
            return -1;
        unsigned v = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i] < '0' || p[i] > '9')
                return -1;
            v = v * 10 + (unsigned)(p[i] - '0');
        }
        if (v > max)
            return -1;
        out->prefix = v;
    }
    /* Host bits below the prefix make the intent unclear: refused. */
    for (unsigned bit = out->prefix; bit < max; bit++)
        if (out->addr[bit / 8] & (0x80 >> (bit % 8)))
            return -1;
    return 0;
}

bool net_cidr_contains(const struct net_cidr *range, const struct sockaddr *sa)
{
    struct raw_addr a;
    if (!range || !sa || !raw_from_sockaddr(sa, &a))
        return false;
    if (range->family == AF_INET) {
        if (a.family == AF_INET6) {
            if (!is_v4_mapped(a.b))
                return false;
            memmove(a.b, a.b + 12, 4);
        }
        return range->prefix <= 32 && prefix_equal(range->addr, a.b, range->prefix);
    }
    if (range->family != AF_INET6 || range->prefix > 128)
        return false;
    if (a.family == AF_INET) { /* as the mapped address it is on a dual-stack socket */
        memmove(a.b + 12, a.b, 4);
        memcpy(a.b, v4_mapped_prefix, 12);
    }
    return prefix_equal(range->addr, a.b, range->prefix);
}

const char *net_address_check(const struct net_cidr *allowed, size_t n_allowed,
                              const struct sockaddr *sa)
{
    const char *kind = net_address_special(sa);
    if (!kind)
        return NULL;
    for (size_t i = 0; allowed && i < n_allowed; i++)
        if (net_cidr_contains(&allowed[i], sa))
            return NULL;
    return kind;
}

/* ---- static host mappings ------------------------------------------------ */

/* A numeric address, no prefix; written as sockaddr with port. */
static int address_to_sockaddr(const char *text, uint16_t port, struct sockaddr_storage *out,
                               socklen_t *out_len)
{
    memset(out, 0, sizeof *out);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, text, &in.sin_addr) == 1) {
        memcpy(out, &in, sizeof in);
        *out_len = sizeof in;
        return 0;
    }
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    if (inet_pton(AF_INET6, text, &in6.sin6_addr) == 1) {
        memcpy(out, &in6, sizeof in6);
        *out_len = sizeof in6;
        return 0;
    }
    return -1;
}

int net_hosts_lookup(const struct strlist *hosts, const char *host, uint16_t port,
                     struct sockaddr_storage *out, socklen_t *out_len)
{
    if (!hosts)
        return -1;
    size_t hn = strlen(host);
    for (size_t i = 0; i < hosts->len; i++) {
        const char *entry = hosts->items[i];
        const char *eq = entry ? strchr(entry, '=') : NULL;
        if (!eq || (size_t)(eq - entry) != hn || strncasecmp(entry, host, hn) != 0)
            continue;
        if (address_to_sockaddr(eq + 1, port, out, out_len) == 0)
            return 0;
    }
    return -1;
}

int norm_host_mapping(const char *in, char **out)
{
    const char *eq = strchr(in, '=');
    if (!eq)
        return -1;
    char name[NET_HOST_MAX + 1];
    if (net_host_normalize(in, (size_t)(eq - in), name) != NET_HOST_OK)
        return -1;
    struct sockaddr_storage ss;
    socklen_t ss_len;
    if (address_to_sockaddr(eq + 1, 0, &ss, &ss_len) < 0)
        return -1;
    char addr[INET6_ADDRSTRLEN];
    struct raw_addr a;
    if (!raw_from_sockaddr((const struct sockaddr *)&ss, &a) ||
        !inet_ntop(a.family, a.b, addr, sizeof addr))
        return -1;
    return asprintf(out, "%s=%s", name, addr) < 0 ? -1 : 0;
}

int norm_address_range(const char *in, char **out)
{
    struct net_cidr range;
    char addr[INET6_ADDRSTRLEN];
    if (net_cidr_parse(in, &range) < 0 || !inet_ntop(range.family, range.addr, addr, sizeof addr))
        return -1;
    return asprintf(out, "%s/%u", addr, range.prefix) < 0 ? -1 : 0;
}
