#include "net/bridge.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "drivers/native/caps.h"
#include "net/relay.h"
#include "base/util.h"

#define BRIDGE_MAX_PAIRS 128

static int listen_local(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int connect_proxy(const struct sockaddr_un *sun)
{
    /* Non-blocking: a unix connect either completes at once or finds the
     * proxy's backlog full (EAGAIN), and the loop must never wait on it. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (TEMP_FAILURE_RETRY(connect(fd, (const struct sockaddr *)sun, sizeof *sun)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* An HTTP client is told why, rather than getting an empty reply. */
static void unreachable(int client, const char *path, int err)
{
    char body[300], reply[512];
    if (!fmt_fits(body, sizeof body,
                  "hutch: the sandbox cannot reach the network proxy at %s (%s); under "
                  "gVisor, runsc needs --host-uds=open (" HUTCH_DOCDIR "/docs/network.md)\n",
                  path, strerror(err)))
        return;
    if (fmt_fits(reply, sizeof reply,
                 "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: "
                 "%zu\r\nConnection: close\r\n\r\n%s",
                 strlen(body), body))
        (void)send(client, reply, strlen(reply), MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void __attribute__((noreturn)) serve(const int listeners[2], const struct sockaddr_un *sun)
{
    static struct relay_pair *pairs[BRIDGE_MAX_PAIRS];
    static struct pollfd pfd[2 + 2 * BRIDGE_MAX_PAIRS];
    size_t n_pairs = 0;
    for (;;) {
        nfds_t n = 0;
        bool room = n_pairs < BRIDGE_MAX_PAIRS;
        for (int i = 0; i < 2; i++)
            pfd[n++] = (struct pollfd){.fd = room ? listeners[i] : -1, .events = POLLIN};
        for (size_t i = 0; i < n_pairs; i++) {
            short ev[2];
            relay_pair_events(pairs[i], ev);
            for (int k = 0; k < 2; k++)
                pfd[n++] = (struct pollfd){.fd = ev[k] ? pairs[i]->fd[k] : -1, .events = ev[k]};
        }
        if (poll(pfd, n, -1) < 0)
            continue;
        for (size_t i = 0; i < n_pairs;) {
            short rev[2] = {pfd[2 + 2 * i].revents, pfd[3 + 2 * i].revents};
            if ((rev[0] || rev[1]) && !relay_pair_step(pairs[i], rev)) {
                relay_pair_close(pairs[i]);
                free(pairs[i]);
                /* Keep the poll slots in step: move the last pair here. */
                pairs[i] = pairs[n_pairs - 1];
                pfd[2 + 2 * i] = pfd[2 + 2 * (n_pairs - 1)];
                pfd[3 + 2 * i] = pfd[3 + 2 * (n_pairs - 1)];
                n_pairs--;
                continue;
            }
            i++;
        }
        for (int l = 0; l < 2; l++) {
            if (!(pfd[l].revents & POLLIN))
                continue;
            while (n_pairs < BRIDGE_MAX_PAIRS) {
                int client = accept4(listeners[l], NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (client < 0)
                    break;
                int upstream = connect_proxy(sun);
                if (upstream < 0 && l == 0)
                    unreachable(client, sun->sun_path, errno);
                struct relay_pair *p = upstream >= 0 ? malloc(sizeof *p) : NULL;
                if (!p) {
                    /* The client sees the connection close: nothing to reach. */
                    close(client);
                    if (upstream >= 0)
                        close(upstream);
                    continue;
                }
                relay_pair_init(p, client, upstream);
                pairs[n_pairs++] = p;
            }
        }
    }
}

pid_t bridge_start(const char *proxy_socket, bool die_with_parent)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(proxy_socket) >= sizeof sun.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sun.sun_path, proxy_socket, strlen(proxy_socket) + 1);
    int http = listen_local(BRIDGE_HTTP_PORT);
    if (http < 0)
        return -1;
    int socks = listen_local(BRIDGE_SOCKS_PORT);
    if (socks < 0) {
        int e = errno;
        close(http);
        errno = e;
        return -1;
    }
    pid_t parent = getpid();
    /* _Fork: a native sandbox's init runs in its caller's memory, whose
     * fork handlers are not its to run. */
    pid_t pid = _Fork();
    if (pid != 0) {
        int e = errno;
        close(http);
        close(socks);
        errno = e;
        return pid;
    }
    if (die_with_parent) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (getppid() != parent)
            _exit(0);
    }
    /* The listeners at 3 and 4, nothing else but /dev/null. */
    int h = fcntl(http, F_DUPFD_CLOEXEC, 10), s = fcntl(socks, F_DUPFD_CLOEXEC, 10);
    if (h < 0 || s < 0 || dup3(h, 3, O_CLOEXEC) < 0 || dup3(s, 4, O_CLOEXEC) < 0)
        _exit(1);
    (void)syscall(SYS_close_range, 5U, ~0U, 0U);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int i = 0; i < 3; i++) {
        if (null >= 0)
            (void)dup2(null, i);
        else
            close(i);
    }
    if (null > 2)
        close(null);
    prctl(PR_SET_NAME, "hutch-bridge", 0, 0, 0);
    /* hutch-init blocks the signals it reads from a signalfd: a stop must reach us. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Nothing here the command could borrow: no privileges to gain, none held. */
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    (void)caps_drop_all();
    const int listeners[2] = {3, 4};
    serve(listeners, &sun);
}
