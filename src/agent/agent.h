/* hutch-init's own parts (not the host's): runs and statistics. init.c holds
 * the program, its socket and its loop. Single-threaded, no allocation that
 * outlives a request. */
#ifndef HUTCH_AGENT_AGENT_H
#define HUTCH_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "agent/proto.h"

/* ---- runs (runs.c) ----------------------------------------------------------- */

struct run {
    pid_t pid;      /* the leader; also its process group and session (setsid) */
    char id[32];    /* HUTCH_RUN's value: "<agent pid>.<counter>" */
    double term_at; /* monotonic ms: SIGTERM for the timeout; 0 = none */
    double kill_at; /* monotonic ms: SIGKILL after the grace; 0 = none */
    uint64_t grace_ms;
    bool timed_out;
    /* The output pipes' write ends (-1: none), held until the exit is
     * reported: hutch then wakes once, for the report, not first for the
     * pipes' end of file (docs/bench.md, run 6). */
    int held[2];
};

/* Why a run did not start: an AE_* kind, an errno, and for AE_SYSTEM the
 * step that failed. */
struct run_failure {
    int kind;
    int err;
    const char *step;
};

/* The soft RLIMIT_NOFILE the agent found: its commands get it back. */
extern struct rlimit run_nofile;

/* Starts msg (an AT_RUN) with fds as its stdio; always closes the three fds.
 * 0 with r filled, or -1 with f filled. */
int run_start(struct run *r, const struct agent_msg *msg, int fds[3], struct run_failure *f);

/* Sends sig to the run: its process group, and every process tagged with its
 * HUTCH_RUN (those that left the group). */
void run_signal(const struct run *r, int sig);

/* Acts on the run's timers; returns ms until its next one, or -1 for none. */
int run_tick(struct run *r, double now);

/* ---- statistics (stats.c) ----------------------------------------------------- */

struct sandbox_stats {
    uint64_t pids, memory, cpu_usec;
};

/* Sums over every process in /proc (whole) or the agent and its descendants. */
void stats_collect(bool whole, struct sandbox_stats *out);

#endif
