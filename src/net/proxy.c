#include "net/proxy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <jansson.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/file.h>
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
#include "proxy_seccomp_bpf.h"
#include "base/result.h"

#define MAX_CLIENTS 128           /* connections served at once */
#define HEAD_TIMEOUT_SECONDS 30   /* to send a complete request */
#define CONNECT_TIMEOUT_MS 10000  /* per address */
#define MAX_LOGGED_EVENTS 10000   /* a flood of refusals must not fill the disk */

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
    utc_timestamp(when);
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
    fmt_trunc(host, sizeof host, "%s", shown); /* for the log */
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
    size_t blen = fmt_trunc(body, sizeof body, "hutch: %s\n", message); /* for people: cut */
    /* The head is a protocol: whole, or not sent. */
    if (!fmt_fits(head, sizeof head,
                  "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                  "Content-Length: %zu\r\nConnection: close\r\nX-Hutch-Network: %s\r\n\r\n",
                  status, status_text(status), blen, status == 403 ? "denied" : "error"))
        return;
    (void)send_all(fd, head, strlen(head));
    (void)send_all(fd, body, blen);
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
        fmt_trunc(out, len, "?");
}

/* The whole decision for host:port: rules, one resolution, address checks,
 * then a connection to an address that passed. */
static void decide(const struct proxy *px, const char *host, uint16_t port, struct verdict *v)
{
    v->fd = -1;
    v->denied = true;
    switch (net_domain_check(&px->net->allowed_domains, &px->net->denied_domains, host)) {
    case NET_DENIED_BY_RULE:
        fmt_trunc(v->reason, sizeof v->reason, "denied by network.deniedDomains");
        fmt_trunc(v->message, sizeof v->message,
                  "network access to %s is denied by the sandbox's policy (network.deniedDomains)",
                  host);
        return;
    case NET_NOT_ALLOWED:
        fmt_trunc(v->reason, sizeof v->reason, "not in network.allowedDomains");
        fmt_trunc(v->message, sizeof v->message,
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
        fmt_bounded(service, "%u", (unsigned)port);
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_NUMERICSERV};
        int gai = getaddrinfo(host, service, &hints, &list);
        if (gai != 0) {
            v->denied = false;
            fmt_trunc(v->message, sizeof v->message, "cannot resolve %s: %s", host,
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
                fmt_trunc(refused_reason, sizeof refused_reason, "resolves to a %s address (%s)",
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
        fmt_trunc(v->message, sizeof v->message, "cannot connect to %s port %u: %s", host,
                  (unsigned)port, strerror(last_errno ? last_errno : EHOSTUNREACH));
        return;
    }
    fmt_trunc(v->reason, sizeof v->reason, "%s", refused_reason);
    fmt_trunc(v->message, sizeof v->message,
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
    hutch_error err;
    error_set(&err, HUTCH_E_INVALID, "malformed request");
    int r;
    for (;;) {
        r = http_proxy_parse(buf, len, &req, &status, &err);
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
        log_refused_target(px, protocol, req.shown, err.message);
        char message[400];
        fmt_trunc(message, sizeof message, "request refused: %s%s%s", err.message,
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
    hutch_error err;
};

static int parse_request(const unsigned char *buf, size_t len, void *ctx)
{
    struct socks_ctx *c = ctx;
    return socks5_parse_request(buf, len, &c->req, &c->reply, &c->err);
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
    error_set(&c.err, HUTCH_E_INVALID, "malformed SOCKS5 request");
    int r = read_socks(fd, buf, &len, parse_request, &c);
    if (r == -2)
        return;
    if (r < 0) {
        log_refused_target(px, "socks5", c.req.shown, c.err.message);
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

/* ---- who the proxy is -------------------------------------------------------------- */

#define NOBODY_ID 65534        /* native sandboxes of root run as nobody */
#define DOCKER_DEFAULT_ID 1000 /* and containers as 1000 */

/* The uid a --user or docker.user value names ("UID[:GID]"), or (uid_t)-1. */
static uid_t named_uid(const char *user)
{
    if (!user || !isdigit((unsigned char)user[0]))
        return (uid_t)-1;
    return (uid_t)strtoul(user, NULL, 10);
}

struct proxy_identity {
    bool change; /* hutch is root: the proxy becomes uid:gid */
    uid_t uid;
    gid_t gid;
};

/* When hutch is root, the proxy's own identity: the system user hutch-proxy,
 * or else NET_PROXY_FALLBACK_ID for both ids, which no account or group may
 * use. Neither may be root, nobody, or a uid the sandboxes run as: a process
 * of the sandbox's uid could signal the proxy, or wait for it to misbehave. */
static int proxy_identity(const struct hutch_policy *p, struct proxy_identity *id,
                          hutch_error *err)
{
    id->change = geteuid() == 0;
    id->uid = geteuid();
    id->gid = getegid();
    if (!id->change)
        return 0; /* it cannot change; the filter and the rest still apply */
    enum { BUF = 1 << 16 };
    autofree char *buf = malloc(BUF);
    if (!buf)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    struct passwd pw, *user = NULL;
    int e = getpwnam_r(NET_PROXY_USER, &pw, buf, BUF, &user);
    const char *who;
    if (user) {
        id->uid = pw.pw_uid;
        id->gid = pw.pw_gid;
        who = "the user " NET_PROXY_USER;
    } else if (e != 0 && e != ENOENT && e != ESRCH) {
        return error_sys(err, e, "cannot look up the user %s for the network proxy",
                         NET_PROXY_USER);
    } else {
        id->uid = id->gid = NET_PROXY_FALLBACK_ID;
        who = "the network proxy's identity";
        struct group gr, *group = NULL;
        /* Taken, or cannot be told free: either way not the proxy's. */
        e = getpwuid_r(NET_PROXY_FALLBACK_ID, &pw, buf, BUF, &user);
        bool uid_taken = user || (e != 0 && e != ENOENT && e != ESRCH);
        if (!uid_taken) {
            e = getgrgid_r(NET_PROXY_FALLBACK_ID, &gr, buf, BUF, &group);
            if (group || (e != 0 && e != ENOENT && e != ESRCH)) {
                char owner[300];
                fmt_trunc(owner, sizeof owner, "the group %s", group ? gr.gr_name : "(unreadable)");
                return error_set(err, HUTCH_E_SYSTEM,
                                 "gid %u, which the network proxy runs as when there is no user "
                                 "%s, belongs to %s: create a system user for the proxy "
                                 "(useradd --system --user-group --no-create-home --shell "
                                 "/usr/sbin/nologin %s)",
                                 NET_PROXY_FALLBACK_ID, NET_PROXY_USER, owner, NET_PROXY_USER);
            }
        } else {
            return error_set(err, HUTCH_E_SYSTEM,
                             "uid %u, which the network proxy runs as when there is no user "
                             "%s, belongs to %s: create a system user for the proxy "
                             "(useradd --system --user-group --no-create-home --shell "
                             "/usr/sbin/nologin %s)",
                             NET_PROXY_FALLBACK_ID, NET_PROXY_USER,
                             user ? pw.pw_name : "an account that cannot be read",
                             NET_PROXY_USER);
        }
    }
    uid_t taken[] = {0, NOBODY_ID, DOCKER_DEFAULT_ID, named_uid(p->user),
                     named_uid(p->docker.user)};
    for (size_t i = 0; i < ARRAY_SIZE(taken); i++)
        if (id->uid == taken[i] || id->gid == (gid_t)taken[i])
            return error_set(err, i < 3 ? HUTCH_E_SYSTEM : HUTCH_E_INVALID,
                             "%s is %u:%u, which %s: the proxy needs ids that no sandbox "
                             "runs as (give %s a uid and group of its own, or choose another "
                             "--user)",
                             who, (unsigned)id->uid, (unsigned)id->gid,
                             i == 0   ? "is root's"
                             : i == 1 ? "is nobody's, the native sandbox's"
                             : i == 2 ? "is the docker backend's default user"
                                      : "the sandbox's user (--user) has",
                             NET_PROXY_USER);
    return 0;
}

/* Every capability set emptied: the bounding set while root still may, the
 * others after the uid changed (setresuid already cleared them for root). An
 * unprivileged caller cannot empty its bounding set, and needs not: with
 * no_new_privs and no exec, nothing can raise a capability from it. */
static int drop_bounding(bool root)
{
    for (int cap = 0; cap < 64; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL)
                break; /* past the kernel's last capability */
            if (!root && errno == EPERM)
                break;
            return -1;
        }
    return 0;
}

static int drop_capabilities(void)
{
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return -1;
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2] = {{0, 0, 0}, {0, 0, 0}};
    if (syscall(SYS_capset, &header, data) < 0 || syscall(SYS_capget, &header, data) < 0)
        return -1;
    for (int i = 0; i < 2; i++)
        if (data[i].effective || data[i].permitted || data[i].inheritable) {
            errno = EPERM;
            return -1;
        }
    return 0;
}

static int load_filter(void)
{
    struct sock_fprog prog = {.len = (unsigned short)ARRAY_SIZE(hutch_proxy_seccomp),
                              .filter = (struct sock_filter *)hutch_proxy_seccomp};
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
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

/* What the proxy's first process tells net_proxy_start: the pid that serves,
 * or the step that failed. */
struct proxy_report {
    pid_t pid; /* > 0: serving */
    int err;
    bool in_dir; /* the step concerns the socket's directory */
    char step[64];
};

static void __attribute__((noreturn)) report_failure(int fd, const char *step, bool in_dir)
{
    struct proxy_report rep = {.pid = -1, .err = errno, .in_dir = in_dir};
    fmt_trunc(rep.step, sizeof rep.step, "%s", step); /* for a message */
    (void)!write(fd, &rep, sizeof rep);
    _exit(1);
}

/* In the new process, still as the caller: the socket is made in the directory
 * the descriptor holds (the working directory, so that no path can lead
 * elsewhere, and no umask change can touch the caller's other threads). */
static int listen_in(const struct net_proxy_spec *spec, int report)
{
    if (fchdir(spec->dir_fd) < 0)
        report_failure(report, "cannot enter its directory", true);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        report_failure(report, "cannot create its socket", true);
    struct sockaddr_un sun = {.sun_family = AF_UNIX, .sun_path = PROXY_SOCKET_NAME};
    (void)unlink(PROXY_SOCKET_NAME); /* a stale one: never followed, it is the last part */
    umask(~spec->socket_mode & 0777);
    if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0)
        report_failure(report, "cannot bind its socket", true);
    if (spec->socket_uid != (uid_t)-1 &&
        fchownat(AT_FDCWD, PROXY_SOCKET_NAME, spec->socket_uid, spec->socket_gid,
                 AT_SYMLINK_NOFOLLOW) < 0)
        report_failure(report, "cannot hand its socket to the sandbox's user", true);
    if (listen(fd, 128) < 0)
        report_failure(report, "cannot listen on its socket", true);
    if (chdir("/") < 0)
        report_failure(report, "cannot leave its directory", true);
    return fd;
}

/* The new process, from fork to serving: its socket, only its descriptors,
 * its own identity, no capabilities, no_new_privs, not dumpable, its filter. */
static void __attribute__((noreturn))
become_proxy(const struct net_proxy_spec *spec, const struct proxy_identity *id,
             struct proxy *px, int report_fd, pid_t parent)
{
    int listen_fd = listen_in(spec, report_fd);
    /* Only the listener, the events file and the report pipe stay open,
     * at 3, 4 and 5 (moved up first, so that none overwrites another). */
    int keep_listen = 3, keep_events = spec->events_fd >= 0 ? 4 : -1, report = 5;
    int l = fcntl(listen_fd, F_DUPFD_CLOEXEC, 10);
    int ev = spec->events_fd >= 0 ? fcntl(spec->events_fd, F_DUPFD_CLOEXEC, 10) : -1;
    int rep = fcntl(report_fd, F_DUPFD_CLOEXEC, 10);
    if (rep < 0 || dup3(rep, report, O_CLOEXEC) < 0)
        _exit(1);
    if (l < 0 || dup3(l, keep_listen, O_CLOEXEC) < 0 ||
        (spec->events_fd >= 0 && (ev < 0 || dup3(ev, keep_events, O_CLOEXEC) < 0)))
        report_failure(report, "cannot arrange its descriptors", false);
    (void)syscall(SYS_close_range, 6U, ~0U, 0U);
    if (keep_events < 0)
        close(4);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int i = 0; i < 3 && null >= 0; i++)
        (void)dup2(null, i);
    if (null > 2)
        close(null);
    px->events_fd = keep_events;

    /* The proxy parses what the sandbox sends: it does so as its own user,
     * with everything it needs from the caller (socket, log) already open. */
    if (drop_bounding(id->change) < 0)
        report_failure(report, "cannot drop its capabilities", false);
    if (id->change && (setgroups(0, NULL) < 0 || setresgid(id->gid, id->gid, id->gid) < 0 ||
                       setresuid(id->uid, id->uid, id->uid) < 0))
        report_failure(report, "cannot change to its own user", false);
    if (drop_capabilities() < 0)
        report_failure(report, "cannot drop its capabilities", false);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        report_failure(report, "cannot set no_new_privs", false);
    /* Not dumpable: other processes of its uid (an unprivileged caller's,
     * or other proxies) cannot read its memory or descriptors. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        report_failure(report, "cannot make itself non-dumpable", false);
    prctl(PR_SET_NAME, "hutch-proxy", 0, 0, 0);
    if (spec->detach) {
        /* Its own session: a session's proxy outlives the command that started it. */
        if (setsid() < 0)
            report_failure(report, "cannot start a session", false);
    } else {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (getppid() != parent) {
            errno = ESRCH;
            report_failure(report, "its parent is gone", false);
        }
    }
    if (load_filter() < 0)
        report_failure(report, "cannot load its seccomp filter", false);
    struct proxy_report ok = {.pid = getpid()};
    if (spec->detach) {
        ok.pid = fork();
        if (ok.pid != 0) {
            if (ok.pid < 0)
                report_failure(report, "cannot fork", false);
            (void)!write(report, &ok, sizeof ok);
            _exit(0);
        }
    } else {
        (void)!write(report, &ok, sizeof ok);
    }
    close(report);
    serve(px, keep_listen);
}

int net_proxy_start(const struct net_proxy_spec *spec, pid_t *pid, hutch_error *err)
{
    *pid = -1;
    const struct network_policy *net = &spec->policy->network;
    struct proxy_identity id;
    if (net_proxy_check_policy(net, err) < 0 || proxy_identity(spec->policy, &id, err) < 0)
        return -1;
    struct proxy px = {.net = net, .events_fd = spec->events_fd, .session = spec->session};
    px.n_ranges = net->allowed_addresses.len;
    px.ranges = calloc(px.n_ranges + 1, sizeof *px.ranges);
    if (!px.ranges)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    for (size_t i = 0; i < px.n_ranges; i++)
        (void)net_cidr_parse(net->allowed_addresses.items[i], &px.ranges[i]);
    px.logged = mmap(NULL, sizeof *px.logged, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                     -1, 0);
    if (px.logged == MAP_FAILED) {
        free(px.ranges);
        return error_sys(err, errno, "cannot set up the proxy");
    }
    pid_t parent = getpid();
    int ready[2] = {-1, -1};
    pid_t child = -1;
    int e = 0;
    if (pipe2(ready, O_CLOEXEC) < 0 || (child = fork()) < 0)
        e = errno;
    if (child == 0) {
        close(ready[0]);
        become_proxy(spec, &id, &px, ready[1], parent);
    }
    free(px.ranges);
    munmap(px.logged, sizeof *px.logged);
    close_fd(&ready[1]);
    if (child < 0) {
        close_fd(&ready[0]);
        return error_sys(err, e, "cannot start the network proxy");
    }
    struct proxy_report rep = {.pid = -1};
    ssize_t got = TEMP_FAILURE_RETRY(read(ready[0], &rep, sizeof rep));
    close_fd(&ready[0]);
    bool serving = got == (ssize_t)sizeof rep && rep.pid > 0;
    if (spec->detach || !serving) {
        int status;
        (void)TEMP_FAILURE_RETRY(waitpid(child, &status, 0));
    }
    if (!serving) {
        if (got == (ssize_t)sizeof rep && rep.step[0])
            return error_sys(err, rep.err, "the network proxy %s%s%s", rep.step,
                             rep.in_dir ? " in " : "", rep.in_dir ? spec->dir : "");
        return error_set(err, HUTCH_E_SYSTEM, "the network proxy process did not start");
    }
    *pid = rep.pid;
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
    fmt_bounded(http, "http://127.0.0.1:%d", BRIDGE_HTTP_PORT);
    fmt_bounded(socks, "socks5h://127.0.0.1:%d", BRIDGE_SOCKS_PORT);
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

#define RUN_DIR_PREFIX "hutch-net-"
#define STALE_SECONDS 60 /* a run makes and locks its directory within microseconds */

/* $XDG_RUNTIME_DIR when it is the caller's own and closed to others, else /tmp:
 * a directory where nobody else can rename the run's directory away. */
static const char *run_dir_base(void)
{
    const char *base = getenv("XDG_RUNTIME_DIR");
    struct stat st;
    if (base && base[0] == '/' && strlen(base) <= 60 && lstat(base, &st) == 0 &&
        S_ISDIR(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & 0022) &&
        access(base, W_OK | X_OK) == 0)
        return base;
    return "/tmp";
}

/* True when something accepts connections on the socket in dir_fd: the
 * proxy of a run that holds no lock (an older hutch's) is alive. */
static bool socket_answers(int dir_fd)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    fmt_bounded(sun.sun_path, "/proc/self/fd/%d/%s", dir_fd, PROXY_SOCKET_NAME);
    autoclose int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return true; /* cannot tell: keep it */
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0)
        return true;
    return errno != ECONNREFUSED && errno != ENOENT;
}

/* Removes the directories of runs that died without cleaning up (SIGKILL):
 * in base, the caller's, unlocked (a live run holds its lock), older than a
 * run takes to lock its own, and with no proxy answering. Nothing is
 * followed: all goes through descriptors, and only the caller's own
 * directories are touched. */
static void remove_stale_dirs(const char *base)
{
    autoclose int base_fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (base_fd < 0)
        return;
    int list_fd = fcntl(base_fd, F_DUPFD_CLOEXEC, 0);
    DIR *d = list_fd >= 0 ? fdopendir(list_fd) : NULL;
    if (!d) {
        if (list_fd >= 0)
            close(list_fd);
        return;
    }
    time_t now = wall_seconds();
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, RUN_DIR_PREFIX, strlen(RUN_DIR_PREFIX)) != 0 ||
            (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
            continue;
        autoclose int fd = openat(base_fd, de->d_name,
                                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || st.st_uid != geteuid() ||
            st.st_mtime > now - STALE_SECONDS || flock(fd, LOCK_EX | LOCK_NB) < 0 ||
            socket_answers(fd))
            continue;
        (void)unlinkat(fd, PROXY_SOCKET_NAME, 0);
        (void)unlinkat(base_fd, de->d_name, AT_REMOVEDIR);
    }
    closedir(d);
}

int net_run_proxy_start(const struct hutch_policy *p, uid_t uid, gid_t gid,
                        struct net_run_proxy *rp, hutch_error *err)
{
    rp->dir[0] = '\0';
    rp->pid = -1;
    rp->events_fd = -1;
    rp->dir_fd = -1;
    const char *base = run_dir_base();
    remove_stale_dirs(base);
    if (fmt_checked(err, rp->dir, sizeof rp->dir, "%s/" RUN_DIR_PREFIX "XXXXXX", base) < 0) {
        error_prefix(err, "the network proxy's directory");
        return -1;
    }
    if (!mkdtemp(rp->dir)) {
        int e = errno;
        rp->dir[0] = '\0';
        return error_sys(err, e, "cannot create a directory for the network proxy in %s", base);
    }
    /* Made 0700 by the caller, and it stays the caller's: the socket is bound
     * through this descriptor, and only then is the directory opened for
     * reading, never for writing. */
    struct stat st;
    rp->dir_fd = open(rp->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int e = rp->dir_fd < 0 || fstat(rp->dir_fd, &st) < 0        ? errno
            : st.st_uid != geteuid() || (st.st_mode & 0077)    ? EPERM
            : flock(rp->dir_fd, LOCK_EX | LOCK_NB) < 0         ? errno
                                                               : 0;
    if (e) {
        net_run_proxy_finish(rp, NULL);
        return error_sys(err, e, "cannot take the network proxy's directory %s", rp->dir);
    }
    rp->events_fd = memfd_create("hutch-network-events", MFD_CLOEXEC);
    if (rp->events_fd < 0) {
        e = errno;
        net_run_proxy_finish(rp, NULL);
        return error_sys(err, e, "cannot create the network proxy's event file");
    }
    /* Who may connect: the sandbox's user (the caller's own uid needs no
     * change), or for a container, whose user may be anyone, everybody. */
    bool anyone = uid == (uid_t)-1;
    bool hand = !anyone && uid != geteuid();
    struct net_proxy_spec spec = {
        .policy = p,
        .dir_fd = rp->dir_fd,
        .dir = rp->dir,
        .socket_mode = anyone ? 0666 : 0600,
        .socket_uid = hand ? uid : (uid_t)-1,
        .socket_gid = hand ? gid : (gid_t)-1,
        .events_fd = rp->events_fd,
        .detach = false,
    };
    if (net_proxy_start(&spec, &rp->pid, err) < 0) {
        net_run_proxy_finish(rp, NULL);
        return -1;
    }
    /* Now others may look in (the sandbox's user, or a container's, reaches
     * the socket through it), and still nobody but the caller can change it. */
    if ((anyone || hand) && fchmod(rp->dir_fd, 0755) < 0) {
        e = errno;
        net_run_proxy_finish(rp, NULL);
        return error_sys(err, e, "cannot open %s to the sandbox's user", rp->dir);
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
        if (rp->dir_fd >= 0)
            (void)unlinkat(rp->dir_fd, PROXY_SOCKET_NAME, 0);
        (void)rmdir(rp->dir);
        rp->dir[0] = '\0';
        /* The lock goes last: until the directory is gone, it is this run's. */
        close_fd(&rp->dir_fd);
    }
}
