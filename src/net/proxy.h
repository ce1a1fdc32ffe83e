/* The host side of network mode "allow": a filtering proxy that speaks
 * HTTP CONNECT, plain HTTP forwarding and SOCKS5 (with host names) on a
 * unix socket, which is bind-mounted into the sandbox and bridged to
 * 127.0.0.1 there (bridge.h). Each connection is checked against the
 * domain rules, resolved once, checked by address, and connected to
 * exactly the address that was checked. Every refusal is appended as one
 * JSON line to an events file (the session's audit log, or a run's own). */
#ifndef HUTCH_NET_PROXY_H
#define HUTCH_NET_PROXY_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/error.h"
#include "policy/policy.h"

#define PROXY_SOCKET_NAME "proxy.sock"

struct net_proxy_spec {
    const struct hutch_policy *policy;
    /* The socket's directory (an open descriptor, so that it cannot be
     * swapped while the socket is made): PROXY_SOCKET_NAME is bound in it,
     * replacing a stale one, with socket_mode, and handed to socket_uid:gid
     * ((uid_t)-1: left to the caller). dir names it in messages. */
    int dir_fd;
    const char *dir;
    mode_t socket_mode;
    uid_t socket_uid;
    gid_t socket_gid;
    int events_fd;           /* refusals are appended here; -1: nowhere */
    const char *session;     /* named in each event, or NULL */
    /* false: the proxy dies with the calling process (one-shot runs);
     * true: it is detached and lives until stopped (sessions). */
    bool detach;
};

/* Checks the rules, chooses the proxy's identity, listens, and starts the
 * proxy process; the socket accepts connections when this returns. When
 * hutch is root the proxy runs as the system user hutch-proxy, or else as
 * NET_PROXY_FALLBACK_ID (refused when an account uses it); always with no
 * capabilities, no_new_privs, not dumpable, and its own seccomp filter. */
int net_proxy_start(const struct net_proxy_spec *spec, pid_t *pid, hutch_error *err);

#define NET_PROXY_USER "hutch-proxy"
#define NET_PROXY_FALLBACK_ID 65520

/* Checks network.allowedAddresses and network.hosts as the proxy will read
 * them, with a message naming the entry. */
int net_proxy_check_policy(const struct network_policy *net, hutch_error *err);

/* Stops a proxy started by this process (one-shot), and reaps it. */
void net_proxy_stop(pid_t pid);

/* The hosts refused in events appended to fd from offset on (a run's part
 * of the log): at most max unique names, added to list. */
int net_proxy_denied_since(int fd, off_t offset, size_t max, struct strlist *list);

/* HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY and their lower-case forms,
 * pointing at the bridge inside the sandbox. */
int net_proxy_env(struct strlist *env);

/* ---- a one-shot run's proxy --------------------------------------------------- */

struct net_run_proxy {
    char dir[128]; /* host directory holding the socket, mounted at /.hutch */
    pid_t pid;
    int events_fd;
    /* The directory, open and locked while the run lives (so a later run can
     * tell a dead run's directory from a live one's); valid while dir[0]. */
    int dir_fd;
};

/* Makes a private directory for the socket, an events file, and starts the
 * proxy, which dies with the caller. The directory stays the caller's and
 * writable by nobody else; the socket is handed to uid:gid, the sandbox's
 * user on the host ((uid_t)-1: any user may connect, for containers).
 * Directories of earlier runs that were killed are removed first. */
int net_run_proxy_start(const struct hutch_policy *p, uid_t uid, gid_t gid,
                        struct net_run_proxy *rp, hutch_error *err);

/* Stops it, removes the directory and, when r is given, puts the refused
 * hosts into r. Safe on a proxy that never started. */
void net_run_proxy_finish(struct net_run_proxy *rp, hutch_result *r);

#endif
