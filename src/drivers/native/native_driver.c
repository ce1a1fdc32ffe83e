/* native: the policy enforced with kernel features alone — namespaces, a root
 * filesystem built from an explicit list of binds, seccomp, Landlock,
 * capabilities dropped, cgroup limits. Works unprivileged through user
 * namespaces. Each kernel feature lives in a file of its own here; this file decides
 * what to ask of them and turns the outcome into a result. */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "drivers/driver.h"
#include "policy/policy_resolve.h"
#include "session/agent_binary.h"
#include "session/session.h"
#include "drivers/native/native_driver.h"
#include "base/command.h"
#include "drivers/engine_sockets.h"
#include "drivers/native/cgroup.h"
#include "drivers/native/native_disk.h"
#include "drivers/native/landlock.h"
#include "drivers/native/plan.h"
#include "drivers/native/sandbox.h"
#include "drivers/native/setup.h"
#include "net/bridge.h"
#include "net/proxy.h"
#include "base/result.h"


/* Nothing is probed before a run: a failing clone3 says precisely what is
 * missing (namespaces_unavailable() in sandbox.c), and costs nothing when
 * everything works. */
static int native_available(const struct hutch_policy *p, hutch_error *err)
{
    (void)p;
    (void)err;
    return 0;
}

static int native_check(const struct hutch_policy *p, hutch_error *err)
{
    if (p->network.mode == NET_BRIDGE)
        return error_set(err, HUTCH_E_UNSUPPORTED,
                         "the native backend has no bridge network: use --net none (loopback "
                         "only), --net host, or --backend docker");
    return native_disk_check(p, err);
}

/* ---- identity -------------------------------------------------------------- */

int native_choose_identity(const struct hutch_policy *p, struct native_identity *id,
                           hutch_error *err)
{
    id->privileged = geteuid() == 0;
    id->outside_uid = geteuid();
    id->outside_gid = getegid();
    if (id->privileged)
        id->uid = id->gid = ROOT_DEFAULT_ID;
    else {
        id->uid = id->outside_uid;
        id->gid = id->outside_gid;
    }
    if (p->user) {
        char *end;
        id->uid = (uid_t)strtoul(p->user, &end, 10);
        id->gid = *end == ':' ? (gid_t)strtoul(end + 1, NULL, 10) : id->uid;
    }
    if (id->privileged) {
        /* root maps the sandbox's ids onto the same host ids. */
        id->outside_uid = id->uid;
        id->outside_gid = id->gid;
        if ((id->uid == 0 || id->gid == 0) && !p->allow_root_user)
            return error_set(err, HUTCH_E_INVALID,
                             "user (--user) %s would run the sandbox as the host's root "
                             "(uid or gid 0, without capabilities), the owner of every "
                             "root-only file its mounts show: pick another id, or add "
                             "--allow-root-user (allowRootUser) if that is meant",
                             p->user);
    }
    return 0;
}

/* ---- reaching bind sources as the sandbox's user ---------------------------- */

/* The owner, group or other permission bit that applies to uid:gid;
 * user_bit is S_IRUSR, S_IWUSR or S_IXUSR. */
static bool permits(const struct stat *st, uid_t uid, gid_t gid, mode_t user_bit)
{
    if (st->st_uid == uid)
        return st->st_mode & user_bit;
    if (st->st_gid == gid)
        return st->st_mode & (user_bit >> 3);
    return st->st_mode & (user_bit >> 6);
}

/* True when uid:gid can look up every bind source of the plan, so that root
 * can set the sandbox up as that user directly (no nested namespace). */
bool native_reachable_by(const struct plan *plan, uid_t uid, gid_t gid)
{
    const size_t strip = strlen(STAGE_OLD_ROOT);
    /* The directories on the way of the previous source, all searchable
     * ("/dev/" for six devices in a row): not checked again. */
    char checked[PATH_MAX] = "";
    for (size_t i = 0; i < plan->len; i++) {
        const struct mount_op *op = &plan->ops[i];
        if (op->kind != OP_BIND && op->kind != OP_DEVICE)
            continue;
        char path[PATH_MAX];
        if (!fmt_fits(path, sizeof path, "%s", op->src + strip))
            return false;
        /* Every directory on the way, from the root down, must be searchable. */
        for (char *slash = path; slash; slash = strchr(slash + 1, '/')) {
            char saved = slash[1];
            slash[1] = '\0';
            size_t len = (size_t)(slash + 1 - path);
            bool known = saved != '\0' && strncmp(checked, path, len) == 0;
            struct stat st;
            bool ok = known || (stat(path, &st) == 0 &&
                                (!S_ISDIR(st.st_mode) || permits(&st, uid, gid, S_IXUSR)));
            if (ok && !known && saved != '\0')
                memcpy(checked, path, len + 1);
            slash[1] = saved;
            if (!ok)
                return false;
            if (saved == '\0')
                break;
        }
    }
    return true;
}

/* ---- the workspace ------------------------------------------------------------ */

/* The host directory behind /workspace, or NULL for a fresh tmpfs. */
static int resolve_workspace(const struct hutch_policy *p, const struct native_identity *id,
                             char **out, hutch_error *err)
{
    *out = NULL;
    if (!p->workspace)
        return 0;
    char real[PATH_MAX];
    struct stat st;
    if (workspace_resolve(p->workspace, real, &st, err) < 0)
        return -1;
    if (engine_sockets_refuse(real, "workspace (--workspace)", NULL, err) < 0)
        return -1;
    if (id->privileged && !permits(&st, id->uid, id->gid, S_IWUSR))
        return error_set(err, HUTCH_E_INVALID,
                         "the workspace %s is not writable by uid %u, the sandbox's user: "
                         "chown it, or pass --user UID:GID of its owner",
                         real, (unsigned)id->uid);
    *out = strdup(real);
    return *out ? 0 : error_set(err, HUTCH_E_SYSTEM, "out of memory");
}

/* ---- limits ------------------------------------------------------------------- */

/* cgroup first; without one, pids fall back to RLIMIT_NPROC (counted per user
 * namespace, so exact), memory to RLIMIT_AS only when asked, CPU never. */
int native_prepare_limits(const struct hutch_policy *p, const char *cgroup_name,
                          struct native_limits *l, hutch_error *err)
{
    memset(l, 0, sizeof *l);
    l->cgroup.dir_fd = -1;
    l->via = "none";
    struct cgroup_want want = {p->limits.memory, p->limits.pids, p->limits.cpus, cgroup_name};
    if (!want.memory && !want.pids && !want.cpus)
        return 0;
    struct cgroup_system sys;
    cgroup_detect(&sys);
    if (cgroup_run_create(&sys, &want, &l->cgroup, err) < 0) {
        cgroup_run_destroy(&l->cgroup);
        return -1;
    }
    if (l->cgroup.version != CGROUP_NONE) {
        l->via = cgroup_version_name(l->cgroup.version);
        return 0;
    }
    const char *reason = l->cgroup.reason;
    if (want.cpus)
        return error_set(err, HUTCH_E_UNSUPPORTED,
                         "limits.cpus (--cpus) needs a cgroup and none can be created here (%s): "
                         "run hutch as root or in a delegated cgroup v2 subtree, or remove the "
                         "CPU limit",
                         reason);
    if (want.memory && !p->limits.rlimit_fallback)
        return error_set(err, HUTCH_E_UNSUPPORTED,
                         "limits.memory (--memory) needs a cgroup and none can be created here "
                         "(%s): run hutch as root or in a delegated cgroup v2 subtree, or pass "
                         "--rlimit-fallback to limit address space with RLIMIT_AS instead",
                         reason);
    l->rlimit_as = want.memory;
    l->rlimit_nproc = want.pids;
    l->via = "rlimit";
    return 0;
}

/* ---- running ------------------------------------------------------------------ */

struct watch {
    struct sandbox *sb;
    bool detach;         /* may return before init's teardown */
    bool got_report;
    bool detached;
    struct sandbox_report report;
};

static void signal_sandbox(void *ctx, int sig)
{
    const struct watch *w = ctx;
    /* init forwards catchable signals to every process; SIGKILL to init
     * tears down the whole pid namespace. */
    if (!w->detached)
        (void)syscall(SYS_pidfd_send_signal, w->sb->pidfd, sig, NULL, 0);
}

/* init's report arrived: the command is done. When the sandbox is empty and
 * the caller allows it, the run is over now; init's teardown goes on alone. */
static int on_report(void *ctx, struct supervise_outcome *outcome)
{
    struct watch *w = ctx;
    w->got_report = sandbox_read_report(w->sb, &w->report) == 0;
    if (!w->got_report || !w->detach || !w->report.empty)
        return 0;
    outcome->exited = w->report.exited;
    outcome->code = w->report.code;
    outcome->signal = w->report.signal;
    w->detached = true;
    return 1;
}

static void cleanup_sandbox(struct sandbox *sb)
{
    sandbox_close(sb);
}

static int setup_failed(const struct sandbox *sb, hutch_result *r, const char *argv0,
                        hutch_error *err)
{
    switch (sb->failed_stage) {
    case STAGE_EXEC:
        return result_exec_failed(r, argv0, sb->failed_errno) < 0
                   ? error_set(err, HUTCH_E_SYSTEM, "out of memory")
                   : 0;
    case STAGE_WORKDIR:
        return error_set(err, HUTCH_E_INVALID,
                         "cannot enter the working directory %s inside the sandbox: %s",
                         sb->failed_what, strerror(sb->failed_errno));
    default:
        return error_set(err, HUTCH_E_SYSTEM,
                         "the native sandbox could not be set up: %s: %s (see 'hutch doctor')",
                         sb->failed_what, strerror(sb->failed_errno));
    }
}

/* ---- one-shot runs: create, exec, destroy ------------------------------------------ */

/* What create makes for one run: everything but the sandbox itself, which
 * exec starts with the command as its init's child. */
struct native_run {
    struct native_identity id;
    char *workspace;
    bool filtered; /* network mode allow: the proxy runs beside the sandbox */
    struct net_run_proxy proxy;
    struct plan plan;
    struct native_limits limits;
    struct strlist argv, env; /* the command's, made by exec */
    int init_binary_fd;       /* hutch-init, PID 1 once the command started */
};

static int oneshot_create(struct instance *in, const struct hutch_policy *p, hutch_error *err)
{
    sandbox_reap_finished();
    struct native_run *run = calloc(1, sizeof *run);
    if (!run)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    run->proxy = (struct net_run_proxy){.pid = -1, .events_fd = -1};
    run->limits.cgroup.dir_fd = -1;
    run->init_binary_fd = -1;
    in->state = run;
    if ((run->init_binary_fd = agent_binary_open(err)) < 0 ||
        native_choose_identity(p, &run->id, err) < 0 ||
        resolve_workspace(p, &run->id, &run->workspace, err) < 0 ||
        native_disk_binds(p, run->workspace, run->id.privileged, err) < 0)
        return -1;
    run->filtered = p->network.mode == NET_ALLOW;
    if (run->filtered &&
        net_run_proxy_start(p, run->id.outside_uid, run->id.outside_gid, &run->proxy, err) < 0)
        return -1;
    struct plan_agent proxy_dir = {.runtime_dir = run->proxy.dir};
    if (plan_build_session(p, run->workspace, run->filtered ? &proxy_dir : NULL, run->id.uid,
                           run->id.gid, &run->plan, err) < 0)
        return -1;
    return native_prepare_limits(p, NULL, &run->limits, err);
}

static int oneshot_destroy(struct instance *in, hutch_error *err)
{
    (void)err;
    struct native_run *run = in->state;
    if (!run)
        return 0;
    cgroup_run_destroy(&run->limits.cgroup);
    net_run_proxy_finish(&run->proxy, NULL);
    close_fd(&run->init_binary_fd);
    if (in->exiting)
        return 0; /* the plan's hundred-odd strings go with the process */
    plan_free(&run->plan);
    strlist_clear(&run->argv);
    strlist_clear(&run->env);
    free(run->workspace);
    free(run);
    in->state = NULL;
    return 0;
}

static int oneshot_exec(struct instance *in, const struct hutch_policy *p, const hutch_command *cmd,
                        hutch_result *r, hutch_error *err)
{
    struct native_run *run = in->state;
    struct resolved_policy rp;
    if (policy_resolve(p, BACKEND_NATIVE, &rp, err) < 0)
        return -1;
    struct strlist *argv = &run->argv, *env = &run->env; /* freed by destroy */
    if (command_argv(cmd, argv, err) < 0 || command_env(p, ENV_SANDBOX, env, err) < 0)
        return -1;
    auto_command_io struct command_io io = {0};
    if (command_io_open(&io, cmd, p->limits.output_bytes, err) < 0)
        return -1;

    const struct native_identity *id = &run->id;
    struct sandbox_spec spec = {
        .plan = &run->plan,
        .argv = argv->items,
        .envp = env->items,
        .workdir = rp.workdir,
        .uid = id->uid,
        .gid = id->gid,
        .outside_uid = id->outside_uid,
        .outside_gid = id->outside_gid,
        .userns = !id->privileged                                  ? USERNS_CALLER
                  : native_reachable_by(&run->plan, id->uid, id->gid) ? USERNS_ROOT_DIRECT
                                                                     : USERNS_ROOT_NESTED,
        .new_net = p->network.mode != NET_HOST,
        .stdin_fd = io.child_in,
        .stdout_fd = io.child_out,
        .stderr_fd = io.child_err,
        .landlock_abi = landlock_abi(),
        .rlimit_nproc = run->limits.rlimit_nproc,
        .rlimit_as = run->limits.rlimit_as,
        .rlimit_fsize = p->limits.file_size,
        .cgroup = &run->limits.cgroup,
        .changed_signals = sandbox_changed_signals(),
        .proxy_socket = run->filtered ? BRIDGE_PROXY_SOCKET : NULL,
        .cancel_fd = cmd->cancel_fd,
        .init_binary_fd = run->init_binary_fd,
    };
    double start = monotonic_ms();
    __attribute__((cleanup(cleanup_sandbox))) struct sandbox sb = {.pidfd = -1, .report_fd = -1};
    if (sandbox_start(&spec, &sb, err) < 0)
        return -1;
    command_io_close_child_ends(&io);
    if (sb.failed_stage) {
        if (sb.failed_stage == STAGE_CANCELLED) {
            /* As if the signal had ended the command, which never started. */
            struct supervise_outcome never = {.signal = sb.failed_errno};
            result_apply_outcome(r, &never);
        } else if (setup_failed(&sb, r, argv->items[0], err) < 0) {
            return -1;
        }
        r->duration_ms = monotonic_ms() - start;
        result_take_output(r, &io);
        if (run->filtered)
            net_run_proxy_finish(&run->proxy, r);
        return 0;
    }

    struct watch watch = {
        .sb = &sb,
        .detach = cmd->detach_teardown && run->limits.cgroup.version == CGROUP_NONE,
    };
    struct supervise_spec sup;
    command_io_supervise(&io, p, cmd, &sup);
    sup.pidfd = sb.pidfd;
    sup.signal_all = signal_sandbox;
    sup.ctx = &watch;
    sup.exit_fd = sb.report_fd;
    sup.on_exit_fd = on_report;
    sup.forwarded = sb.cancelled;
    struct supervise_outcome outcome;
    if (supervise(&sup, &outcome, err) < 0) {
        signal_sandbox(&watch, SIGKILL);
        return -1;
    }
    r->duration_ms = monotonic_ms() - start;
    if (watch.detached) {
        sandbox_reap_later(sb.pid);
    } else if (watch.got_report || sandbox_read_report(&sb, &watch.report) == 0) {
        /* init reported the command's own status; init's is always 0. */
        outcome.exited = watch.report.exited;
        outcome.code = watch.report.code;
        outcome.signal = watch.report.signal;
    }
    result_apply_outcome(r, &outcome);
    r->oom_killed = cgroup_run_oom_killed(&run->limits.cgroup);
    fmt_bounded(r->limits_via, "%s", run->limits.via);
    result_take_output(r, &io);
    if (run->filtered)
        net_run_proxy_finish(&run->proxy, r);
    return 0;
}

/* ---- the driver: one-shot runs here, sessions in native_session.c ------------------ */

static int native_create(struct instance *in, const struct hutch_policy *p, hutch_error *err)
{
    return in->session ? native_session_create(in->session, p, err) : oneshot_create(in, p, err);
}

static int native_exec(struct instance *in, const struct hutch_policy *p, const hutch_command *cmd,
                       hutch_result *r, hutch_error *err)
{
    return in->session ? session_exec(in->session, p, in->agent, cmd, r, err)
                       : oneshot_exec(in, p, cmd, r, err);
}

static int native_destroy(struct instance *in, hutch_error *err)
{
    return in->session ? native_session_stop(in->session, err) : oneshot_destroy(in, err);
}

const struct driver driver_native = {
    .name = "native",
    .isolated = true,
    .enforces = ENF_NATIVE,
    .available = native_available,
    .check = native_check,
    .create = native_create,
    .exec = native_exec,
    .destroy = native_destroy,
    .start = native_session_start,
    .stop = native_session_stop,
    .probe = native_session_probe,
    .stats = native_session_stats,
};
