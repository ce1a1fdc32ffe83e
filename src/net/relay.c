#include "net/relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/util.h"

void relay_pair_init(struct relay_pair *p, int a, int b)
{
    memset(p, 0, sizeof *p);
    p->fd[0] = a;
    p->fd[1] = b;
}

void relay_pair_events(const struct relay_pair *p, short events[2])
{
    events[0] = events[1] = 0;
    if (p->failed)
        return;
    for (int i = 0; i < 2; i++) {
        const struct relay_dir *d = &p->dir[i];
        if (d->start < d->end)
            events[1 - i] |= POLLOUT;
        else if (!d->eof)
            events[i] |= POLLIN;
    }
}

/* Writes what dir i holds to the other side; false on a hard error. */
static bool flush_dir(struct relay_pair *p, int i)
{
    struct relay_dir *d = &p->dir[i];
    while (d->start < d->end) {
        ssize_t n = send(p->fd[1 - i], d->data + d->start, d->end - d->start,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR;
        d->start += (size_t)n;
    }
    d->start = d->end = 0;
    if (d->eof && !d->shut) {
        (void)shutdown(p->fd[1 - i], SHUT_WR);
        d->shut = true;
    }
    return true;
}

static bool fill_dir(struct relay_pair *p, int i)
{
    struct relay_dir *d = &p->dir[i];
    if (d->eof || d->end == sizeof d->data)
        return true;
    ssize_t n = recv(p->fd[i], d->data + d->end, sizeof d->data - d->end, MSG_DONTWAIT);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    if (n == 0)
        d->eof = true;
    d->end += (size_t)n;
    return true;
}

bool relay_pair_step(struct relay_pair *p, const short revents[2])
{
    if (p->failed)
        return false;
    for (int i = 0; i < 2; i++) {
        if (revents[i] & (POLLIN | POLLHUP | POLLERR))
            if (!fill_dir(p, i))
                p->failed = true;
    }
    for (int i = 0; i < 2 && !p->failed; i++)
        if (!flush_dir(p, i))
            p->failed = true;
    /* A side that reset while the other still waits: nothing more can pass. */
    for (int i = 0; i < 2; i++)
        if ((revents[i] & POLLERR) && !(revents[i] & POLLIN))
            p->failed = true;
    return !p->failed && !(p->dir[0].shut && p->dir[1].shut);
}

void relay_pair_close(struct relay_pair *p)
{
    for (int i = 0; i < 2; i++)
        close_fd(&p->fd[i]);
}

void relay_run(int a, int b)
{
    struct relay_pair *p = malloc(sizeof *p);
    if (!p) {
        close(a);
        close(b);
        return;
    }
    relay_pair_init(p, a, b);
    bool active = true;
    while (active) {
        short ev[2];
        relay_pair_events(p, ev);
        /* An fd with nothing to wait for is left out: its POLLHUP would spin. */
        struct pollfd pfd[2] = {{.fd = ev[0] ? a : -1, .events = ev[0]},
                                {.fd = ev[1] ? b : -1, .events = ev[1]}};
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        short rev[2] = {pfd[0].revents, pfd[1].revents};
        active = relay_pair_step(p, rev);
    }
    relay_pair_close(p);
    free(p);
}
