#include "base/supervise.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* Reads at most this many chunks per stream per wake-up, so a flood on one
 * stream cannot starve the other. */
#define PULLS_PER_WAKEUP 16

static int ms_until(double deadline, double now)
{
    if (deadline <= now)
        return 0;
    double d = deadline - now;
    return d > 1e9 ? 1000000000 : (int)d + 1;
}

static void pull_stream(int *fd, struct sink *sink, int *devnull)
{
    for (int i = 0; i < PULLS_PER_WAKEUP && *fd >= 0; i++) {
        long n = sink_pull(sink, *fd, devnull);
        if (n > 0)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        close_fd(fd); /* end of file, or an error reading: either way, done */
    }
}

/* A pipe that hung up with nothing in it (no POLLIN: Linux sets it while
 * anything is left) is at its end: closed without a read. A command that
 * writes nothing ends its run without two reads. */
static void stream_ready(int *fd, short revents, struct sink *sink, int *devnull)
{
    if ((revents & (POLLIN | POLLHUP)) == POLLHUP)
        close_fd(fd);
    else
        pull_stream(fd, sink, devnull);
}

/* What a pipe holds now, read out; nothing that arrives meanwhile: once
 * the command is gone, its own output is all in the pipe already. */
static void drain_now(int *fd, struct sink *sink, int *devnull)
{
    int left = 0;
    if (*fd < 0 || ioctl(*fd, FIONREAD, &left) < 0)
        return;
    while (left > 0) {
        uint64_t before = sink->total;
        long n = sink_pull(sink, *fd, devnull);
        if (n <= 0)
            break;
        left -= (int)(sink->total - before);
    }
}

/* The caller's stdin, relayed to the command's pipe. */
struct stdin_relay {
    int src, dst;
    char *buf;
    size_t len, off;
};

#define RELAY_CHUNK (64 * 1024)

static void relay_stop(struct stdin_relay *in)
{
    in->src = -1; /* the caller's: not ours to close */
    close_fd(&in->dst);
}

static void relay_read(struct stdin_relay *in)
{
    ssize_t n = TEMP_FAILURE_RETRY(read(in->src, in->buf, RELAY_CHUNK));
    if (n < 0 && errno == EAGAIN)
        return; /* a caller's non-blocking stdin: poll again */
    if (n <= 0) {
        relay_stop(in); /* end of input: the command sees it too */
        return;
    }
    in->len = (size_t)n;
    in->off = 0;
}

static void relay_write(struct stdin_relay *in)
{
    while (in->off < in->len) {
        ssize_t n = TEMP_FAILURE_RETRY(write(in->dst, in->buf + in->off, in->len - in->off));
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            relay_stop(in); /* the command closed its stdin */
            return;
        }
        in->off += (size_t)n;
    }
    in->len = in->off = 0;
}

int cancel_pending(int cancel_fd)
{
    if (cancel_fd < 0)
        return 0;
    struct pollfd pfd = {.fd = cancel_fd, .events = POLLIN};
    unsigned char sig;
    if (TEMP_FAILURE_RETRY(poll(&pfd, 1, 0)) == 1 && (pfd.revents & POLLIN) &&
        TEMP_FAILURE_RETRY(read(cancel_fd, &sig, 1)) == 1 && sig > 0 && sig < NSIG)
        return sig;
    return 0;
}

int supervise(const struct supervise_spec *spec, struct supervise_outcome *outcome,
              hutch_error *err)
{
    memset(outcome, 0, sizeof *outcome);
    autoclose int devnull = -1; /* see sink_pull */
    int out_fd = spec->out_fd, err_fd = spec->err_fd, cancel_fd = spec->cancel_fd;
    int exit_fd = spec->on_exit_fd ? spec->exit_fd : -1;
    bool reaped = false;
    double start = monotonic_ms();
    double deadline = spec->timeout_ms ? start + (double)spec->timeout_ms : 0;
    double kill_at = 0, drain_until = 0, give_up_at = 0;
    struct stdin_relay in = {.src = spec->in_dst >= 0 ? spec->in_src : -1, .dst = spec->in_dst};
    autofree char *in_buf = in.dst >= 0 ? malloc(RELAY_CHUNK) : NULL;
    if (in.dst >= 0 && !in_buf) {
        relay_stop(&in);
        close_fd(&out_fd);
        close_fd(&err_fd);
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    }
    in.buf = in_buf;
    if (spec->forwarded) {
        spec->signal_all(spec->ctx, spec->forwarded);
        outcome->forwarded = spec->forwarded;
        kill_at = start + (double)spec->grace_ms;
    }

    for (;;) {
        struct pollfd pfd[6];
        int n = 0, i_out = -1, i_err = -1, i_pid = -1, i_cancel = -1, i_exit = -1, i_in = -1;
        if (!reaped && in.dst >= 0)
            pfd[i_in = n++] = in.len ? (struct pollfd){.fd = in.dst, .events = POLLOUT}
                                     : (struct pollfd){.fd = in.src, .events = POLLIN};
        if (out_fd >= 0)
            pfd[i_out = n++] = (struct pollfd){.fd = out_fd, .events = POLLIN};
        if (err_fd >= 0)
            pfd[i_err = n++] = (struct pollfd){.fd = err_fd, .events = POLLIN};
        if (!reaped) {
            pfd[i_pid = n++] = (struct pollfd){.fd = spec->pidfd, .events = POLLIN};
            if (cancel_fd >= 0)
                pfd[i_cancel = n++] = (struct pollfd){.fd = cancel_fd, .events = POLLIN};
            if (exit_fd >= 0)
                pfd[i_exit = n++] = (struct pollfd){.fd = exit_fd, .events = POLLIN};
        }
        if (n == 0)
            break;

        double now = monotonic_ms();
        int wait_ms = -1;
        if (!reaped && deadline && !outcome->timed_out)
            wait_ms = ms_until(deadline, now);
        if (kill_at) {
            int k = ms_until(kill_at, now);
            wait_ms = wait_ms < 0 || k < wait_ms ? k : wait_ms;
        }
        if (give_up_at && !reaped) {
            if (now >= give_up_at) {
                outcome->abandoned = true;
                break;
            }
            int g = ms_until(give_up_at, now);
            wait_ms = wait_ms < 0 || g < wait_ms ? g : wait_ms;
        }
        if (reaped) {
            /* Something outside the process group (e.g. a setsid escapee)
             * may hold the pipes open forever: stop waiting for EOF, and
             * take only what is there now. */
            if (now >= drain_until) {
                drain_now(&out_fd, spec->out, &devnull);
                drain_now(&err_fd, spec->err, &devnull);
                break;
            }
            int d = ms_until(drain_until, now);
            wait_ms = wait_ms < 0 || d < wait_ms ? d : wait_ms;
        }

        int r = poll(pfd, (nfds_t)n, wait_ms);
        if (r < 0 && errno != EINTR) {
            int e = errno;
            relay_stop(&in);
            close_fd(&out_fd);
            close_fd(&err_fd);
            return error_sys(err, e, "poll failed while waiting for the command");
        }
        now = monotonic_ms();
        if (r > 0) {
            if (i_in >= 0 && pfd[i_in].revents) {
                if (in.len)
                    relay_write(&in);
                else
                    relay_read(&in);
            }
            if (i_out >= 0 && pfd[i_out].revents)
                stream_ready(&out_fd, pfd[i_out].revents, spec->out, &devnull);
            if (i_err >= 0 && pfd[i_err].revents)
                stream_ready(&err_fd, pfd[i_err].revents, spec->err, &devnull);
            if (i_cancel >= 0 && pfd[i_cancel].revents) {
                unsigned char sig;
                ssize_t got = TEMP_FAILURE_RETRY(read(cancel_fd, &sig, 1));
                if (got == 1 && sig > 0 && sig < NSIG) {
                    spec->signal_all(spec->ctx, sig);
                    outcome->forwarded = sig;
                    if (!kill_at)
                        kill_at = now + (double)spec->grace_ms;
                } else if (got == 0 || (got < 0 && errno != EAGAIN)) {
                    cancel_fd = -1;
                }
            }
            if (i_exit >= 0 && pfd[i_exit].revents && !reaped) {
                exit_fd = -1;
                if (spec->on_exit_fd(spec->ctx, outcome) == 1) {
                    /* Nothing left to wait for: the main process is reaped later. */
                    reaped = true;
                    kill_at = 0;
                    drain_until = now + (double)spec->drain_ms;
                    continue;
                }
            }
            if (i_pid >= 0 && pfd[i_pid].revents) {
                /* Kill whatever the command left running before reaping, so
                 * the group id cannot be reused while we still signal it. */
                spec->signal_all(spec->ctx, SIGKILL);
                siginfo_t si = {0};
                if (TEMP_FAILURE_RETRY(waitid((idtype_t)P_PIDFD, (id_t)spec->pidfd, &si,
                                              WEXITED)) < 0) {
                    int e = errno;
                    relay_stop(&in);
                    close_fd(&out_fd);
                    close_fd(&err_fd);
                    return error_sys(err, e, "cannot collect the command's exit status");
                }
                outcome->exited = si.si_code == CLD_EXITED;
                if (outcome->exited)
                    outcome->code = si.si_status;
                else
                    outcome->signal = si.si_status;
                reaped = true;
                kill_at = 0;
                drain_until = now + (double)spec->drain_ms;
            }
        }
        if (!reaped && deadline && !outcome->timed_out && now >= deadline) {
            outcome->timed_out = true;
            spec->signal_all(spec->ctx, SIGTERM);
            kill_at = now + (double)spec->grace_ms;
        }
        if (!reaped && kill_at && now >= kill_at) {
            spec->signal_all(spec->ctx, SIGKILL);
            kill_at = 0;
            if (spec->give_up_ms)
                give_up_at = now + (double)spec->give_up_ms;
        }
        if (reaped && in.dst >= 0)
            relay_stop(&in); /* the caller's input is not the sandbox's beyond the call */
    }
    relay_stop(&in);
    close_fd(&out_fd);
    close_fd(&err_fd);
    return 0;
}
