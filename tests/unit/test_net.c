#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "net/request.h"
#include "net/rules.h"
#include "base/strlist.h"
#include "tap.h"
#include "base/util.h"

/* ---- host names ---------------------------------------------------------- */

static void host_ok_n(const char *in, size_t len, const char *want)
{
    char out[NET_HOST_MAX + 1];
    enum net_host_problem p = net_host_normalize(in, len, out);
    CHECK(p == NET_HOST_OK && strcmp(out, want) == 0,
          "host \"%.*s\" -> \"%s\" (problem %d, got \"%s\")", (int)len, in, want, p, out);
}

static void host_ok(const char *in, const char *want)
{
    host_ok_n(in, strlen(in), want);
}

static void host_bad_n(const char *in, size_t len, enum net_host_problem want, const char *label)
{
    char out[NET_HOST_MAX + 1];
    enum net_host_problem p = net_host_normalize(in, len, out);
    CHECK(p == want, "host %s is refused as %s (got %d)", label, net_host_problem_text(want), p);
}

static void host_bad(const char *in, enum net_host_problem want)
{
    char label[300];
    snprintf(label, sizeof label, "\"%s\"", in);
    host_bad_n(in, strlen(in), want, label);
}

static void test_hosts(void)
{
    host_ok("example.com", "example.com");
    host_ok("Example.COM", "example.com");
    host_ok("example.com.", "example.com");
    host_ok("localhost", "localhost");
    host_ok("a_b.example-1.com", "a_b.example-1.com");
    host_ok("1.2.3.example", "1.2.3.example");
    host_ok("0x7f.example", "0x7f.example");
    host_ok("x.0x7g", "x.0x7g"); /* not a hex number */
    host_ok("1e100.net", "1e100.net");
    host_ok_n("example.com\0evil", 11, "example.com");

    /* IP literals in every form a resolver or URL parser accepts */
    host_bad("127.0.0.1", NET_HOST_IP_LITERAL);
    host_bad("127.0.0.1.", NET_HOST_IP_LITERAL);
    host_bad("0x7f.1", NET_HOST_IP_LITERAL);
    host_bad("0x7f.0.0.1", NET_HOST_IP_LITERAL);
    host_bad("0X7F.0.0.1", NET_HOST_IP_LITERAL);
    host_bad("0177.0.0.1", NET_HOST_IP_LITERAL);
    host_bad("2130706433", NET_HOST_IP_LITERAL);
    host_bad("017700000001", NET_HOST_IP_LITERAL);
    host_bad("0x7f000001", NET_HOST_IP_LITERAL);
    host_bad("127.1", NET_HOST_IP_LITERAL);
    host_bad("10.1.1", NET_HOST_IP_LITERAL);
    host_bad("0x7f", NET_HOST_IP_LITERAL);
    host_bad("0x", NET_HOST_IP_LITERAL);
    host_bad("example.0x7f", NET_HOST_IP_LITERAL);
    host_bad("example.123", NET_HOST_IP_LITERAL);
    host_bad("999.999.999.999", NET_HOST_IP_LITERAL);
    host_bad("[::1]", NET_HOST_IP_LITERAL);
    host_bad("::1", NET_HOST_IP_LITERAL);
    host_bad("[::ffff:127.0.0.1]", NET_HOST_IP_LITERAL);
    host_bad("::ffff:127.0.0.1", NET_HOST_IP_LITERAL);
    host_bad("fe80::1", NET_HOST_IP_LITERAL);
    host_bad("[fe80::1%eth0]", NET_HOST_BAD_CHAR);
    host_bad("[::1", NET_HOST_BAD_CHAR);
    host_bad("[example.com]", NET_HOST_BAD_CHAR);

    /* bytes that are not host name characters */
    host_bad_n("example.com\0", 12, NET_HOST_BAD_CHAR, "\"example.com\\0\"");
    host_bad_n("evil.com\0.allowed.com", 21, NET_HOST_BAD_CHAR, "with a NUL in the middle");
    host_bad_n("\0", 1, NET_HOST_BAD_CHAR, "\"\\0\"");
    host_bad("allowed.com@evil.com", NET_HOST_BAD_CHAR);
    host_bad("a.com%40evil.com", NET_HOST_BAD_CHAR);
    host_bad("example.com:80", NET_HOST_BAD_CHAR);
    host_bad("a/b", NET_HOST_BAD_CHAR);
    host_bad("a b", NET_HOST_BAD_CHAR);
    host_bad("*.example.com", NET_HOST_BAD_CHAR);
    host_bad("exämple.com", NET_HOST_BAD_CHAR);
    host_bad("a\\b.com", NET_HOST_BAD_CHAR);

    host_bad("", NET_HOST_EMPTY);
    host_bad(".", NET_HOST_EMPTY);
    host_bad("a..b", NET_HOST_BAD_LABEL);
    host_bad(".a", NET_HOST_BAD_LABEL);
    host_bad("a.com..", NET_HOST_BAD_LABEL);
    host_bad("-a.com", NET_HOST_BAD_LABEL);
    host_bad("a-.com", NET_HOST_BAD_LABEL);
    host_bad("a.-com", NET_HOST_BAD_LABEL);

    char long_label[80];
    memset(long_label, 'a', 64);
    strcpy(long_label + 64, ".com");
    host_bad(long_label, NET_HOST_TOO_LONG);
    long_label[1] = '.'; /* "a." + 62 a's: fine */
    host_ok_n(long_label, 68, long_label);

    char name[300];
    size_t n = 0;
    while (n + 10 <= 253) {
        memcpy(name + n, "abcdefghi.", 10);
        n += 10;
    }
    memcpy(name + n, "com", 3); /* 250 + 3 = 253 bytes */
    name[253] = '\0';
    host_ok(name, name);
    char want[300];
    memcpy(want, name, 254);
    name[253] = '.'; /* a trailing dot does not count */
    name[254] = '\0';
    host_ok_n(name, 254, want);
    memcpy(name + 253, "x", 2); /* "...comx": 254 bytes */
    host_bad(name, NET_HOST_TOO_LONG);

    CHECK_STR(net_host_problem_text(NET_HOST_IP_LITERAL), "an IP address literal",
              "problem text for an IP literal");
}

/* ---- domain rules -------------------------------------------------------- */

static void test_domains(void)
{
    CHECK(net_domain_matches("example.com", "example.com"), "exact name matches");
    CHECK(!net_domain_matches("example.com", "a.example.com"), "exact name does not match below");
    CHECK(!net_domain_matches("example.com", "badexample.com"), "exact name is not a suffix");
    CHECK(net_domain_matches("*.example.com", "a.example.com"), "wildcard matches one level");
    CHECK(net_domain_matches("*.example.com", "a.b.example.com"), "wildcard matches deeper");
    CHECK(!net_domain_matches("*.example.com", "example.com"), "wildcard does not match the apex");
    CHECK(!net_domain_matches("*.example.com", "badexample.com"), "wildcard needs a dot boundary");
    CHECK(!net_domain_matches("*.example.com", "example.com.evil.com"),
          "wildcard is a suffix, not a prefix");
    CHECK(!net_domain_matches("*.example.com", ".example.com"), "wildcard needs a label");

    autostrlist struct strlist allowed = {0};
    autostrlist struct strlist denied = {0};
    strlist_push(&allowed, "*.example.com");
    strlist_push(&allowed, "example.org");
    strlist_push(&denied, "secret.example.com");
    strlist_push(&denied, "*.internal.example.com");
    CHECK(net_domain_check(&allowed, &denied, "www.example.com") == NET_ALLOWED,
          "allowed by wildcard");
    CHECK(net_domain_check(&allowed, &denied, "example.org") == NET_ALLOWED, "allowed exactly");
    CHECK(net_domain_check(&allowed, &denied, "example.com") == NET_NOT_ALLOWED,
          "apex not allowed by wildcard");
    CHECK(net_domain_check(&allowed, &denied, "www.example.org") == NET_NOT_ALLOWED,
          "below an exact name not allowed");
    CHECK(net_domain_check(&allowed, &denied, "secret.example.com") == NET_DENIED_BY_RULE,
          "deny wins over allow");
    CHECK(net_domain_check(&allowed, &denied, "a.internal.example.com") == NET_DENIED_BY_RULE,
          "deny wildcard wins");
    CHECK(net_domain_check(&allowed, &denied, "evil.com") == NET_NOT_ALLOWED, "other names");
    struct strlist empty = {0};
    CHECK(net_domain_check(&empty, &empty, "example.com") == NET_NOT_ALLOWED,
          "empty lists allow nothing");
    CHECK(net_domain_check(&empty, &denied, "secret.example.com") == NET_DENIED_BY_RULE,
          "denied without allow list");
}

/* ---- addresses ----------------------------------------------------------- */

static struct sockaddr_storage addr(const char *text, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    if (inet_pton(AF_INET, text, &in.sin_addr) == 1)
        memcpy(&ss, &in, sizeof in);
    else if (inet_pton(AF_INET6, text, &in6.sin6_addr) == 1)
        memcpy(&ss, &in6, sizeof in6);
    else
        abort();
    return ss;
}

static void special(const char *text, const char *want)
{
    struct sockaddr_storage ss = addr(text, 443);
    const char *got = net_address_special((const struct sockaddr *)&ss);
    if (want)
        CHECK_STR(got, want, "%s is %s", text, want);
    else
        CHECK(got == NULL, "%s is public (got %s)", text, got ? got : "public");
}

static void test_special(void)
{
    special("0.0.0.0", "unspecified");
    special("0.255.255.255", "unspecified");
    special("1.0.0.0", NULL);
    special("9.255.255.255", NULL);
    special("10.0.0.0", "private");
    special("10.255.255.255", "private");
    special("11.0.0.0", NULL);
    special("100.63.255.255", NULL);
    special("100.64.0.0", "shared (CGNAT)");
    special("100.127.255.255", "shared (CGNAT)");
    special("100.128.0.0", NULL);
    special("126.255.255.255", NULL);
    special("127.0.0.1", "loopback");
    special("127.255.255.254", "loopback");
    special("128.0.0.0", NULL);
    special("169.254.169.254", "cloud metadata");
    special("169.254.169.253", "link-local");
    special("169.254.0.1", "link-local");
    special("169.253.255.255", NULL);
    special("169.255.0.0", NULL);
    special("172.15.255.255", NULL);
    special("172.16.0.0", "private");
    special("172.31.255.255", "private");
    special("172.32.0.0", NULL);
    special("192.0.0.1", "reserved");
    special("192.0.1.0", NULL);
    special("192.0.2.1", "documentation");
    special("192.0.3.0", NULL);
    special("192.167.255.255", NULL);
    special("192.168.1.1", "private");
    special("192.169.0.0", NULL);
    special("198.17.255.255", NULL);
    special("198.18.0.0", "reserved");
    special("198.19.255.255", "reserved");
    special("198.20.0.0", NULL);
    special("198.51.99.255", NULL);
    special("198.51.100.7", "documentation");
    special("198.51.101.0", NULL);
    special("203.0.112.255", NULL);
    special("203.0.113.9", "documentation");
    special("203.0.114.0", NULL);
    special("223.255.255.255", NULL);
    special("224.0.0.1", "multicast");
    special("239.255.255.255", "multicast");
    special("240.0.0.1", "reserved");
    special("255.255.255.254", "reserved");
    special("255.255.255.255", "broadcast");
    special("8.8.8.8", NULL);
    special("1.1.1.1", NULL);

    special("::", "unspecified");
    special("::1", "loopback");
    special("::2", "unspecified"); /* IPv4-compatible 0.0.0.2 */
    special("fd00:ec2::254", "cloud metadata");
    special("64:ff9b:1::a00:1", "reserved (local NAT64)");
    special("2001:0:4136:e378:8000:63bf:3fff:fdd2", "reserved (Teredo)");
    special("2001:4860::8888", NULL);
    special("fd00:ec2::253", "unique local");
    special("fc00::", "unique local");
    special("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "unique local");
    special("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL);
    special("fe00::", NULL);
    special("fe80::1", "link-local");
    special("febf:ffff::1", "link-local");
    special("fec0::1", "reserved");
    special("feff::1", "reserved");
    special("ff02::1", "multicast");
    special("ff00::", "multicast");
    special("2001:db8::1", "documentation");
    special("2001:db8:ffff::1", "documentation");
    special("2001:db9::1", NULL);
    special("2001:db7:ffff::1", NULL);
    special("100::1", "reserved");
    special("100::ffff:ffff:ffff:ffff", "reserved");
    special("100:0:0:1::", NULL);
    special("2606:4700:4700::1111", NULL);

    /* IPv6 forms that carry an IPv4 address */
    special("::ffff:127.0.0.1", "loopback");
    special("::ffff:10.1.2.3", "private");
    special("::ffff:169.254.169.254", "cloud metadata");
    special("::ffff:8.8.8.8", NULL);
    special("::127.0.0.1", "loopback");
    special("::8.8.8.8", NULL);
    special("64:ff9b::127.0.0.1", "loopback");
    special("64:ff9b::192.168.0.1", "private");
    special("64:ff9b::8.8.8.8", NULL);
    special("64:ff9b:0:0:0:1:7f00:1", NULL); /* outside the /96 */
    special("2002:7f00:1::", "loopback");
    special("2002:a9fe:a9fe::1", "cloud metadata");
    special("2002:0808:0808::1", NULL);
    special("2003:7f00:1::", NULL);
    special("::fffe:127.0.0.1", NULL); /* neither mapped nor compatible */
}

static void cidr_ok(const char *text, const char *canonical)
{
    autofree char *out = NULL;
    int r = norm_address_range(text, &out);
    CHECK(r == 0 && out && strcmp(out, canonical) == 0, "range \"%s\" -> \"%s\" (got \"%s\")", text,
          canonical, out ? out : "(refused)");
}

static void cidr_bad(const char *text)
{
    struct net_cidr c;
    autofree char *out = NULL;
    CHECK(net_cidr_parse(text, &c) < 0 && norm_address_range(text, &out) < 0,
          "range \"%s\" is refused", text);
}

static bool contains(const char *range, const char *address)
{
    struct net_cidr c;
    if (net_cidr_parse(range, &c) < 0)
        abort();
    struct sockaddr_storage ss = addr(address, 80);
    return net_cidr_contains(&c, (const struct sockaddr *)&ss);
}

static void test_cidr(void)
{
    struct net_cidr c;
    CHECK(net_cidr_parse("10.0.0.0/8", &c) == 0 && c.family == AF_INET && c.prefix == 8 &&
              c.addr[0] == 10,
          "10.0.0.0/8 parses");
    CHECK(net_cidr_parse("127.0.0.1", &c) == 0 && c.prefix == 32, "a single IPv4 is /32");
    CHECK(net_cidr_parse("::1", &c) == 0 && c.family == AF_INET6 && c.prefix == 128,
          "a single IPv6 is /128");
    cidr_ok("10.0.0.0/8", "10.0.0.0/8");
    cidr_ok("127.0.0.1", "127.0.0.1/32");
    cidr_ok("0.0.0.0/0", "0.0.0.0/0");
    cidr_ok("FD00::/8", "fd00::/8");
    cidr_ok("::1", "::1/128");
    cidr_ok("fd00:0:0::/16", "fd00::/16");
    cidr_ok("::/0", "::/0");
    cidr_bad("10.0.0.1/8");
    cidr_bad("1.2.3.4/33");
    cidr_bad("::1/129");
    cidr_bad("fd00::1/8");
    cidr_bad("");
    cidr_bad("/8");
    cidr_bad("10.0.0.0/");
    cidr_bad("10.0.0.0/08");
    cidr_bad("10.0.0.0/+8");
    cidr_bad("10.0.0.0/8 ");
    cidr_bad("10.0.0.0/8/8");
    cidr_bad("10.0.0.0/-1");
    cidr_bad("127.1");
    cidr_bad("0x7f.0.0.1");
    cidr_bad("example.com");
    cidr_bad("fe80::1%eth0");

    CHECK(contains("10.0.0.0/8", "10.1.2.3"), "10/8 contains 10.1.2.3");
    CHECK(!contains("10.0.0.0/8", "11.0.0.0"), "10/8 does not contain 11.0.0.0");
    CHECK(contains("172.16.0.0/12", "172.31.255.255"), "172.16/12 contains its last address");
    CHECK(!contains("172.16.0.0/12", "172.32.0.0"), "172.16/12 ends there");
    CHECK(contains("127.0.0.1", "127.0.0.1"), "/32 contains itself");
    CHECK(!contains("127.0.0.1", "127.0.0.2"), "/32 only itself");
    CHECK(contains("0.0.0.0/0", "8.8.8.8"), "/0 contains everything IPv4");
    CHECK(contains("10.0.0.0/8", "::ffff:10.9.9.9"), "IPv4 range contains a mapped IPv6 inside it");
    CHECK(!contains("10.0.0.0/8", "::ffff:11.9.9.9"), "IPv4 range: mapped IPv6 outside it");
    CHECK(!contains("10.0.0.0/8", "::10.9.9.9"), "IPv4 range: compatible IPv6 is not mapped");
    CHECK(!contains("0.0.0.0/0", "::1"), "IPv4 range never contains plain IPv6");
    CHECK(contains("fd00::/8", "fd12::1"), "fd00::/8 contains fd12::1");
    CHECK(!contains("fd00::/8", "fe00::1"), "fd00::/8 does not contain fe00::1");
    CHECK(contains("::1", "::1"), "::1/128 contains itself");
    CHECK(!contains("::1", "127.0.0.1"), "IPv6 loopback does not contain IPv4 loopback");
    CHECK(contains("::ffff:0:0/96", "192.168.1.1"), "the mapped IPv6 range contains IPv4");

    struct net_cidr allowed[2];
    net_cidr_parse("192.168.1.0/24", &allowed[0]);
    net_cidr_parse("::1", &allowed[1]);
    struct sockaddr_storage ss = addr("192.168.1.5", 80);
    CHECK(net_address_check(allowed, 2, (const struct sockaddr *)&ss) == NULL,
          "a private address inside an allowed range is reachable");
    ss = addr("::ffff:192.168.1.5", 80);
    CHECK(net_address_check(allowed, 2, (const struct sockaddr *)&ss) == NULL,
          "so is its mapped form");
    ss = addr("192.168.2.5", 80);
    CHECK_STR(net_address_check(allowed, 2, (const struct sockaddr *)&ss), "private",
              "a private address outside the ranges is not");
    ss = addr("::1", 80);
    CHECK(net_address_check(allowed, 2, (const struct sockaddr *)&ss) == NULL, "::1 allowed");
    ss = addr("127.0.0.1", 80);
    CHECK_STR(net_address_check(allowed, 2, (const struct sockaddr *)&ss), "loopback",
              "127.0.0.1 not allowed by ::1");
    ss = addr("8.8.8.8", 80);
    CHECK(net_address_check(NULL, 0, (const struct sockaddr *)&ss) == NULL,
          "a public address needs no range");
    struct sockaddr unix_sa = {.sa_family = AF_UNIX};
    CHECK(net_address_check(NULL, 0, &unix_sa) != NULL, "a non-IP address is never public");
}

/* ---- static host mappings ------------------------------------------------ */

static void mapping_ok(const char *in, const char *want)
{
    autofree char *out = NULL;
    int r = norm_host_mapping(in, &out);
    CHECK(r == 0 && out && strcmp(out, want) == 0, "mapping \"%s\" -> \"%s\" (got \"%s\")", in,
          want, out ? out : "(refused)");
}

static void mapping_bad(const char *in)
{
    autofree char *out = NULL;
    CHECK(norm_host_mapping(in, &out) < 0 && out == NULL, "mapping \"%s\" is refused", in);
}

static void test_mappings(void)
{
    mapping_ok("x.test=1.2.3.4", "x.test=1.2.3.4");
    mapping_ok("X.Test.=10.0.0.1", "x.test=10.0.0.1");
    mapping_ok("db=FD00:0::1", "db=fd00::1");
    mapping_ok("v4m=::ffff:127.0.0.1", "v4m=::ffff:127.0.0.1");
    mapping_bad("a=b");
    mapping_bad("=1.2.3.4");
    mapping_bad("x.test=");
    mapping_bad("x.test");
    mapping_bad("*.x.test=1.2.3.4");
    mapping_bad("1.2.3.4=1.2.3.4");
    mapping_bad("x.test=1.2.3.4/8");
    mapping_bad("x.test=127.1");
    mapping_bad("x.test=1.2.3.4=5");
    mapping_bad("x test=1.2.3.4");
    mapping_bad("x.test=fe80::1%eth0");
    mapping_bad("x.test= 1.2.3.4");

    autostrlist struct strlist hosts = {0};
    strlist_push(&hosts, "db.test=10.0.0.5");
    strlist_push(&hosts, "v6.test=fd00::5");
    strlist_push(&hosts, "db.test=10.0.0.6");
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    CHECK(net_hosts_lookup(&hosts, "db.test", 5432, &ss, &sl) == 0, "db.test is mapped");
    struct sockaddr_in in;
    memcpy(&in, &ss, sizeof in);
    CHECK(sl == sizeof in && in.sin_family == AF_INET && in.sin_port == htons(5432) &&
              in.sin_addr.s_addr == inet_addr("10.0.0.5"),
          "db.test -> 10.0.0.5:5432 (the first entry wins)");
    CHECK(net_hosts_lookup(&hosts, "v6.test", 443, &ss, &sl) == 0, "v6.test is mapped");
    struct sockaddr_in6 in6;
    memcpy(&in6, &ss, sizeof in6);
    struct in6_addr want6;
    inet_pton(AF_INET6, "fd00::5", &want6);
    CHECK(sl == sizeof in6 && in6.sin6_family == AF_INET6 && in6.sin6_port == htons(443) &&
              memcmp(&in6.sin6_addr, &want6, sizeof want6) == 0,
          "v6.test -> [fd00::5]:443");
    CHECK(net_hosts_lookup(&hosts, "db", 1, &ss, &sl) < 0, "a prefix of a name is no match");
    CHECK(net_hosts_lookup(&hosts, "db.test.x", 1, &ss, &sl) < 0, "a longer name is no match");
    CHECK(net_hosts_lookup(&hosts, "other.test", 1, &ss, &sl) < 0, "unmapped name");
}

/* ---- HTTP ---------------------------------------------------------------- */

struct http_result {
    int r, status;
    hutch_error err;
    struct proxy_request req;
};

static void http_parse_n(const char *buf, size_t len, struct http_result *res)
{
    memset(res, 0, sizeof *res);
    res->r = http_proxy_parse(buf, len, &res->req, &res->status, &res->err);
}

static void http_parse(const char *buf, struct http_result *res)
{
    http_parse_n(buf, strlen(buf), res);
}

static void http_refused(const char *buf, int status, const char *reason_part, const char *label)
{
    struct http_result res;
    http_parse(buf, &res);
    CHECK(res.r == -1 && res.status == status, "%s: refused with %d (got r=%d status=%d why=%s)",
          label, status, res.r, res.status, res.err.message);
    if (reason_part)
        CHECK_CONTAINS(res.err.message, reason_part, "%s: why", label);
    CHECK(res.req.forward_head == NULL, "%s: no forward head", label);
    proxy_request_free(&res.req);
}

static void test_http_connect(void)
{
    struct http_result res;
    const char *req = "CONNECT Example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
                      "User-Agent: t\r\n\r\n";
    http_parse(req, &res);
    CHECK(res.r == 1 && res.req.kind == PROXY_CONNECT, "CONNECT is accepted");
    CHECK_STR(res.req.host, "example.com", "CONNECT host is canonical");
    CHECK(res.req.port == 443, "CONNECT port");
    CHECK_STR(res.req.shown, "Example.com:443", "CONNECT shown is the target as written");
    CHECK(res.req.head_len == strlen(req), "CONNECT head_len is the whole head");
    CHECK(res.req.forward_head == NULL, "CONNECT forwards no head");
    proxy_request_free(&res.req);

    /* bytes after the head (a TLS ClientHello sent early) are not part of it */
    char buf[200];
    size_t n = strlen(req);
    memcpy(buf, req, n);
    memcpy(buf + n, "\x16\x03\x01\x00\x05", 5);
    http_parse_n(buf, n + 5, &res);
    CHECK(res.r == 1 && res.req.head_len == strlen(req), "CONNECT head_len with early data");

    /* need more at every prefix */
    bool all_zero = true;
    for (size_t i = 0; i < strlen(req); i++) {
        http_parse_n(req, i, &res);
        if (res.r != 0)
            all_zero = false;
    }
    CHECK(all_zero, "every proper prefix of a CONNECT head needs more");

    http_parse("CONNECT example.com:8443 HTTP/1.0\r\n\r\n", &res);
    CHECK(res.r == 1 && res.req.port == 8443, "CONNECT HTTP/1.0 with no headers");
    http_parse("CONNECT example.com.:443 HTTP/1.1\r\n\r\n", &res);
    CHECK(res.r == 1 && strcmp(res.req.host, "example.com") == 0, "CONNECT trailing dot");

    http_refused("CONNECT allowed.com@evil.com:443 HTTP/1.1\r\n\r\n", 403, "userinfo",
                 "CONNECT userinfo");
    http_refused("CONNECT allowed.com:443@evil.com HTTP/1.1\r\n\r\n", 403, "userinfo",
                 "CONNECT userinfo after the port");
    http_refused("CONNECT [::1]:443 HTTP/1.1\r\n\r\n", 403, "an IP address literal",
                 "CONNECT bracketed IPv6");
    http_refused("CONNECT ::1:443 HTTP/1.1\r\n\r\n", 403, "an IP address literal",
                 "CONNECT bare IPv6");
    http_refused("CONNECT 127.0.0.1:443 HTTP/1.1\r\n\r\n", 403, "an IP address literal",
                 "CONNECT IPv4");
    http_refused("CONNECT 2130706433:443 HTTP/1.1\r\n\r\n", 403, "an IP address literal",
                 "CONNECT integer IPv4");
    http_refused("CONNECT 0x7f.1:443 HTTP/1.1\r\n\r\n", 403, "an IP address literal",
                 "CONNECT hex IPv4");
    http_refused("CONNECT example.com HTTP/1.1\r\n\r\n", 400, "port", "CONNECT without port");
    http_refused("CONNECT example.com: HTTP/1.1\r\n\r\n", 400, "port", "CONNECT empty port");
    http_refused("CONNECT example.com:0 HTTP/1.1\r\n\r\n", 400, "port", "CONNECT port 0");
    http_refused("CONNECT example.com:65536 HTTP/1.1\r\n\r\n", 400, "port", "CONNECT port 65536");
    http_refused("CONNECT example.com:44x HTTP/1.1\r\n\r\n", 400, "port", "CONNECT port 44x");
    http_refused("CONNECT example.com:-1 HTTP/1.1\r\n\r\n", 400, "port", "CONNECT port -1");
    http_refused("CONNECT a.com%40evil.com:443 HTTP/1.1\r\n\r\n", 403, "character",
                 "CONNECT percent-encoded host");
    http_refused("CONNECT :443 HTTP/1.1\r\n\r\n", 403, "empty", "CONNECT empty host");
    http_refused("CONNECT example.com:443 HTTP/2.0\r\n\r\n", 400, "version", "HTTP/2.0");
    http_refused("CONNECT example.com:443 http/1.1\r\n\r\n", 400, "version", "lower-case version");
    http_refused("CONNECT example.com:443\r\n\r\n", 400, "request line", "no version");
    http_refused("CONNECT  example.com:443 HTTP/1.1\r\n\r\n", 400, "request line", "two spaces");
    http_refused("CONNECT example.com:443 HTTP/1.1 \r\n\r\n", 400, NULL, "trailing space");
    http_refused("\r\n\r\n", 400, "request line", "empty request line");

    http_parse("CONNECT allowed.com@evil.com:443 HTTP/1.1\r\n\r\n", &res);
    CHECK_STR(res.req.shown, "(userinfo)@evil.com:443", "shown is set for a refused CONNECT, without its userinfo");
    http_parse("CONNECT http://example.com:443 HTTP/1.1\r\n\r\n", &res);
    CHECK(res.r == -1 && res.status == 403, "CONNECT with a URL");
    CHECK_STR(res.req.shown, "http://example.com:443", "CONNECT shown is the whole target");
    http_parse("CONNECT evil\x01host:443 HTTP/1.1\r\n\r\n", &res);
    CHECK(res.r == -1 && res.status == 400, "control byte in the target");
    CHECK_STR(res.req.shown, "evil?host:443", "shown replaces unprintable bytes");
}

static void test_http_forward(void)
{
    struct http_result res;
    const char *req = "GET http://Example.com/path/x?q=1&r=2#frag HTTP/1.1\r\n"
                      "Host: other.example\r\n"
                      "User-Agent: test/1.0\r\n"
                      "Connection: keep-alive, Upgrade\r\n"
                      "Keep-Alive: timeout=5\r\n"
                      "Proxy-Connection: keep-alive\r\n"
                      "proxy-authorization: Basic eDp5\r\n"
                      "Upgrade: websocket\r\n"
                      "Accept:  */* \r\n"
                      "HOST: third.example\r\n"
                      "X-Empty:\r\n"
                      "\r\n";
    char buf[1024];
    size_t n =
        (size_t)snprintf(buf, sizeof buf, "%sGET http://example.com/2 HTTP/1.1\r\n\r\n", req);
    http_parse_n(buf, n, &res);
    CHECK(res.r == 1 && res.req.kind == PROXY_FORWARD, "absolute-form GET is accepted");
    CHECK_STR(res.req.host, "example.com", "forward host is canonical");
    CHECK(res.req.port == 80, "forward default port 80");
    CHECK_STR(res.req.shown, "Example.com", "forward shown is the authority");
    CHECK(res.req.head_len == strlen(req), "head_len ends after the first blank line (pipelining)");
    CHECK_STR(res.req.forward_head,
              "GET /path/x?q=1&r=2 HTTP/1.1\r\n"
              "Host: example.com\r\n"
              "User-Agent: test/1.0\r\n"
              "Accept:  */* \r\n"
              "X-Empty:\r\n"
              "Connection: close\r\n"
              "\r\n",
              "forward head: origin form, our Host, hop-by-hop headers dropped");
    CHECK(res.req.forward_head && res.req.forward_len == strlen(res.req.forward_head),
          "forward_len matches");
    proxy_request_free(&res.req);
    proxy_request_free(&res.req);
    CHECK(res.req.forward_head == NULL, "proxy_request_free twice is safe");
    struct proxy_request zero = {0};
    proxy_request_free(&zero);

    http_parse("POST HTTP://example.com:8080 HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc", &res);
    CHECK(res.r == 1 && res.req.port == 8080, "port 8080 and upper-case scheme");
    CHECK_STR(res.req.forward_head,
              "POST / HTTP/1.0\r\nHost: example.com:8080\r\nContent-Length: 3\r\n"
              "Connection: close\r\n\r\n",
              "empty path becomes /, Host carries a non-default port");
    CHECK_STR(res.req.shown, "example.com:8080", "shown authority with port");
    proxy_request_free(&res.req);

    http_parse("GET http://example.com?x=1 HTTP/1.1\r\n\r\n", &res);
    CHECK_STR(res.req.forward_head,
              "GET /?x=1 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
              "a query without a path gets /");
    proxy_request_free(&res.req);
    http_parse("GET http://example.com#top HTTP/1.1\r\n\r\n", &res);
    CHECK_STR(res.req.forward_head,
              "GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
              "a lone fragment is dropped");
    proxy_request_free(&res.req);
    http_parse("GET http://example.com:80/a HTTP/1.1\r\n\r\n", &res);
    CHECK(res.r == 1 && strstr(res.req.forward_head, "\r\nHost: example.com\r\n"),
          "explicit port 80 gives Host without port");
    proxy_request_free(&res.req);
    http_parse("M-SEARCH http://example.com/ HTTP/1.1\r\n\r\n", &res);
    CHECK(res.r == 1, "any token method");
    proxy_request_free(&res.req);
    http_parse("GET http://example.com/ HTTP/1.1\r\nX-Bin: caf\xc3\xa9\r\n\r\n", &res);
    CHECK(res.r == 1, "obs-text in a header value is passed on");
    proxy_request_free(&res.req);
    http_parse("GET http://example.com/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
               &res);
    CHECK(res.r == 1, "two equal Content-Length values");
    proxy_request_free(&res.req);
    http_parse("GET http://example.com/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &res);
    CHECK(res.r == 1, "Transfer-Encoding alone");
    proxy_request_free(&res.req);

    http_refused("GET http://user@example.com/ HTTP/1.1\r\n\r\n", 403, "userinfo", "URL userinfo");
    http_refused("GET http://a:b@example.com/ HTTP/1.1\r\n\r\n", 403, "userinfo",
                 "URL user:password");
    http_refused("GET http://allowed.com\\@evil.com/ HTTP/1.1\r\n\r\n", 403, NULL,
                 "backslash before @");
    http_refused("GET http://example.com:0/ HTTP/1.1\r\n\r\n", 400, "port", "URL port 0");
    http_refused("GET http://example.com:65536/ HTTP/1.1\r\n\r\n", 400, "port", "URL port 65536");
    http_refused("GET http://example.com:99999999/ HTTP/1.1\r\n\r\n", 400, "port", "URL long port");
    http_refused("GET http://example.com:8o/ HTTP/1.1\r\n\r\n", 400, "port", "URL port 8o");
    http_refused("GET http://example.com:/ HTTP/1.1\r\n\r\n", 400, "port", "URL empty port");
    http_refused("GET http://a.com%40evil.com/ HTTP/1.1\r\n\r\n", 403, "character",
                 "URL percent-encoded @");
    http_refused("GET http://ex%61mple.com/ HTTP/1.1\r\n\r\n", 403, "character",
                 "URL percent-encoded host");
    http_refused("GET http://127.0.0.1/ HTTP/1.1\r\n\r\n", 403, "an IP address literal",
                 "URL IPv4");
    http_refused("GET http://0x7f.1/ HTTP/1.1\r\n\r\n", 403, "an IP address literal", "URL hex");
    http_refused("GET http://[::1]/ HTTP/1.1\r\n\r\n", 403, "an IP address literal", "URL IPv6");
    http_refused("GET http://[::1]:8080/ HTTP/1.1\r\n\r\n", 403, "an IP address literal",
                 "URL IPv6 with port");
    http_refused("GET http:///x HTTP/1.1\r\n\r\n", 403, "empty", "URL without host");
    http_refused("GET https://example.com/ HTTP/1.1\r\n\r\n", 405, "CONNECT", "https URL");
    http_refused("GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n", 400, NULL, "origin form");
    http_refused("GET ftp://example.com/ HTTP/1.1\r\n\r\n", 400, NULL, "ftp URL");
    http_refused("G(T http://example.com/ HTTP/1.1\r\n\r\n", 400, "request line",
                 "method not a token");
    http_refused("connect example.com:443 HTTP/1.1\r\n\r\n", 400, NULL, "lower-case connect");

    http_parse("GET http://user:secret@example.com/x HTTP/1.1\r\n\r\n", &res);
    CHECK_STR(res.req.shown, "(userinfo)@example.com", "shown for a refused URL hides the credentials");
    http_parse("GARBAGE\r\n\r\n", &res);
    CHECK(res.r == -1 && strcmp(res.req.shown, "") == 0, "shown is empty without a target");
    http_parse("GET http://x.com/\x7f HTTP/1.1\r\n\r\n", &res);
    CHECK(res.r == -1 && res.status == 400, "DEL in the target");
}

static void test_http_framing(void)
{
    struct http_result res;
    http_parse("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n", &res);
    CHECK(res.r == 0, "need more without the blank line");
    http_parse("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r", &res);
    CHECK(res.r == 0, "need more with a CR at the end");
    http_parse("", &res);
    CHECK(res.r == 0, "need more when empty");

    http_refused("GET http://example.com/ HTTP/1.1\nHost: x\n\n", 400, "LF", "bare LF line ends");
    http_refused("GET http://example.com/ HTTP/1.1\n", 400, "LF", "bare LF refused before the end");
    http_refused("GET http://example.com/ HTTP/1.1\r\nA: b\rc\r\n\r\n", 400, "CR", "bare CR");
    http_refused("GET http://example.com/ HTTP/1.1\r\nA: b\nc\r\n\r\n", 400, "LF", "bare LF");
    char nul[] = "GET http://example.com/ HTTP/1.1\r\nA: b\0c\r\n\r\n";
    http_parse_n(nul, sizeof nul - 1, &res);
    CHECK(res.r == -1 && res.status == 400 && strstr(res.err.message, "NUL"), "NUL in a header");
    http_parse_n(nul, 40, &res);
    CHECK(res.r == -1 && res.status == 400, "NUL refused before the head is complete");
    char nul_host[] = "CONNECT evil.com\0.allowed.com:443 HTTP/1.1\r\n\r\n";
    http_parse_n(nul_host, sizeof nul_host - 1, &res);
    CHECK(res.r == -1 && res.status == 400, "NUL in the CONNECT target");
    /* a NUL after the head belongs to the body or the tunnel */
    char after[] = "CONNECT example.com:443 HTTP/1.1\r\n\r\n\0\0";
    http_parse_n(after, sizeof after - 1, &res);
    CHECK(res.r == 1, "NUL bytes after the head are not looked at");

    http_refused("GET http://example.com/ HTTP/1.1\r\nA: b\r\n  folded\r\n\r\n", 400, "folded",
                 "obs-fold with spaces");
    http_refused("GET http://example.com/ HTTP/1.1\r\nA: b\r\n\tfolded\r\n\r\n", 400, "folded",
                 "obs-fold with a tab");
    http_refused("GET http://example.com/ HTTP/1.1\r\n Host: evil.com\r\n\r\n", 400, NULL,
                 "first header line folded");
    http_refused("GET http://example.com/ HTTP/1.1\r\nHost : x\r\n\r\n", 400, "header",
                 "space before the colon");
    http_refused("GET http://example.com/ HTTP/1.1\r\nNo colon\r\n\r\n", 400, "header",
                 "header without colon");
    http_refused("GET http://example.com/ HTTP/1.1\r\n: v\r\n\r\n", 400, "header",
                 "empty header name");
    http_refused("GET http://example.com/ HTTP/1.1\r\nA: b\x01\r\n\r\n", 400, NULL,
                 "control byte in a header value");

    http_refused("POST http://example.com/ HTTP/1.1\r\nContent-Length: 4\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n",
                 400, "Transfer-Encoding", "CL and TE");
    http_refused("POST http://example.com/ HTTP/1.1\r\ntransfer-encoding: chunked\r\n"
                 "content-length: 4\r\n\r\n",
                 400, "Transfer-Encoding", "TE and CL, lower case");
    http_refused("POST http://example.com/ HTTP/1.1\r\nContent-Length: 4\r\n"
                 "Content-Length: 5\r\n\r\n",
                 400, "Content-Length", "two different Content-Length values");
    http_refused("POST http://example.com/ HTTP/1.1\r\nContent-Length: 4, 5\r\n\r\n", 400,
                 "Content-Length", "a Content-Length list");
    http_refused("POST http://example.com/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400,
                 "Content-Length", "a negative Content-Length");
    http_refused("CONNECT example.com:443 HTTP/1.1\r\nContent-Length: 1\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n",
                 400, NULL, "CL and TE on CONNECT");

    /* 431: no blank line within PROXY_HEAD_MAX bytes */
    size_t big = PROXY_HEAD_MAX + 10;
    autofree char *buf = malloc(big);
    const char *start = "GET http://example.com/ HTTP/1.1\r\nX: ";
    memset(buf, 'a', big);
    memcpy(buf, start, strlen(start));
    http_parse_n(buf, PROXY_HEAD_MAX - 1, &res);
    CHECK(res.r == 0, "need more just below PROXY_HEAD_MAX");
    http_parse_n(buf, PROXY_HEAD_MAX, &res);
    CHECK(res.r == -1 && res.status == 431, "431 at PROXY_HEAD_MAX");
    CHECK_STR(res.req.shown, "example.com", "shown is set for 431");
    http_parse_n(buf, big, &res);
    CHECK(res.r == -1 && res.status == 431, "431 above PROXY_HEAD_MAX");
    memcpy(buf + PROXY_HEAD_MAX - 4, "\r\n\r\n", 4);
    http_parse_n(buf, big, &res);
    CHECK(res.r == 1 && res.req.head_len == PROXY_HEAD_MAX, "a head of exactly PROXY_HEAD_MAX");
    proxy_request_free(&res.req);
    memcpy(buf + PROXY_HEAD_MAX - 4, "aa\r\n\r\n", 6);
    http_parse_n(buf, big, &res);
    CHECK(res.r == -1 && res.status == 431, "a head one byte too long");
}

/* ---- SOCKS5 -------------------------------------------------------------- */

static void test_socks5(void)
{
    bool no_auth = false;
    const unsigned char greeting[] = {5, 2, 2, 0};
    CHECK(socks5_parse_greeting(greeting, sizeof greeting, &no_auth) == 4 && no_auth,
          "greeting offering no-auth");
    bool need_more = true;
    for (size_t i = 0; i < sizeof greeting; i++)
        if (socks5_parse_greeting(greeting, i, &no_auth) != 0)
            need_more = false;
    CHECK(need_more, "greeting needs more at every byte boundary");
    const unsigned char auth_only[] = {5, 1, 2, 9, 9};
    CHECK(socks5_parse_greeting(auth_only, sizeof auth_only, &no_auth) == 3 && !no_auth,
          "greeting without no-auth takes only its bytes");
    const unsigned char v4[] = {4, 1, 0};
    CHECK(socks5_parse_greeting(v4, sizeof v4, &no_auth) == -1, "SOCKS4 greeting refused");
    CHECK(socks5_parse_greeting(v4, 1, &no_auth) == -1, "wrong version refused at once");
    const unsigned char none[] = {5, 0};
    CHECK(socks5_parse_greeting(none, sizeof none, &no_auth) == -1, "greeting with no methods");

    unsigned char req[300];
    size_t n = 0;
    req[n++] = 5;
    req[n++] = 1;
    req[n++] = 0;
    req[n++] = 3;
    req[n++] = 11;
    memcpy(req + n, "Example.COM", 11);
    n += 11;
    req[n++] = 0x01;
    req[n++] = 0xbb;
    req[n++] = 0xee; /* first byte of what follows */
    struct proxy_request pr;
    int reply = -1;
    hutch_error err;
    int r = socks5_parse_request(req, n, &pr, &reply, &err);
    CHECK(r == (int)n - 1 && pr.kind == PROXY_CONNECT && pr.port == 443 && pr.head_len == n - 1 &&
              strcmp(pr.host, "example.com") == 0,
          "CONNECT to a domain (r=%d host=%s port=%u)", r, pr.host, pr.port);
    CHECK_STR(pr.shown, "Example.COM:443", "SOCKS5 shown");
    need_more = true;
    for (size_t i = 0; i < n - 1; i++)
        if (socks5_parse_request(req, i, &pr, &reply, &err) != 0)
            need_more = false;
    CHECK(need_more, "request needs more at every byte boundary");

    unsigned char ip4[] = {5, 1, 0, 1, 127, 0, 0, 1, 0, 80};
    r = socks5_parse_request(ip4, sizeof ip4, &pr, &reply, &err);
    CHECK(r == -1 && reply == SOCKS5_NOT_ALLOWED, "ATYP 1 refused with NOT_ALLOWED");
    CHECK_STR(pr.shown, "127.0.0.1:80", "ATYP 1 shown");
    CHECK_STR(err.message, "an IP address literal", "ATYP 1 why");
    need_more = true;
    for (size_t i = 0; i < sizeof ip4; i++)
        if (socks5_parse_request(ip4, i, &pr, &reply, &err) != 0)
            need_more = false;
    CHECK(need_more, "ATYP 1 request needs more at every byte boundary");

    unsigned char ip6[22] = {5, 1, 0, 4};
    ip6[19] = 1;
    ip6[20] = 1;
    ip6[21] = 0xbb;
    r = socks5_parse_request(ip6, sizeof ip6, &pr, &reply, &err);
    CHECK(r == -1 && reply == SOCKS5_NOT_ALLOWED, "ATYP 4 refused with NOT_ALLOWED");
    CHECK_STR(pr.shown, "[::1]:443", "ATYP 4 shown");
    need_more = true;
    for (size_t i = 0; i < sizeof ip6; i++)
        if (socks5_parse_request(ip6, i, &pr, &reply, &err) != 0)
            need_more = false;
    CHECK(need_more, "ATYP 4 request needs more at every byte boundary");

    req[1] = 2;
    r = socks5_parse_request(req, n, &pr, &reply, &err);
    CHECK(r == -1 && reply == SOCKS5_CMD_UNSUPPORTED, "BIND refused with CMD_UNSUPPORTED");
    CHECK_STR(pr.shown, "Example.COM:443", "shown is set for a refused BIND");
    req[1] = 3;
    r = socks5_parse_request(req, n, &pr, &reply, &err);
    CHECK(r == -1 && reply == SOCKS5_CMD_UNSUPPORTED, "UDP ASSOCIATE refused with CMD_UNSUPPORTED");
    req[1] = 1;

    unsigned char nul[] = {5, 1, 0, 3, 9, 'e', 'v', 'i', 'l', 0, '.', 'c', 'o', 'm', 0, 80};
    r = socks5_parse_request(nul, sizeof nul, &pr, &reply, &err);
    CHECK(r == -1 && reply == SOCKS5_NOT_ALLOWED, "domain with NUL refused with NOT_ALLOWED");
    CHECK_STR(pr.shown, "evil?.com:80", "domain with NUL shown");

    unsigned char lit[] = {5, 1, 0, 3, 9, '1', '2', '7', '.', '0', '.', '0', '.', '1', 0, 80};
    r = socks5_parse_request(lit, sizeof lit, &pr, &reply, &err);
    CHECK(r == -1 && reply == SOCKS5_NOT_ALLOWED &&
              strcmp(err.message, "an IP address literal") == 0,
          "IP literal as a domain refused");
    unsigned char empty[] = {5, 1, 0, 3, 0, 0, 80};
    r = socks5_parse_request(empty, sizeof empty, &pr, &reply, &err);
    CHECK(r == -1 && reply == SOCKS5_NOT_ALLOWED, "empty domain refused");
    unsigned char port0[] = {5, 1, 0, 3, 1, 'a', 0, 0};
    r = socks5_parse_request(port0, sizeof port0, &pr, &reply, &err);
    CHECK(r == -1 && reply == SOCKS5_FAILURE, "port 0 refused");
    unsigned char atyp[] = {5, 1, 0, 2, 1, 2, 3, 4};
    r = socks5_parse_request(atyp, sizeof atyp, &pr, &reply, &err);
    CHECK(r == -1 && reply == SOCKS5_ATYP_UNSUPPORTED,
          "unknown ATYP refused with ATYP_UNSUPPORTED");
    CHECK(socks5_parse_request(atyp, 4, &pr, &reply, &err) == -1,
          "unknown ATYP refused as soon as it is read");
    unsigned char ver[] = {4, 1, 0, 3};
    r = socks5_parse_request(ver, 1, &pr, &reply, &err);
    CHECK(r == -1 && reply == SOCKS5_FAILURE, "wrong version refused with FAILURE");
    unsigned char rsv[] = {5, 1, 1, 3};
    r = socks5_parse_request(rsv, 3, &pr, &reply, &err);
    CHECK(r == -1 && reply == SOCKS5_FAILURE, "non-zero reserved byte refused");
}

int main(void)
{
    test_hosts();
    test_domains();
    test_special();
    test_cidr();
    test_mappings();
    test_http_connect();
    test_http_forward();
    test_http_framing();
    test_socks5();
    return tap_done();
}
