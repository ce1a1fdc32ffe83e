/* Native sessions: the native backend's sandbox kept alive with hutch-init
 * as its PID 1. The init is not hutch's child (an intermediate process
 * starts it and exits), so it outlives the command that created it and
 * never becomes anyone's zombie. The workspace and the record survive the
 * init; a session whose init is gone (a reboot, a kill) is started again
 * over the same workspace. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "agent/client.h"
#include "drivers/native/native_driver.h"
#include "base/command.h"
#include "drivers/native/landlock.h"
#include "drivers/native/sandbox.h"
#include "drivers/native/setup.h"
#include "session/agent_binary.h"
#include "session/session.h"
#include "session/workspace_fs.h"
#include "drivers/native/native_disk.h"
#include "net/bridge.h"

/* How long a new agent may take to answer. */
#define AGENT_START_MS 10000

/* The record's init when it is still that process, else -1. */
static pid_t live_init(const struct session_record *rec)
{
    pid_t pid = rec->init_pid;
    unsigned long long start = rec->init_start;
    if (pid <= 0 || start == 0 || session_pid_start_time(pid) != start)
        return -1;
    return pid;
}

int session_wait_for_agent(struct session *s, int timeout_ms, hutch_error *err)
{
    double until = monotonic_ms() + timeout_ms;
    hutch_error last = {0};
    for (int wait_us = 200;; wait_us = wait_us < 20000 ? wait_us * 2 : wait_us) {
        struct agent_conn c;
        if (session_agent_connect(s, &c, &last) == 0) {
            struct agent_hello hello;
            int r = agent_hello(&c, 2000, &hello, &last);
            agent_close(&c);
            if (r == 0)
                return 0;
        } else if (last.status != HUTCH_E_UNSUPPORTED) {
            /* Something answers that is not the agent: waiting will not help. */
            error_set(err, last.status, "%s", last.message);
            return -1;
        }
        if (monotonic_ms() >= until)
            return error_set(err, HUTCH_E_SYSTEM,
                             "the session's agent did not answer within %d ms (%s); see %s/agent.log",
                             timeout_ms, last.message, s->dir);
        struct timespec pause = {0, wait_us * 1000L};
        nanosleep(&pause, NULL);
    }
}

/* What the intermediate process tells the creator. */
struct started {
    int failed; /* 0, or -1 with message */
    pid_t init;
    char message[512];
};

static void cleanup_plan(struct plan *pl)
{
    plan_free(pl);
}

static int runtime_dir_for(struct session *s, const struct native_identity *id, hutch_error *err)
{
    if (mkdir(s->runtime_dir, 0700) < 0 && errno != EEXIST)
        return error_sys(err, errno, "cannot create %s", s->runtime_dir);
    if (id->privileged && chown(s->runtime_dir, id->outside_uid, id->outside_gid) < 0)
        return error_sys(err, errno, "cannot hand %s to uid %u", s->runtime_dir,
                         (unsigned)id->outside_uid);
    /* A socket left by an init that is gone would be taken for a live one. */
    (void)unlink(s->socket_path);
    return 0;
}

int native_session_create(struct session *s, const struct hutch_policy *p, hutch_error *err)
{
    struct native_identity id;
    if (native_choose_identity(p, &id, err) < 0)
        return -1;
    const char *workspace = s->record->workspace;
    if (id.privileged && s->record->workspace_owned &&
        chown(workspace, id.outside_uid, id.outside_gid) < 0)
        return error_sys(err, errno, "cannot hand the workspace %s to uid %u", workspace,
                         (unsigned)id.outside_uid);
    char agent[PATH_MAX];
    if (agent_binary_path(agent, sizeof agent, err) < 0 || runtime_dir_for(s, &id, err) < 0)
        return -1;

    /* limits.disk: a workspace of its own filesystem is bounded already;
     * a host directory (--workspace) and --rw mounts need a quota. */
    if (native_disk_binds(p, workspace_fs_bounded(s) ? NULL : workspace, id.privileged, err) < 0)
        return -1;
    struct plan_agent pa = {.runtime_dir = s->runtime_dir, .binary = agent};
    __attribute__((cleanup(cleanup_plan))) struct plan plan = {0};
    if (plan_build_session(p, workspace, &pa, id.uid, id.gid, &plan, err) < 0)
        return -1;
    char cgroup_name[64];
    fmt_bounded(cgroup_name, "hutch-session-%.*s", SESSION_NAME_MAX, s->name);
    struct native_limits limits;
    if (native_prepare_limits(p, cgroup_name, &limits, err) < 0)
        return -1;

    char log_path[PATH_MAX + 16];
    if (!str_join_fits(log_path, sizeof log_path, s->dir, "/agent.log", NULL))
        return error_set(err, HUTCH_E_INVALID, "the session's directory %s is too long", s->dir);
    autoclose int log_fd =
        TEMP_FAILURE_RETRY(open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    autoclose int null_fd = TEMP_FAILURE_RETRY(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (log_fd < 0 || null_fd < 0) {
        cgroup_run_destroy(&limits.cgroup);
        return error_sys(err, errno, "cannot open %s", log_path);
    }

    char listen_fd[16];
    fmt_bounded(listen_fd, "%d", SANDBOX_AGENT_FD);
    char *argv[] = {(char *)AGENT_BINARY_PATH, (char *)"--listen-fd", listen_fd, NULL, NULL, NULL};
    if (p->network.mode == NET_ALLOW) {
        argv[3] = (char *)"--proxy";
        argv[4] = (char *)BRIDGE_PROXY_SOCKET;
    }
    char *envp[] = {(char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    NULL};
    struct sandbox_spec spec = {
        .plan = &plan,
        .argv = argv,
        .envp = envp,
        .workdir = "/",
        .uid = id.uid,
        .gid = id.gid,
        .outside_uid = id.outside_uid,
        .outside_gid = id.outside_gid,
        .userns = !id.privileged                              ? USERNS_CALLER
                  : native_reachable_by(&plan, id.uid, id.gid) ? USERNS_ROOT_DIRECT
                                                               : USERNS_ROOT_NESTED,
        .new_net = p->network.mode != NET_HOST,
        .stdin_fd = null_fd,
        .stdout_fd = log_fd,
        .stderr_fd = log_fd,
        .landlock_abi = landlock_abi(),
        .rlimit_nproc = limits.rlimit_nproc,
        .rlimit_as = limits.rlimit_as,
        .cgroup = &limits.cgroup,
        .changed_signals = sandbox_changed_signals(),
        .command_is_init = true,
        .agent_socket = AGENT_SOCKET_PATH,
        .cancel_fd = -1,
        .init_binary_fd = -1, /* the command is hutch-init */
    };

    /* An intermediate process starts the init and exits: the init is then
     * nobody's child here, like a daemon. */
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        cgroup_run_destroy(&limits.cgroup);
        return error_sys(err, errno, "cannot create a pipe");
    }
    pid_t middle = fork();
    if (middle == 0) {
        close(pipefd[0]);
        struct started st = {0};
        struct sandbox sb;
        hutch_error e = {0};
        if (sandbox_start(&spec, &sb, &e) < 0) {
            st.failed = -1;
            fmt_trunc(st.message, sizeof st.message, "%s", e.message);
        } else if (sb.failed_stage) {
            st.failed = -1;
            fmt_trunc(st.message, sizeof st.message,
                      "the session's sandbox could not be set up: %s: %s (see 'hutch doctor')",
                      sb.failed_what, strerror(sb.failed_errno));
        } else {
            st.init = sb.pid;
        }
        (void)!write(pipefd[1], &st, sizeof st);
        _exit(0);
    }
    close(pipefd[1]);
    struct started st = {.failed = -1};
    if (middle < 0) {
        fmt_trunc(st.message, sizeof st.message, "cannot fork: %s", strerror(errno));
    } else {
        ssize_t n = TEMP_FAILURE_RETRY(read(pipefd[0], &st, sizeof st));
        if (n != (ssize_t)sizeof st) {
            st.failed = -1;
            fmt_trunc(st.message, sizeof st.message, "the process starting the sandbox died");
        }
        int status;
        (void)TEMP_FAILURE_RETRY(waitpid(middle, &status, 0));
    }
    close(pipefd[0]);
    if (st.failed) {
        cgroup_run_destroy(&limits.cgroup);
        st.message[sizeof st.message - 1] = '\0';
        return error_set(err, HUTCH_E_SYSTEM, "%s", st.message);
    }

    struct session_record *rec = s->record;
    rec->init_pid = st.init;
    /* init made the agent's socket and listens on it: the host checks it is
     * this process that answers (session_agent_connect). */
    rec->agent_pid = st.init;
    rec->init_start = session_pid_start_time(st.init);
    strlist_clear(&rec->cgroup_dirs);
    int oom = record_set(&rec->limits_via, limits.via);
    for (int c = 0; c < CG_COUNT; c++)
        if (limits.cgroup.dirs[c][0] && strlist_push(&rec->cgroup_dirs, limits.cgroup.dirs[c]) < 0)
            oom = -1;
    close_fd(&limits.cgroup.dir_fd); /* the cgroup lives on with the session */
    if (oom < 0)
        error_set(err, HUTCH_E_SYSTEM, "out of memory");
    if (oom < 0 || session_wait_for_agent(s, AGENT_START_MS, err) < 0) {
        hutch_error ignored;
        (void)native_session_stop(s, &ignored);
        return -1;
    }
    return session_run_setup(s, p, err);
}

int native_session_stop(struct session *s, hutch_error *err)
{
    pid_t init = live_init(s->record);
    if (init > 0) {
        autoclose int pidfd = (int)syscall(SYS_pidfd_open, init, 0);
        /* Checked again through the pidfd: the pid cannot be reused now. */
        if (pidfd >= 0 && live_init(s->record) == init) {
            /* SIGKILL to the pid namespace's init ends every process in it. */
            if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
                return error_sys(err, errno, "cannot stop the session's init (pid %d)",
                                 (int)init);
            struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
            (void)TEMP_FAILURE_RETRY(poll(&pfd, 1, 5000));
        }
    }
    for (size_t i = 0; i < s->record->cgroup_dirs.len; i++) {
        const char *path = s->record->cgroup_dirs.items[i];
        /* The kernel empties a killed namespace's cgroup a moment later. */
        for (int tries = 0; tries < 500; tries++) {
            if (rmdir(path) == 0 || errno != EBUSY)
                break;
            struct timespec pause = {0, 2000000};
            nanosleep(&pause, NULL);
        }
    }
    record_forget_native(s->record);
    (void)unlink(s->socket_path);
    return 0;
}

int native_session_start(struct session *s, const struct hutch_policy *p, hutch_error *err)
{
    hutch_error ignored;
    (void)native_session_stop(s, &ignored); /* whatever is left of the last one */
    return native_session_create(s, p, err);
}

enum session_state native_session_probe(struct session *s, char *detail, size_t len)
{
    pid_t init = live_init(s->record);
    if (init < 0) {
        fmt_trunc(detail, len, "its sandbox is gone (init pid %d ended)",
                 (int)s->record->init_pid);
        return SESSION_STOPPED;
    }
    struct agent_conn c;
    hutch_error e;
    if (session_agent_connect(s, &c, &e) < 0) {
        fmt_trunc(detail, len, "init pid %d runs but its agent does not answer (%s)", (int)init,
                  e.message);
        return SESSION_BROKEN;
    }
    agent_close(&c);
    fmt_trunc(detail, len, "init pid %d", (int)init);
    return SESSION_RUNNING;
}

static uint64_t read_number(const char *dir, const char *file)
{
    char path[PATH_MAX + 64];
    autofree char *text = NULL;
    if (!fmt_fits(path, sizeof path, "%s/%s", dir, file) ||
        read_file_bounded(path, 4096, &text, NULL) < 0)
        return 0;
    return strtoull(text, NULL, 10);
}

int native_session_stats(struct session *s, struct session_stats *st, hutch_error *err)
{
    if (session_agent_stats(s, st, err) < 0)
        return -1;
    /* The cgroup counts page cache and kernel memory too: the number the
     * memory limit is checked against. */
    for (size_t i = 0; i < s->record->cgroup_dirs.len; i++) {
        const char *path = s->record->cgroup_dirs.items[i];
        uint64_t v;
        if (((v = read_number(path, "memory.current")) > 0 ||
                     (v = read_number(path, "memory.usage_in_bytes")) > 0)) {
            st->memory = v;
            st->memory_via = "cgroup";
        }
    }
    return 0;
}
