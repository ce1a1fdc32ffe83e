/* Waiting for a command: drains stdout and stderr concurrently into their
 * sinks, enforces the wall-clock timeout (SIGTERM to every process, SIGKILL
 * after a grace period), forwards cancel signals, and reaps. Backends differ
 * only in how "every process" is signalled (a process group, a pid
 * namespace, a container), which they pass as signal_all. */
#ifndef HUTCH_SUPERVISE_H
#define HUTCH_SUPERVISE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/capture.h"
#include "base/error.h"

struct supervise_outcome;

struct supervise_spec {
    int pidfd;                /* the command's main process */
    int out_fd, err_fd;       /* pipe read ends (closed on return), or -1 */
    struct sink *out, *err;
    uint64_t timeout_ms;      /* 0: none */
    uint64_t grace_ms;        /* SIGTERM to SIGKILL */
    uint64_t drain_ms;        /* how long to wait for pipe EOF after exit */
    int cancel_fd;            /* -1, or readable byte = signal to forward */
    void (*signal_all)(void *ctx, int sig);
    void *ctx;
    /* Optional (-1 when unused): readable when the command has ended, before
     * the main process is reaped. on_exit_fd fills the outcome and returns 1
     * when nothing is left to wait for, 0 to go on waiting for pidfd. */
    int exit_fd;
    int (*on_exit_fd)(void *ctx, struct supervise_outcome *outcome);
    /* Optional (-1 when unused): bytes from in_src (the caller's stdin) are
     * copied to in_dst (the write end of the command's stdin pipe, which
     * supervise closes) while the command runs; nothing is read from
     * in_src after it has ended. */
    int in_src, in_dst;
    /* Optional (0: wait for ever): once SIGKILL went out (timeout or
     * cancel), how long the end may take to be reported before supervise
     * gives up on it (outcome.abandoned): for a command whose end only an
     * untrusted party reports (a session's agent). */
    uint64_t give_up_ms;
    /* 0, or a signal from cancel_fd that arrived before the command started
     * and is forwarded as supervise begins, its grace counted from then. */
    int forwarded;
};

struct supervise_outcome {
    bool exited;     /* else killed by signal */
    int code;        /* exit code when exited */
    int signal;      /* terminating signal when !exited */
    bool timed_out;
    int forwarded;   /* last signal forwarded from cancel_fd, 0 if none */
    bool abandoned;  /* give_up_ms passed without the end being reported */
};

/* A signal byte already waiting on cancel_fd (-1: none), taken; else 0.
 * Checked before a command starts: a cancelled run does not start it. */
int cancel_pending(int cancel_fd);

int supervise(const struct supervise_spec *spec, struct supervise_outcome *outcome,
              hutch_error *err);

#endif
