/* Which hosts and addresses the network allowlist lets a sandbox reach.
 * Pure: no I/O, no resolver. The proxy (proxy.c) asks these questions in
 * order: is the name well-formed and not an IP literal (net_host_normalize),
 * do the domain rules allow it (net_domain_check), and is each address it
 * resolves to reachable (net_address_check). */
#ifndef HUTCH_NET_RULES_H
#define HUTCH_NET_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/strlist.h"

#define NET_HOST_MAX 253

enum net_host_problem {
    NET_HOST_OK = 0,
    NET_HOST_EMPTY,       /* "" or "." */
    NET_HOST_TOO_LONG,    /* over 253 bytes, or a label over 63 */
    NET_HOST_BAD_CHAR,    /* NUL, '@', ':', '%', '/', space, non-ASCII, ... */
    NET_HOST_BAD_LABEL,   /* empty label ("a..b"), leading or trailing '-' */
    NET_HOST_IP_LITERAL,  /* 1.2.3.4, 0x7f.1, 2130706433, 017700000001, [::1], ::1 */
};

/* Checks host (len bytes, may contain NUL bytes, which are refused) and
 * writes its canonical form to out (NET_HOST_MAX + 1 bytes): lower case,
 * one trailing dot removed. Letters, digits, '-', '_' and '.' only. A name
 * whose last label is all digits, or that inet_aton() or inet_pton(AF_INET6)
 * would accept (with or without brackets), is an IP literal. */
enum net_host_problem net_host_normalize(const char *host, size_t len, char out[NET_HOST_MAX + 1]);

/* A short phrase for a problem, e.g. "an IP address literal". */
const char *net_host_problem_text(enum net_host_problem problem);

enum net_verdict {
    NET_ALLOWED = 0,
    NET_DENIED_BY_RULE, /* matches network.deniedDomains (deny wins) */
    NET_NOT_ALLOWED,    /* matches no entry of network.allowedDomains */
};

/* host is canonical (net_host_normalize). Patterns are canonical domains
 * (fields.c norm_domain): "example.com" matches exactly that name;
 * "*.example.com" matches any name below it (a.example.com,
 * a.b.example.com) but not example.com itself; "*" matches every name. */
bool net_domain_matches(const char *pattern, const char *host);
enum net_verdict net_domain_check(const struct strlist *allowed, const struct strlist *denied,
                                  const char *host);

/* An address range: "10.0.0.0/8", "127.0.0.1" (= /32), "fd00::/8", "::1"
 * (= /128). IPv4 ranges are kept as IPv4; an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) is checked as the IPv4 address it maps. */
struct net_cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned prefix;
};

/* 0, or -1 when text is not an address or range in the forms above (host
 * bits set below the prefix are refused: "10.0.0.1/8"). */
int net_cidr_parse(const char *text, struct net_cidr *out);
bool net_cidr_contains(const struct net_cidr *range, const struct sockaddr *sa);

/* Why the address is not a public one, or NULL: "loopback", "private",
 * "link-local", "cloud metadata" (169.254.169.254, fd00:ec2::254; checked
 * before link-local), "unspecified", "multicast", "shared (CGNAT)",
 * "reserved", "broadcast", "unique local", "documentation". IPv4-mapped
 * (::ffff:0:0/96), IPv4-compatible and NAT64 (64:ff9b::/96) and 6to4
 * (2002::/16) addresses are judged by the IPv4 address they carry. */
const char *net_address_special(const struct sockaddr *sa);

/* NULL when the proxy may connect to sa: a public address, or a special one
 * inside one of the explicitly allowed ranges. Otherwise the reason
 * (net_address_special). */
const char *net_address_check(const struct net_cidr *allowed, size_t n_allowed,
                              const struct sockaddr *sa);

/* Static name mappings, "NAME=ADDRESS" (network.hosts, --add-host): the
 * address for canonical host, written to out with port; 0 when found, -1
 * when host has no mapping. The first matching entry wins. */
int net_hosts_lookup(const struct strlist *hosts, const char *host, uint16_t port,
                     struct sockaddr_storage *out, socklen_t *out_len);

/* Config and flag normalizers (fields.c): 0 with *out malloc'd canonical
 * text, or -1. "NAME=ADDRESS" with a canonical name (not a pattern, not an
 * IP literal) and a numeric IPv4 or IPv6 address; and an address range. */
int norm_host_mapping(const char *in, char **out);
int norm_address_range(const char *in, char **out);

#endif
