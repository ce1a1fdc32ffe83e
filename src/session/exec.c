/* Running a command in a session: the agent forks it inside the sandbox
 * with hutch's pipes, which hutch relays to the caller (never the caller's
 * own descriptors: a process the command leaves behind keeps them). */
#include <poll.h>
#include <signal.h>

#include "base/command.h"
#include "base/cpu_stay.h"
#include "drivers/native/cgroup.h"
#include "policy/policy_resolve.h"
#include "base/result.h"
#include "session/session.h"
#include "base/supervise.h"

/* Of a failed setupCommand's output, the record keeps the end. */
#define SETUP_OUTPUT_KEPT 4096
/* The agent sends SIGTERM at the timeout and SIGKILL this much later. */
#define AGENT_GRACE_MS 2000
/* How late the agent may report a run's end before hutch stops believing
 * it will: past the timeout and its grace, or after hutch itself asked for
 * SIGKILL (Ctrl-C). Everything the agent says is the sandbox's word. */
#define REPORT_SLACK_MS 3000

struct exec_watch {
    struct agent_conn *conn;
    bool done, lost;
    struct agent_exit exit;
    char lost_why[256];
};

static void signal_run(void *ctx, int sig)
{
    struct exec_watch *w = ctx;
    if (!w->done)
        (void)agent_run_signal(w->conn, sig, NULL);
}

static int on_agent_reply(void *ctx, struct supervise_outcome *outcome)
{
    struct exec_watch *w = ctx;
    hutch_error e = {0};
    w->done = true;
    if (agent_run_wait(w->conn, monotonic_ms() + REPORT_SLACK_MS, &w->exit, &e) < 0) {
        w->lost = true;
        fmt_trunc(w->lost_why, sizeof w->lost_why, "%s", e.message); /* for a message */
        return 1;
    }
    outcome->exited = w->exit.exited;
    outcome->code = w->exit.code;
    outcome->signal = w->exit.signal;
    outcome->timed_out = w->exit.timed_out;
    return 1;
}

/* The session's OOM kill count: a run that raised it was killed for memory. */
static long oom_kills(const struct session *s)
{
    long total = -1;
    for (size_t i = 0; i < s->record->cgroup_dirs.len; i++) {
        long n = cgroup_dir_oom_kills(s->record->cgroup_dirs.items[i]);
        if (n >= 0)
            total = total < 0 ? n : total + n;
    }
    return total;
}

/* Waits for the end of a terminal run, passing signal bytes from cancel_fd
 * on to its processes. */
static int wait_tty_run(struct agent_conn *conn, int cancel_fd, struct agent_exit *exit_status,
                        hutch_error *err)
{
    for (;;) {
        struct pollfd pfd[2] = {{.fd = conn->fd, .events = POLLIN},
                                {.fd = cancel_fd, .events = POLLIN}};
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return error_sys(err, errno, "poll");
        }
        if (pfd[0].revents)
            return agent_run_wait(conn, monotonic_ms() + REPORT_SLACK_MS, exit_status, err);
        if (pfd[1].revents) {
            unsigned char sig;
            if (TEMP_FAILURE_RETRY(read(cancel_fd, &sig, 1)) == 1)
                (void)agent_run_signal(conn, sig, NULL);
            else
                pfd[1].fd = cancel_fd = -1; /* the caller closed it */
        }
    }
}

/* cmd->tty_fd: the agent makes the caller's terminal the command's
 * controlling terminal; the caller relays it, so nothing is captured. An
 * interactive run has no timeout unless one was asked for. */
static int session_exec_tty(struct session *s, const struct hutch_policy *p,
                            struct agent_conn *conn, const hutch_command *cmd,
                            const struct resolved_policy *rp, char *const *argv, char *const *envp,
                            hutch_result *r, hutch_error *err)
{
    uint64_t timeout_ms = policy_is_set(p, F_LIMIT_TIMEOUT) ? p->limits.timeout_ms : 0;
    struct agent_run_request req = {
        .argv = argv,
        .envp = envp,
        .cwd = rp->workdir,
        .tty = true,
        .timeout_ms = timeout_ms,
        .grace_ms = AGENT_GRACE_MS,
        .file_size = p->limits.file_size,
        .stdio = {cmd->tty_fd, cmd->tty_fd, cmd->tty_fd},
    };
    double start = monotonic_ms();
    struct agent_run_start started;
    if (agent_run_start(conn, &req, &started, err) < 0)
        return -1;
    fmt_bounded(r->backend, "%s", session_kind_name(s->record->kind));
    r->isolated = true;
    if (!started.started)
        return error_set(err, HUTCH_E_SYSTEM, "cannot start %s in session %s: %s", argv[0],
                         s->key, strerror(started.exec_errno));
    struct agent_exit exit_status;
    if (wait_tty_run(conn, cmd->cancel_fd, &exit_status, err) < 0)
        return -1;
    r->duration_ms = monotonic_ms() - start;
    r->timed_out = exit_status.timed_out;
    r->signal = exit_status.exited ? 0 : exit_status.signal;
    r->exit_code = exit_status.timed_out ? 124
                   : exit_status.exited  ? exit_status.code
                                         : 128 + exit_status.signal;
    return 0;
}

int session_exec(struct session *s, const struct hutch_policy *p, struct agent_conn *conn,
                 const hutch_command *cmd, hutch_result *r, hutch_error *err)
{
    memset(r, 0, sizeof *r);
    bool docker = s->record->kind == SESSION_KIND_DOCKER;
    struct resolved_policy rp;
    if (policy_resolve(p, docker ? BACKEND_DOCKER : BACKEND_NATIVE, &rp, err) < 0)
        return -1;
    const char *workdir = rp.workdir;
    autostrlist struct strlist argv = {0};
    autostrlist struct strlist env = {0};
    if (command_argv(cmd, &argv, err) < 0 ||
        command_env(p, docker ? ENV_DOCKER : ENV_SANDBOX, &env, err) < 0)
        return -1;
    /* This thread waits for the command on the CPU it runs on, so that the
     * agent's report does not wake an idle one (base/cpu_stay.h); its CPUs
     * come back when the call returns. */
    auto_cpu_stay struct cpu_stay stay;
    cpu_stay_here(&stay);
    if (cmd->tty_fd >= 0)
        return session_exec_tty(s, p, conn, cmd, &rp, argv.items, env.items, r, err);
    /* Pipes only: a process the command leaves behind keeps what it was
     * given, and the caller's own terminal or files are not for it. */
    auto_command_io struct command_io io = {0};
    if (command_io_open_relayed(&io, cmd, p->limits.output_bytes, err) < 0)
        return -1;

    struct agent_run_request req = {
        .argv = argv.items,
        .envp = env.items,
        .cwd = workdir,
        .timeout_ms = p->limits.timeout_ms,
        .grace_ms = AGENT_GRACE_MS,
        /* Starting takes a vfork and an exec: not longer than the run may. */
        .start_timeout_ms = p->limits.timeout_ms ? p->limits.timeout_ms + REPORT_SLACK_MS : 0,
        .file_size = p->limits.file_size,
        .stdio = {io.child_in, io.child_out, io.child_err},
    };
    long oom_before = oom_kills(s);
    bool filtered = p->network.mode == NET_ALLOW;
    off_t audit_before = filtered ? session_audit_offset(s) : 0;
    double start = monotonic_ms();
    struct agent_run_start started;
    conn->cancel_fd = cmd->cancel_fd; /* Ctrl-C while an agent does not answer */
    int start_rc = agent_run_start(conn, &req, &started, err);
    conn->cancel_fd = -1;
    if (start_rc < 0) {
        if (req.start_timeout_ms && monotonic_ms() - start >= (double)req.start_timeout_ms) {
            session_mark_broken(s, "its agent did not start a command in time");
            error_prefix(err, "session %s is recreated on its next use", s->key);
        }
        return -1;
    }
    command_io_close_child_ends(&io);
    fmt_bounded(r->backend, "%s", session_kind_name(s->record->kind));
    r->isolated = true;
    /* cgroup-v2, cgroup-v1, rlimit, docker, none: never cut */
    fmt_trunc(r->limits_via, sizeof r->limits_via, "%s",
              docker ? "docker" : s->record->limits_via ?: "none");
    if (!started.started) {
        if (started.cwd_failed)
            return error_set(err, HUTCH_E_INVALID,
                             "cannot enter the working directory %s in session %s: %s", workdir,
                             s->key, strerror(started.exec_errno));
        if (result_exec_failed(r, argv.items[0], started.exec_errno) < 0)
            return error_set(err, HUTCH_E_SYSTEM, "out of memory");
        r->duration_ms = monotonic_ms() - start;
        result_take_output(r, &io);
        if (filtered)
            session_proxy_report(s, audit_before, r);
        return 0;
    }

    struct exec_watch watch = {.conn = conn};
    struct supervise_spec sup;
    command_io_supervise(&io, p, cmd, &sup);
    /* The agent keeps the time and reports timed_out; hutch's own clock
     * only catches an agent that does not. */
    sup.timeout_ms = p->limits.timeout_ms ? p->limits.timeout_ms + AGENT_GRACE_MS + REPORT_SLACK_MS
                                          : 0;
    sup.grace_ms = AGENT_GRACE_MS;
    sup.give_up_ms = REPORT_SLACK_MS;
    sup.drain_ms = 0; /* what the command wrote is in the pipes when it ends */
    sup.pidfd = -1;
    sup.signal_all = signal_run;
    sup.ctx = &watch;
    sup.exit_fd = conn->fd;
    sup.on_exit_fd = on_agent_reply;
    struct supervise_outcome outcome;
    if (supervise(&sup, &outcome, err) < 0)
        return -1;
    if (outcome.abandoned) {
        char why[300];
        fmt_bounded(why, "its agent did not report the end of a command %s",
                    outcome.timed_out ? "after its timeout" : "killed on request");
        session_mark_broken(s, why);
        return error_set(err, HUTCH_E_SYSTEM,
                         "session %s: %s; the command was given up on, and the session is "
                         "recreated on its next use",
                         s->key, why);
    }
    if (watch.lost)
        return error_set(err, HUTCH_E_SYSTEM,
                         "the agent of session %s went away during the command (%s); the next "
                         "use restarts the session",
                         s->key, watch.lost_why);
    r->duration_ms = monotonic_ms() - start;
    result_apply_outcome(r, &outcome);
    r->oom_killed = oom_before >= 0 && outcome.signal == SIGKILL && oom_kills(s) > oom_before;
    result_take_output(r, &io);
    if (filtered)
        session_proxy_report(s, audit_before, r);
    return 0;
}

int session_run_setup(struct session *s, const struct hutch_policy *p, hutch_error *err)
{
    struct resolved_policy rp;
    if (policy_resolve(p, s->record->kind == SESSION_KIND_DOCKER ? BACKEND_DOCKER : BACKEND_NATIVE,
                       &rp, err) < 0)
        return -1;
    const char *setup = rp.session_setup;
    if (!setup)
        return 0;
    struct agent_conn conn;
    if (session_agent_connect(s, &conn, err) < 0)
        return -1;
    hutch_command cmd;
    hutch_command_init(&cmd);
    cmd.shell = setup;
    hutch_result r;
    int rc = session_exec(s, p, &conn, &cmd, &r, err);
    agent_close(&conn);
    if (rc < 0) {
        error_prefix(err, "setupCommand");
        return -1;
    }
    if (r.exit_code != 0) {
        /* The end of the output says most about what went wrong. */
        const char *out = r.err.len ? r.err.data : r.out.data ? r.out.data : "";
        size_t len = strlen(out);
        const char *tail = len > 600 ? out + len - 600 : out;
        const char *all = r.out.data ? r.out.data : "";
        size_t all_len = strlen(all);
        (void)record_set(&s->record->setup_output,
                         all_len > SETUP_OUTPUT_KEPT ? all + all_len - SETUP_OUTPUT_KEPT : all);
        error_set(err, HUTCH_E_INVALID, "setupCommand failed with exit code %d%s: %s",
                  r.exit_code, r.timed_out ? " (timed out)" : "", tail);
        hutch_result_free(&r);
        return -1;
    }
    hutch_result_free(&r);
    return 0;
}

int session_agent_stats(struct session *s, struct session_stats *st, hutch_error *err)
{
    struct agent_conn conn;
    if (session_agent_connect(s, &conn, err) < 0)
        return -1;
    struct agent_stats as;
    int r = agent_stats(&conn, 5000, &as, err);
    agent_close(&conn);
    if (r < 0)
        return -1;
    st->pids = as.pids;
    st->memory = as.memory;
    st->cpu_usec = as.cpu_usec;
    st->memory_via = "agent";
    return 0;
}
