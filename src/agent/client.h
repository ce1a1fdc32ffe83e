/* The host side of the agent protocol (proto.h): connecting to a session's
 * hutch-init and asking it to run a command with the caller's descriptors.
 * Everything the agent sends is untrusted: the sandbox can replace the
 * agent or its socket, so replies are bounded and checked, and the socket
 * is opened without following symlinks. One connection takes any number of
 * agent_hello()/agent_stats(), then at most one run or one tool call; the
 * agent drops a connection idle for 60 s. */
#ifndef HUTCH_AGENT_CLIENT_H
#define HUTCH_AGENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/proto.h"
#include "base/error.h"

struct agent_conn {
    int fd;
    /* -1 (agent_connect() sets it), or an fd the caller's cancellation makes
     * readable (hutch_command.cancel_fd): every wait for the agent then
     * ends with an error instead of waiting out its deadline. */
    int cancel_fd;
    /* The other end broke the protocol or did not answer in time: whatever
     * serves the connection may still be running (and sending). */
    bool broken;
    /* NULL, or what agent_close() does about a broken connection once it
     * closed it (a relay in a container: stop its exec); agent_close()
     * frees on_broken_ctx either way. */
    void (*on_broken)(void *ctx);
    void *on_broken_ctx;
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

/* Checks who listens on the connected socket (SO_PEERCRED: the process
 * that called listen(), in hutch's pid namespace) is the session's agent,
 * expected; a process inside the sandbox that bound a socket of its own in
 * its place is not. HUTCH_E_SYSTEM naming both pids when it is not. */
int agent_check_peer(const struct agent_conn *c, pid_t expected, hutch_error *err);

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
    uint64_t start_timeout_ms; /* for AT_STARTED; 0: 60 s */
};

/* What became of a RUN request. */
struct agent_run_start {
    bool started;     /* AT_STARTED came: the command is running */
    uint64_t pid;     /* inside the sandbox */
    int exec_errno;   /* !started: errno of the failed exec (ENOENT, EACCES...) */
    bool cwd_failed;  /* !started: the working directory could not be entered */
};

/* Sends RUN and waits (start_timeout_ms, else 60 s) for AT_STARTED or AT_ERROR. AE_EXEC
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

/* Reads AT_EXITED (blocks until deadline, monotonic ms, or for ever when
 * negative; the fd is pollable: c->fd becomes readable when it arrives).
 * -1 with err when the connection ends first or the deadline passes. */
int agent_run_wait(struct agent_conn *c, double deadline, struct agent_exit *out,
                   hutch_error *err);

/* ---- tool calls ------------------------------------------------------------------ */

struct agent_tool_request {
    const char *name;                /* bash, read, write, edit, process */
    const char *args_json;           /* its arguments: a JSON object, as text */
    char *const *envp;               /* bash's environment (NULL-terminated); NULL: none */
    uint64_t timeout_ms;             /* bash's timeout; 0: none */
    const char *const *read_roots;   /* inside the sandbox; the first is the workspace */
    size_t n_read_roots;             /* at least 1 */
    const char *const *write_roots;  /* roots write and edit may change */
    size_t n_write_roots;
    const char *output_dir;          /* bash's logs; NULL: the agent's default,
                                        AGENT_OUTPUT_DIR */
    int content_fd;                  /* write: its content, read to its end; -1: none */
};

/* Sends a TOOL request (with content_fd, when there is one). Then the
 * caller may poll c->fd (readable: the result is there) and watch for its
 * own cancellation meanwhile: closing the connection cancels the call,
 * killing any command it runs. */
int agent_tool_send(struct agent_conn *c, const struct agent_tool_request *req, hutch_error *err);

/* Reads the result (blocks until it is all there, or until deadline,
 * monotonic ms, when that is not negative): *result_json is the JSON text of
 * an object, at most AGENT_MAX_RESULT bytes, malloc'ed. Only its shape is
 * checked ({...}): the caller parses it, and must treat it as untrusted,
 * since the sandbox wrote it. */
int agent_tool_wait(struct agent_conn *c, double deadline, char **result_json,
                    hutch_error *err);

/* agent_tool_send() then agent_tool_wait(). */
int agent_tool(struct agent_conn *c, const struct agent_tool_request *req, char **result_json,
               hutch_error *err);

#endif
