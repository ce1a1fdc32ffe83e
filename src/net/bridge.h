/* Inside the sandbox: the proxy's ports on 127.0.0.1 of the sandbox's own
 * network namespace, each connection relayed to the host proxy's unix
 * socket (bind-mounted in). Run by the sandbox's init (one-shot native
 * runs) or by hutch-init (sessions, docker runs). */
#ifndef HUTCH_NET_BRIDGE_H
#define HUTCH_NET_BRIDGE_H

#include <stdbool.h>
#include <sys/types.h>

#define BRIDGE_HTTP_PORT 3128
#define BRIDGE_SOCKS_PORT 1080
/* Where the proxy's socket is inside the sandbox. */
#define BRIDGE_PROXY_SOCKET "/.hutch/proxy.sock"

/* Listens on both ports, then forks the bridge process, which keeps only
 * the listeners (stdio on /dev/null), gives up every capability and
 * serves until killed. die_with_parent: SIGKILL when the caller's thread
 * ends. Returns the bridge's pid, or -1 with errno. Async-signal-safe
 * enough for a freshly cloned init: no allocation before the fork. */
pid_t bridge_start(const char *proxy_socket, bool die_with_parent);

#endif
