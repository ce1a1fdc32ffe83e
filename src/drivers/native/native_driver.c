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
            struct stat st;
            bool ok = stat(path, &st) == 0 && (!S_ISDIR(st.st_mode) || permits(&st, uid, gid, S_IXUSR));
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
    if (!realpath(p->workspace, real) || stat(real, &st) < 0)
        return error_sys(err, errno, "workspace (--workspace) %s", p->workspace);
    if (!S_ISDIR(st.st_mode))
        return error_set(err, HUTCH_E_INVALID, "workspace (--workspace) %s is not a directory",
                         p->workspace);
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

static char *inside_workdir(const struct hutch_policy *p)
{
    char *out = NULL;
    if (!p->workdir)
        return strdup("/workspace");
    if (p->workdir[0] == '/')
        return strdup(p->workdir);
    return asprintf(&out, "/workspace/%s", p->workdir) < 0 ? NULL : out;
}

static void cleanup_plan(struct plan *pl)
{
    plan_free(pl);
}

static void cleanup_limits(struct native_limits *l)
{
    cgroup_run_destroy(&l->cgroup);
}

static void cleanup_sandbox(struct sandbox *sb)
{
    sandbox_close(sb);
}

static void cleanup_run_proxy(struct net_run_proxy *rp)
{
    net_run_proxy_finish(rp, NULL);
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

static int native_run(const struct hutch_policy *p, const hutch_command *cmd, hutch_result *r,
                      hutch_error *err)
{
    sandbox_reap_finished();
    struct native_identity id;
    if (native_choose_identity(p, &id, err) < 0)
        return -1;

    autostrlist struct strlist argv = {0};
    autostrlist struct strlist env = {0};
    if (command_argv(cmd, &argv, err) < 0 || command_env(p, ENV_SANDBOX, &env, err) < 0)
        return -1;
    autofree char *workdir = inside_workdir(p);
    if (!workdir)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");

    autofree char *workspace = NULL;
    if (resolve_workspace(p, &id, &workspace, err) < 0 ||
        native_disk_binds(p, workspace, id.privileged, err) < 0)
        return -1;
    /* Network mode allow: the proxy runs beside the sandbox for this run. */
    __attribute__((cleanup(cleanup_run_proxy))) struct net_run_proxy proxy = {.pid = -1,
                                                                             .events_fd = -1};
    bool filtered = p->network.mode == NET_ALLOW;
    if (filtered && net_run_proxy_start(p, id.outside_uid, id.outside_gid, &proxy, err) < 0)
        return -1;
    struct plan_agent proxy_dir = {.runtime_dir = proxy.dir};
    __attribute__((cleanup(cleanup_plan))) struct plan plan = {0};
    if (plan_build_session(p, workspace, filtered ? &proxy_dir : NULL, id.uid, id.gid, &plan,
                           err) < 0)
        return -1;
    __attribute__((cleanup(cleanup_limits))) struct native_limits limits = {.cgroup.dir_fd = -1};
    if (native_prepare_limits(p, NULL, &limits, err) < 0)
        return -1;
    auto_command_io struct command_io io = {0};
    if (command_io_open(&io, cmd, p->limits.output_bytes, err) < 0)
        return -1;

    struct sandbox_spec spec = {
        .plan = &plan,
        .argv = argv.items,
        .envp = env.items,
        .workdir = workdir,
        .uid = id.uid,
        .gid = id.gid,
        .outside_uid = id.outside_uid,
        .outside_gid = id.outside_gid,
        .userns = !id.privileged                    ? USERNS_CALLER
                  : native_reachable_by(&plan, id.uid, id.gid) ? USERNS_ROOT_DIRECT
                                                        : USERNS_ROOT_NESTED,
        .new_net = p->network.mode != NET_HOST,
        .stdin_fd = io.child_in,
        .stdout_fd = io.child_out,
        .stderr_fd = io.child_err,
        .landlock_abi = landlock_abi(),
        .rlimit_nproc = limits.rlimit_nproc,
        .rlimit_as = limits.rlimit_as,
        .rlimit_fsize = p->limits.file_size,
        .cgroup = &limits.cgroup,
        .changed_signals = sandbox_changed_signals(),
        .cmdline_len = sandbox_cmdline_len(),
        .proxy_socket = filtered ? BRIDGE_PROXY_SOCKET : NULL,
    };
    double start = monotonic_ms();
    __attribute__((cleanup(cleanup_sandbox))) struct sandbox sb = {.pidfd = -1, .report_fd = -1};
    if (sandbox_start(&spec, &sb, err) < 0)
        return -1;
    command_io_close_child_ends(&io);
    if (sb.failed_stage) {
        if (setup_failed(&sb, r, argv.items[0], err) < 0)
            return -1;
        r->duration_ms = monotonic_ms() - start;
        result_take_output(r, &io);
        if (filtered)
            net_run_proxy_finish(&proxy, r);
        return 0;
    }

    struct watch watch = {
        .sb = &sb,
        .detach = cmd->detach_teardown && limits.cgroup.version == CGROUP_NONE,
    };
    struct supervise_spec sup;
    command_io_supervise(&io, p, cmd, &sup);
    sup.pidfd = sb.pidfd;
    sup.signal_all = signal_sandbox;
    sup.ctx = &watch;
    sup.exit_fd = sb.report_fd;
    sup.on_exit_fd = on_report;
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
    r->oom_killed = cgroup_run_oom_killed(&limits.cgroup);
    (void)!fmt_fits(r->limits_via, sizeof r->limits_via, "%s", limits.via); /* never cut */
    result_take_output(r, &io);
    if (filtered)
        net_run_proxy_finish(&proxy, r);
    return 0;
}

const struct backend backend_native = {
    .name = "native",
    .isolated = true,
    .enforces = ENF_NATIVE,
    .available = native_available,
    .check = native_check,
    .run = native_run,
};
