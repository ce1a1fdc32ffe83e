/* Moving bytes both ways between two connected sockets, with half-close:
 * when one side finishes sending, the other side's write end is shut once
 * everything read was delivered. Used by the host proxy (one pair per
 * process, relay_run) and the in-sandbox bridge (many pairs in one loop). */
#ifndef HUTCH_NET_RELAY_H
#define HUTCH_NET_RELAY_H

#include <stdbool.h>
#include <stddef.h>

#define RELAY_BUF 16384

struct relay_dir {
    char data[RELAY_BUF];
    size_t start, end; /* bytes waiting to be written: data[start..end) */
    bool eof;          /* the reading side reached end of file */
    bool shut;         /* the writing side's write end was shut */
};

struct relay_pair {
    int fd[2];
    struct relay_dir dir[2]; /* dir[i]: read from fd[i], written to fd[1 - i] */
    bool failed;
};

/* The fds are sockets (blocking or not: every call passes MSG_DONTWAIT);
 * the pair owns them from now on. */
void relay_pair_init(struct relay_pair *p, int a, int b);

/* The poll events each fd waits for now. */
void relay_pair_events(const struct relay_pair *p, short events[2]);

/* Handles what poll reported; true while the pair has work left. */
bool relay_pair_step(struct relay_pair *p, const short revents[2]);

void relay_pair_close(struct relay_pair *p);

/* Relays until both directions are done (blocking, for one pair); closes the fds. */
void relay_run(int a, int b);

#endif
