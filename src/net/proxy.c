#include "net/proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "net/bridge.h"
#include "net/relay.h"
#include "net/request.h"
#include "net/rules.h"
#include "result.h"

#define MAX_CLIENTS 128           /* connections served at once */
#define HEAD_TIMEOUT_SECONDS 30   /* to send a complete request */
#define CONNECT_TIMEOUT_MS 10000  /* per address */
#define MAX_LOGGED_EVENTS 10000   /* a flood of refusals must not fill the disk */
#define PROXY_ID 65534            /* nobody: who the proxy runs as when hutch is root */

struct proxy {
    const struct network_policy *net;
    struct net_cidr *ranges;
    size_t n_ranges;
    int events_fd;
    const char *session;
    atomic_uint *logged; /* shared by every connection's process */
};

/* ---- events ------------------------------------------------------------------ */

static void log_refusal(const struct proxy *px, const char *protocol, const char *host,
                        unsigned port, const char *reason)
{
    if (px->events_fd < 0)
        return;
    unsigned n = atomic_fetch_add(px->logged, 1);
    if (n > MAX_LOGGED_EVENTS)
        return;
    char when[40];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t len = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + len, sizeof when - len, ".%03ldZ", ts.tv_nsec / 1000000);
    json_t *line = n == MAX_LOGGED_EVENTS
                       ? json_pack("{s:s, s:s, s:s}", "time", when, "event", "network_denied",
                                   "reason", "too many refusals: further ones are not logged")
                       : json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "time", when, "event",
                                   "network_denied", "host", host, "port", (int)port, "protocol",
                                   protocol, "reason", reason);
    if (line && px->session)
        json_object_set_new(line, "session", json_string(px->session));
    char *text = line ? json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(line);
    if (!text)
        return;
    size_t tlen = strlen(text);
    char *out = realloc(text, tlen + 2);
    if (out) {
        out[tlen] = '\n';
        (void)write_all(px->events_fd, out, tlen + 1);
    }
    free(out ? out : text);
}

/* A target refused while being parsed is shown as the client wrote it:
 * "host:port" (or "[v6]:port") is logged as host and port, like the others. */
static void log_refused_target(const struct proxy *px, const char *protocol, const char *shown,
                               const char *reason)
{
    char host[256];
    snprintf(host, sizeof host, "%s", shown);
    unsigned port = 0;
    char *colon = strrchr(host, ':');
    char *close = strrchr(host, ']');
    if (colon && colon[1] && (!close || close < colon) &&
        strspn(colon + 1, "0123456789") == strlen(colon + 1) && strlen(colon + 1) <= 5 &&
        (host[0] == '[' || strchr(host, ':') == colon)) {
        port = (unsigned)strtoul(colon + 1, NULL, 10);
        *colon = '\0';
    }
    log_refusal(px, protocol, host, port, reason);
}

/* ---- answers ------------------------------------------------------------------- */

static const char *status_text(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 502: return "Bad Gateway";
    default: return "Error";
    }
}

static void http_answer(int fd, int status, const char *message)
{
    char body[600], head[800];
    int blen = snprintf(body, sizeof body, "hutch: %s\n", message);
    if (blen < 0 || (size_t)blen >= sizeof body)
        blen = (int)sizeof body - 1;
    int hlen = snprintf(head, sizeof head,
                        "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                        "Content-Length: %d\r\nConnection: close\r\nX-Hutch-Network: %s\r\n\r\n",
                        status, status_text(status), blen, status == 403 ? "denied" : "error");
    (void)send_all(fd, head, (size_t)hlen);
    (void)send_all(fd, body, (size_t)blen);
}

static void socks_answer(int fd, int code)
{
    unsigned char reply[10] = {5, (unsigned char)code, 0, 1, 0, 0, 0, 0, 0, 0};
    (void)send_all(fd, reply, sizeof reply);
}

/* ---- deciding and connecting ------------------------------------------------------ */

struct verdict {
    int fd;              /* connected upstream, or -1 */
    bool denied;         /* refused by policy (else a failure to reach) */
    char message[400];   /* for the client */
    char reason[200];    /* for the log */
};

static int connect_within(const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, sa, len) < 0) {
        if (errno != EINPROGRESS) {
            close(fd);
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (TEMP_FAILURE_RETRY(poll(&p, 1, timeout_ms)) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
            close(fd);
            errno = soerr ? soerr : ETIMEDOUT;
            return -1;
        }
    }
    /* Blocking again: heads and pending bytes are sent whole; the relay
     * itself never waits (MSG_DONTWAIT). */
    int flags = fcntl(fd, F_GETFL);
    (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return fd;
}

static void describe_address(const struct sockaddr *sa, char *out, size_t len)
{
    /* Copied out: a struct sockaddr promises less alignment than its variants. */
    struct sockaddr_storage ss;
    memcpy(&ss, sa, sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                             : sizeof(struct sockaddr_in6));
    const void *a = ss.ss_family == AF_INET ? (const void *)&((struct sockaddr_in *)&ss)->sin_addr
                                            : (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
    if (!inet_ntop(ss.ss_family, a, out, (socklen_t)len))
        snprintf(out, len, "?");
}

/* The whole decision for host:port: rules, one resolution, address checks,
 * then a connection to an address that passed. */
static void decide(const struct proxy *px, const char *host, uint16_t port, struct verdict *v)
{
    v->fd = -1;
    v->denied = true;
    switch (net_domain_check(&px->net->allowed_domains, &px->net->denied_domains, host)) {
    case NET_DENIED_BY_RULE:
        snprintf(v->reason, sizeof v->reason, "denied by network.deniedDomains");
        snprintf(v->message, sizeof v->message,
                 "network access to %s is denied by the sandbox's policy (network.deniedDomains)",
                 host);
        return;
    case NET_NOT_ALLOWED:
        snprintf(v->reason, sizeof v->reason, "not in network.allowedDomains");
        snprintf(v->message, sizeof v->message,
                 "network access to %s is not allowed: it is not in the sandbox's allowlist "
                 "(--net allow:DOMAIN, network.allowedDomains)",
                 host);
        return;
    case NET_ALLOWED:
        break;
    }

    struct sockaddr_storage mapped = {0};
    socklen_t mapped_len = 0;
    struct addrinfo *list = NULL;
    bool from_hosts = net_hosts_lookup(&px->net->hosts, host, port, &mapped, &mapped_len) == 0;
    if (!from_hosts) {
        char service[8];
        snprintf(service, sizeof service, "%u", (unsigned)port);
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_NUMERICSERV};
        int gai = getaddrinfo(host, service, &hints, &list);
        if (gai != 0) {
            v->denied = false;
            snprintf(v->message, sizeof v->message, "cannot resolve %s: %s", host,
                     gai_strerror(gai));
            return;
        }
    }
    struct addrinfo one = {.ai_family = mapped.ss_family, .ai_socktype = SOCK_STREAM,
                           .ai_addr = (struct sockaddr *)&mapped, .ai_addrlen = mapped_len};
    char refused_reason[200] = "";
    int last_errno = 0;
    for (struct addrinfo *ai = from_hosts ? &one : list; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        const char *special = net_address_check(px->ranges, px->n_ranges, ai->ai_addr);
        if (special) {
            if (!refused_reason[0]) {
                char shown[INET6_ADDRSTRLEN];
                describe_address(ai->ai_addr, shown, sizeof shown);
                snprintf(refused_reason, sizeof refused_reason, "resolves to a %s address (%s)",
                         special, shown);
            }
            continue;
        }
        /* Exactly the address just checked: no second lookup to rebind. */
        int fd = connect_within(ai->ai_addr, ai->ai_addrlen, CONNECT_TIMEOUT_MS);
        if (fd >= 0) {
            v->fd = fd;
            v->denied = false;
            break;
        }
        last_errno = errno;
    }
    if (list)
        freeaddrinfo(list);
    if (v->fd >= 0)
        return;
    if (last_errno || !refused_reason[0]) {
        v->denied = false;
        snprintf(v->message, sizeof v->message, "cannot connect to %s port %u: %s", host,
                 (unsigned)port, strerror(last_errno ? last_errno : EHOSTUNREACH));
        return;
    }
    snprintf(v->reason, sizeof v->reason, "%s", refused_reason);
    snprintf(v->message, sizeof v->message,
             "network access to %s is not allowed: it %s; such addresses need an explicit "
             "network.allowedAddresses entry (--allow-address)",
             host, refused_reason);
}

/* ---- serving one client ------------------------------------------------------------ */

static void relay_to(int client, int upstream, const char *pending, size_t pending_len)
{
    if (pending_len && send_all(upstream, pending, pending_len) < 0) {
        close(client);
        close(upstream);
        return;
    }
    relay_run(client, upstream);
}

static void serve_http(const struct proxy *px, int fd, char *buf, size_t len)
{
    struct proxy_request req = {0};
    int status = 400;
    char why[200] = "malformed request";
    int r;
    for (;;) {
        r = http_proxy_parse(buf, len, &req, &status, why, sizeof why);
        if (r != 0)
            break;
        ssize_t n = TEMP_FAILURE_RETRY(recv(fd, buf + len, PROXY_HEAD_MAX - len, 0));
        if (n <= 0) {
            if (n < 0 && errno == EAGAIN)
                http_answer(fd, 408, "the request head did not arrive in time");
            proxy_request_free(&req);
            return;
        }
        len += (size_t)n;
    }
    bool connect = len >= 8 && memcmp(buf, "CONNECT ", 8) == 0;
    const char *protocol = connect ? "http-connect" : "http";
    if (r < 0) {
        log_refused_target(px, protocol, req.shown, why);
        char message[400];
        snprintf(message, sizeof message, "request refused: %s%s%s", why,
                 req.shown[0] ? ": " : "", req.shown);
        http_answer(fd, status, message);
        proxy_request_free(&req);
        return;
    }
    struct verdict v;
    decide(px, req.host, req.port, &v);
    if (v.fd < 0) {
        if (v.denied)
            log_refusal(px, protocol, req.host, req.port, v.reason);
        http_answer(fd, v.denied ? 403 : 502, v.message);
        proxy_request_free(&req);
        return;
    }
    if (req.kind == PROXY_CONNECT) {
        static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
        if (send_all(fd, ok, sizeof ok - 1) < 0) {
            close(v.fd);
            proxy_request_free(&req);
            return;
        }
        /* Bytes sent after the head belong to the tunnel, whatever they say. */
        relay_to(fd, v.fd, buf + req.head_len, len - req.head_len);
    } else {
        if (send_all(v.fd, req.forward_head, req.forward_len) < 0) {
            close(v.fd);
            proxy_request_free(&req);
            return;
        }
        relay_to(fd, v.fd, buf + req.head_len, len - req.head_len);
    }
    proxy_request_free(&req);
}

/* Reads until parse says done; returns what parse returned, or -2 when the
 * client went away. */
static int read_socks(int fd, unsigned char *buf, size_t *len,
                      int (*parse)(const unsigned char *, size_t, void *), void *ctx)
{
    for (;;) {
        int r = parse(buf, *len, ctx);
        if (r != 0)
            return r;
        if (*len >= 600)
            return -1;
        ssize_t n = TEMP_FAILURE_RETRY(recv(fd, buf + *len, 600 - *len, 0));
        if (n <= 0)
            return -2;
        *len += (size_t)n;
    }
}

static int parse_greeting(const unsigned char *buf, size_t len, void *ctx)
{
    return socks5_parse_greeting(buf, len, ctx);
}

struct socks_ctx {
    struct proxy_request req;
    int reply;
    char why[200];
};

static int parse_request(const unsigned char *buf, size_t len, void *ctx)
{
    struct socks_ctx *c = ctx;
    return socks5_parse_request(buf, len, &c->req, &c->reply, c->why, sizeof c->why);
}

static void serve_socks(const struct proxy *px, int fd, unsigned char *buf, size_t len)
{
    bool no_auth = false;
    int took = read_socks(fd, buf, &len, parse_greeting, &no_auth);
    if (took < 0) {
        if (took == -1)
            log_refusal(px, "socks5", "", 0, "malformed SOCKS5 greeting");
        return;
    }
    static const unsigned char no_method[2] = {5, 0xff}, chosen[2] = {5, 0};
    if (!no_auth) {
        (void)send_all(fd, no_method, 2);
        return;
    }
    if (send_all(fd, chosen, 2) < 0)
        return;
    memmove(buf, buf + took, len - (size_t)took);
    len -= (size_t)took;
    struct socks_ctx c = {.reply = SOCKS5_FAILURE};
    snprintf(c.why, sizeof c.why, "malformed SOCKS5 request");
    int r = read_socks(fd, buf, &len, parse_request, &c);
    if (r == -2)
        return;
    if (r < 0) {
        log_refused_target(px, "socks5", c.req.shown, c.why);
        socks_answer(fd, c.reply);
        return;
    }
    struct verdict v;
    decide(px, c.req.host, c.req.port, &v);
    if (v.fd < 0) {
        if (v.denied)
            log_refusal(px, "socks5", c.req.host, c.req.port, v.reason);
        socks_answer(fd, v.denied ? SOCKS5_NOT_ALLOWED : SOCKS5_HOST_UNREACHABLE);
        return;
    }
    socks_answer(fd, SOCKS5_OK);
    relay_to(fd, v.fd, (const char *)buf + r, len - (size_t)r);
}

static void serve_client(const struct proxy *px, int fd)
{
    struct timeval tv = {.tv_sec = HEAD_TIMEOUT_SECONDS};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char *buf = malloc(PROXY_HEAD_MAX + 1);
    if (!buf)
        return;
    ssize_t n = TEMP_FAILURE_RETRY(recv(fd, buf, PROXY_HEAD_MAX, 0));
    if (n > 0) {
        /* SOCKS5 starts with its version byte; no HTTP method does. */
        if ((unsigned char)buf[0] == 5)
            serve_socks(px, fd, (unsigned char *)buf, (size_t)n);
        else
            serve_http(px, fd, buf, (size_t)n);
    }
    free(buf);
}

/* ---- the listener ---------------------------------------------------------------- */

static void on_child(int sig)
{
    (void)sig; /* only interrupts accept(), so that finished connections are reaped */
}

static void __attribute__((noreturn)) serve(const struct proxy *px, int listen_fd)
{
    prctl(PR_SET_NAME, "hutch-proxy", 0, 0, 0);
    /* The caller's blocked signals and handlers are not ours; a Ctrl-C meant
     * for the command must not cut its network (hutch stops us itself). */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_child}; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    unsigned active = 0;
    for (;;) {
        int status;
        while (active > 0 && waitpid(-1, &status, WNOHANG) > 0)
            active--;
        if (active >= MAX_CLIENTS && waitpid(-1, &status, 0) > 0)
            active--;
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                (void)poll(NULL, 0, 100);
            continue;
        }
        pid_t child = fork();
        if (child == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
            signal(SIGCHLD, SIG_DFL);
            close(listen_fd);
            serve_client(px, fd);
            _exit(0);
        }
        if (child > 0)
            active++;
        close(fd);
    }
}

/* ---- starting and stopping -------------------------------------------------------- */

int net_proxy_check_policy(const struct network_policy *net, hutch_error *err)
{
    for (size_t i = 0; i < net->allowed_addresses.len; i++) {
        struct net_cidr c;
        if (net_cidr_parse(net->allowed_addresses.items[i], &c) < 0)
            return error_set(err, HUTCH_E_INVALID,
                             "network.allowedAddresses: %s is not an address or range like "
                             "10.0.0.0/8",
                             net->allowed_addresses.items[i]);
    }
    for (size_t i = 0; i < net->hosts.len; i++) {
        char *canon = NULL;
        if (norm_host_mapping(net->hosts.items[i], &canon) < 0)
            return error_set(err, HUTCH_E_INVALID,
                             "network.hosts: %s is not NAME=ADDRESS like git.internal=10.0.0.5",
                             net->hosts.items[i]);
        free(canon);
    }
    return 0;
}

static int listen_on(const char *path, hutch_error *err)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    /* A deep state directory: bind through the directory's descriptor. */
    autoclose int dir_fd = -1;
    const char *slash = strrchr(path, '/');
    if (strlen(path) < sizeof sun.sun_path) {
        snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    } else {
        char dir[PATH_MAX];
        if (!slash || strlen(slash + 1) > 64 || (size_t)(slash - path) >= sizeof dir)
            return error_set(err, HUTCH_E_INVALID, "the proxy's socket path %s is too long",
                             path);
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
        dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
            return error_sys(err, errno, "cannot open %s", dir);
        snprintf(sun.sun_path, sizeof sun.sun_path, "/proc/self/fd/%d/%s", dir_fd, slash + 1);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return error_sys(err, errno, "cannot create the proxy's socket");
    (void)unlink(sun.sun_path);
    /* The sandbox's user connects; the directory around it keeps others out. */
    mode_t old = umask(0);
    int r = bind(fd, (struct sockaddr *)&sun, sizeof sun);
    umask(old);
    if (r < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        return error_sys(err, e, "cannot listen on %s", path);
    }
    return fd;
}

int net_proxy_start(const struct net_proxy_spec *spec, pid_t *pid, hutch_error *err)
{
    *pid = -1;
    if (net_proxy_check_policy(spec->net, err) < 0)
        return -1;
    struct proxy px = {.net = spec->net, .events_fd = spec->events_fd, .session = spec->session};
    px.n_ranges = spec->net->allowed_addresses.len;
    px.ranges = calloc(px.n_ranges + 1, sizeof *px.ranges);
    if (!px.ranges)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    for (size_t i = 0; i < px.n_ranges; i++)
        (void)net_cidr_parse(spec->net->allowed_addresses.items[i], &px.ranges[i]);
    px.logged = mmap(NULL, sizeof *px.logged, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                     -1, 0);
    if (px.logged == MAP_FAILED) {
        free(px.ranges);
        return error_sys(err, errno, "cannot set up the proxy");
    }
    int listen_fd = listen_on(spec->socket_path, err);
    if (listen_fd < 0) {
        free(px.ranges);
        munmap(px.logged, sizeof *px.logged);
        return -1;
    }
    pid_t parent = getpid();
    int ready[2] = {-1, -1};
    if (spec->detach && pipe2(ready, O_CLOEXEC) < 0) {
        int e = errno;
        close(listen_fd);
        free(px.ranges);
        munmap(px.logged, sizeof *px.logged);
        return error_sys(err, e, "cannot start the proxy");
    }
    pid_t child = fork();
    if (child == 0) {
        /* Only the listener, the events file and the report pipe stay open,
         * at 3, 4 and 5 (moved up first, so that none overwrites another). */
        int keep_listen = 3, keep_events = spec->events_fd >= 0 ? 4 : -1;
        int report = spec->detach ? 5 : -1;
        int l = fcntl(listen_fd, F_DUPFD_CLOEXEC, 10);
        int ev = spec->events_fd >= 0 ? fcntl(spec->events_fd, F_DUPFD_CLOEXEC, 10) : -1;
        int rep = spec->detach ? fcntl(ready[1], F_DUPFD_CLOEXEC, 10) : -1;
        if (l < 0 || dup3(l, keep_listen, O_CLOEXEC) < 0 ||
            (spec->events_fd >= 0 && (ev < 0 || dup3(ev, keep_events, O_CLOEXEC) < 0)) ||
            (spec->detach && (rep < 0 || dup3(rep, report, O_CLOEXEC) < 0)))
            _exit(1);
        (void)syscall(SYS_close_range, spec->detach ? 6U : (keep_events >= 0 ? 5U : 4U), ~0U, 0U);
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int i = 0; i < 3 && null >= 0; i++)
            (void)dup2(null, i);
        if (null > 2)
            close(null);
        px.events_fd = keep_events;
        /* The proxy parses what the sandbox sends: it does so as nobody,
         * with everything it needs from root (socket, log) already open. */
        if (geteuid() == 0 &&
            (setgroups(0, NULL) < 0 || setresgid(PROXY_ID, PROXY_ID, PROXY_ID) < 0 ||
             setresuid(PROXY_ID, PROXY_ID, PROXY_ID) < 0))
            _exit(1);
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        if (spec->detach) {
            /* Nobody's child: a session's proxy outlives the command that started it. */
            setsid();
            pid_t grandchild = fork();
            if (grandchild != 0) {
                if (grandchild > 0)
                    (void)!write(report, &grandchild, sizeof grandchild);
                _exit(grandchild > 0 ? 0 : 1);
            }
            close(report);
        } else {
            prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
            if (getppid() != parent)
                _exit(1);
        }
        serve(&px, keep_listen);
    }
    int e = errno;
    close(listen_fd);
    free(px.ranges);
    munmap(px.logged, sizeof *px.logged);
    if (child < 0) {
        if (spec->detach) {
            close(ready[0]);
            close(ready[1]);
        }
        return error_sys(err, e, "cannot start the proxy");
    }
    if (!spec->detach) {
        *pid = child;
        return 0;
    }
    close(ready[1]);
    pid_t daemon = -1;
    ssize_t got = TEMP_FAILURE_RETRY(read(ready[0], &daemon, sizeof daemon));
    close(ready[0]);
    int status;
    (void)TEMP_FAILURE_RETRY(waitpid(child, &status, 0));
    if (got != sizeof daemon || daemon <= 0)
        return error_set(err, HUTCH_E_SYSTEM, "the proxy process did not start");
    *pid = daemon;
    return 0;
}

void net_proxy_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    (void)kill(pid, SIGKILL);
    int status;
    (void)TEMP_FAILURE_RETRY(waitpid(pid, &status, 0));
}

/* ---- reading a run's refusals -------------------------------------------------------- */

int net_proxy_denied_since(int fd, off_t offset, size_t max, struct strlist *list)
{
    /* A run reads at most this much of the log: its own refusals come first
     * and the proxy logs a bounded number of them. */
    enum { READ_MAX = 1 << 20 };
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= offset)
        return 0;
    size_t want = (size_t)(st.st_size - offset);
    if (want > READ_MAX)
        want = READ_MAX;
    autofree char *buf = malloc(want + 1);
    if (!buf)
        return -1;
    ssize_t n = TEMP_FAILURE_RETRY(pread(fd, buf, want, offset));
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        else
            break; /* a line still being written */
        json_t *ev = json_loads(line, 0, NULL);
        const char *kind = json_string_value(json_object_get(ev, "event"));
        const char *host = json_string_value(json_object_get(ev, "host"));
        if (kind && strcmp(kind, "network_denied") == 0 && host && list->len < max &&
            !strlist_contains(list, host[0] ? host : "(malformed request)"))
            (void)strlist_push(list, host[0] ? host : "(malformed request)");
        json_decref(ev);
        line = nl + 1;
    }
    return 0;
}

int net_proxy_env(struct strlist *env)
{
    char http[64], socks[64];
    snprintf(http, sizeof http, "http://127.0.0.1:%d", BRIDGE_HTTP_PORT);
    snprintf(socks, sizeof socks, "socks5h://127.0.0.1:%d", BRIDGE_SOCKS_PORT);
    static const char *const names[][2] = {
        {"HTTP_PROXY", "http_proxy"}, {"HTTPS_PROXY", "https_proxy"},
        {"ALL_PROXY", "all_proxy"},   {"NO_PROXY", "no_proxy"},
    };
    const char *values[] = {http, http, socks, "localhost,127.0.0.1,::1"};
    int r = 0;
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        for (int c = 0; c < 2; c++)
            r |= strlist_set_env(env, names[i][c], strlen(names[i][c]), values[i]);
    return r;
}

/* ---- a one-shot run's proxy ------------------------------------------------------------ */

int net_run_proxy_start(const struct hutch_policy *p, uid_t uid, gid_t gid,
                        struct net_run_proxy *rp, hutch_error *err)
{
    rp->dir[0] = '\0';
    rp->pid = -1;
    rp->events_fd = -1;
    const char *base = getenv("XDG_RUNTIME_DIR");
    if (!base || base[0] != '/' || strlen(base) > 60 || access(base, W_OK | X_OK) < 0)
        base = "/tmp";
    snprintf(rp->dir, sizeof rp->dir, "%s/hutch-net-XXXXXX", base);
    if (!mkdtemp(rp->dir)) {
        int e = errno;
        rp->dir[0] = '\0';
        return error_sys(err, e, "cannot create a directory for the network proxy in %s", base);
    }
    if (uid != (uid_t)-1 ? chown(rp->dir, uid, gid) < 0 : chmod(rp->dir, 0711) < 0) {
        int e = errno;
        net_run_proxy_finish(rp, NULL);
        return error_sys(err, e, "cannot hand %s to the sandbox's user", rp->dir);
    }
    rp->events_fd = memfd_create("hutch-network-events", MFD_CLOEXEC);
    if (rp->events_fd < 0) {
        int e = errno;
        net_run_proxy_finish(rp, NULL);
        return error_sys(err, e, "cannot create the network proxy's event file");
    }
    char sock[sizeof rp->dir + sizeof PROXY_SOCKET_NAME + 1];
    snprintf(sock, sizeof sock, "%s/%s", rp->dir, PROXY_SOCKET_NAME);
    struct net_proxy_spec spec = {
        .net = &p->network, .socket_path = sock, .events_fd = rp->events_fd, .detach = false};
    if (net_proxy_start(&spec, &rp->pid, err) < 0) {
        net_run_proxy_finish(rp, NULL);
        return -1;
    }
    return 0;
}

void net_run_proxy_finish(struct net_run_proxy *rp, hutch_result *r)
{
    net_proxy_stop(rp->pid);
    rp->pid = -1;
    if (r && rp->events_fd >= 0) {
        struct strlist hosts = {0};
        (void)net_proxy_denied_since(rp->events_fd, 0, 64, &hosts);
        result_take_network_denied(r, &hosts);
        strlist_clear(&hosts);
    }
    close_fd(&rp->events_fd);
    if (rp->dir[0]) {
        char sock[sizeof rp->dir + sizeof PROXY_SOCKET_NAME + 1];
        snprintf(sock, sizeof sock, "%s/%s", rp->dir, PROXY_SOCKET_NAME);
        (void)unlink(sock);
        (void)rmdir(rp->dir);
        rp->dir[0] = '\0';
    }
}
