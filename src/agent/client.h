/* The host side of the agent protocol (proto.h): connecting to a session's
 * hutch-init and asking it to run a command with the caller's descriptors.
 * Everything the agent sends is untrusted: the sandbox can replace the
 * agent or its socket, so replies are bounded and checked, and the socket
 * is opened without following symlinks. One connection takes any number of
 * agent_hello()/agent_stats(), then at most one run; the agent drops a
 * connection idle for 60 s. */
#ifndef HUTCH_AGENT_CLIENT_H
#define HUTCH_AGENT_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/proto.h"
#include "error.h"

struct agent_conn {
    int fd;
};

/* Connects to the agent's socket at host path socket_path. The last path
 * component is opened with O_PATH|O_NOFOLLOW and must be a socket owned by
 * expected_uid (or any owner when expected_uid is (uid_t)-1); the connect
 * goes through /proc/self/fd/N, so neither a symlink swapped in by the
 * sandbox nor a path longer than sun_path matters.
 * Fails with HUTCH_E_UNSUPPORTED when nothing listens there (ENOENT,
 * ECONNREFUSED): the caller may start the session and retry. */
int agent_connect(const char *socket_path, uid_t expected_uid, struct agent_conn *c,
                  hutch_error *err);
void agent_close(struct agent_conn *c);

struct agent_hello {
    uint64_t version;
    uint64_t pid;
    char features[256];
};
/* HELLO round trip, with a timeout: proves the agent answers. */
int agent_hello(struct agent_conn *c, int timeout_ms, struct agent_hello *out, hutch_error *err);

struct agent_stats {
    uint64_t pids, memory, cpu_usec;
};
int agent_stats(struct agent_conn *c, int timeout_ms, struct agent_stats *out, hutch_error *err);

struct agent_run_request {
    char *const *argv;  /* NULL-terminated, at least one entry */
    char *const *envp;  /* NULL-terminated: the whole environment */
    const char *cwd;    /* inside the sandbox; NULL: the agent's own (/) */
    uint64_t timeout_ms, grace_ms, file_size;
    bool tty;
    int stdio[3];       /* passed with SCM_RIGHTS; the caller keeps its copies */
};

/* What became of a RUN request. */
struct agent_run_start {
    bool started;     /* AT_STARTED came: the command is running */
    uint64_t pid;     /* inside the sandbox */
    int exec_errno;   /* !started: errno of the failed exec (ENOENT, EACCES...) */
    bool cwd_failed;  /* !started: the working directory could not be entered */
};

/* Sends RUN and waits (at most 60 s) for AT_STARTED or AT_ERROR. AE_EXEC
 * and AE_CWD come back as 0 with started false (the command's problem,
 * reported like a failed exec; exec_errno holds the errno of either); any
 * other refusal is -1 with the agent's message. Closing the connection
 * before AT_EXITED cancels the run (SIGKILL). */
int agent_run_start(struct agent_conn *c, const struct agent_run_request *req,
                    struct agent_run_start *out, hutch_error *err);

/* Asks the agent to send sig to the run's processes. */
int agent_run_signal(struct agent_conn *c, int sig, hutch_error *err);

struct agent_exit {
    bool exited;   /* true: code; false: killed by signal */
    int code;
    int signal;
    bool timed_out;
};

/* Reads AT_EXITED (blocks; the fd is pollable: c->fd becomes readable when
 * it arrives). -1 with err when the connection ends first. */
int agent_run_wait(struct agent_conn *c, struct agent_exit *out, hutch_error *err);

#endif
