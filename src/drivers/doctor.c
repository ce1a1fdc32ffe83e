/* hutch_doctor (include/hutch.h): what works on this machine, and why not.
 * Every check is a real probe (a sandbox is started, a cgroup created), not
 * a guess from version numbers. */
#include <sys/utsname.h>

#include "base/result.h"
#include "session/agent_binary.h"
#include "session/session.h"
#ifndef HUTCH_NO_DOCKER
#include "drivers/docker/build.h"
#include "drivers/docker/engine.h"
#endif
#include "drivers/native/cgroup.h"
#include "drivers/native/landlock.h"
#include "drivers/native/seccomp.h"
#include "policy/policy.h"

struct check {
    const char *name;
    bool ok;
    char detail[1024];
};

static void probe_backend(struct check *c, const char *backend)
{
    hutch_policy *p = hutch_policy_new();
    hutch_error err = {0};
    hutch_result r;
    hutch_command cmd;
    hutch_command_init(&cmd);
    const char *argv[] = {"true", NULL};
    cmd.argv = argv;
    c->name = backend;
    if (!p || hutch_policy_set(p, "backend", backend, &err) < 0 ||
        hutch_policy_set(p, "limits.timeoutSeconds", "10", &err) < 0 ||
        hutch_run(p, &cmd, &r, &err) < 0) {
        c->ok = false;
        fmt_trunc(c->detail, sizeof c->detail, "%s",
                  err.message[0] ? err.message : "out of memory");
    } else {
        c->ok = r.exit_code == 0;
        fmt_trunc(c->detail, sizeof c->detail, "%s: ran /bin/true in %.1f ms (exit %d)",
                  r.isolated ? "isolated" : "not isolated", r.duration_ms, r.exit_code);
        hutch_result_free(&r);
    }
    hutch_policy_free(p);
}

static void probe_seccomp(struct check *c)
{
    c->name = "seccomp";
    c->ok = true;
    fmt_trunc(c->detail, sizeof c->detail,
              "filter of %u instructions, built at compile time with libseccomp",
              seccomp_filter_length());
}

static void probe_landlock(struct check *c)
{
    int abi = landlock_abi();
    c->name = "landlock";
    c->ok = abi > 0;
    if (abi > 0)
        fmt_trunc(c->detail, sizeof c->detail, "ABI %d%s", abi,
                  abi >= 6 ? " (writes, abstract unix sockets and signals confined)"
                  : abi >= 3 ? " (writes confined)"
                             : " (writes confined; truncate not covered before ABI 3)");
    else
        fmt_trunc(c->detail, sizeof c->detail,
                  "not available (the kernel lacks it or lsm= omits landlock): the read-only "
                  "mounts still protect the host, without this second layer");
}

static void probe_cgroups(struct check *c)
{
    struct cgroup_system sys;
    cgroup_detect(&sys);
    c->name = "cgroups";
    size_t used = fmt_trunc(c->detail, sizeof c->detail, "layout %s",
                            cgroup_layout_name(sys.layout));
    for (int i = 0; i < CG_COUNT; i++) {
        const char *where = sys.v2_has[i]             ? "v2"
                            : sys.v1_mount[i][0] != '\0' ? "v1"
                                                         : "missing";
        used += fmt_trunc(c->detail + used, sizeof c->detail - used, "; %s: %s",
                          cgroup_controller_name(i), where);
    }
    /* A real attempt, as this user, with every limit. */
    struct cgroup_want want = {.memory = 64 << 20, .pids = 64, .cpus = 1};
    struct cgroup_run run;
    hutch_error err = {0};
    int r = cgroup_run_create(&sys, &want, &run, &err);
    if (r == 0 && run.version != CGROUP_NONE) {
        c->ok = true;
        fmt_trunc(c->detail + used, sizeof c->detail - used,
                  "; limits for this user via %s", cgroup_version_name(run.version));
    } else {
        c->ok = false;
        fmt_trunc(c->detail + used, sizeof c->detail - used,
                  "; no cgroup for this user (%s): --pids falls back to RLIMIT_NPROC, --memory "
                  "needs --rlimit-fallback, --cpus is refused; run as root or in a delegated "
                  "cgroup v2 subtree for all limits",
                  r < 0 ? err.message : run.reason);
    }
    cgroup_run_destroy(&run);
}

#ifndef HUTCH_NO_DOCKER
/* The engine answers, in which API version, with which runtimes, and
 * whether the default image is there. */
static void probe_docker(struct check *c)
{
    c->name = "docker";
    hutch_policy *p = hutch_policy_new();
    hutch_error err = {0};
    struct engine e = {0};
    if (!p || engine_open(&e, p->docker.host, &err) < 0) {
        fmt_trunc(c->detail, sizeof c->detail, "%s",
                  err.message[0] ? err.message : "out of memory");
        hutch_policy_free(p);
        return;
    }
    long status = 0;
    json_t *info = NULL;
    size_t used = fmt_trunc(c->detail, sizeof c->detail, "engine at %s, API %s",
                            e.address, e.api_version);
    if (engine_call(&e, "GET", "/info", NULL, &status, &info, &err) == 0 && status == 200) {
        const char *name = json_string_value(json_object_get(info, "Name"));
        const char *version = json_string_value(json_object_get(info, "ServerVersion"));
        used += fmt_trunc(c->detail + used, sizeof c->detail - used, " (%s %s)",
                          name ? name : "engine", version ? version : "?");
        json_t *runtimes = json_object_get(info, "Runtimes");
        const char *key;
        json_t *value;
        used += fmt_trunc(c->detail + used, sizeof c->detail - used, "; runtimes:");
        json_object_foreach(runtimes, key, value)
            used += fmt_trunc(c->detail + used, sizeof c->detail - used, " %s", key);
    }
    json_decref(info);
    int image = docker_image_exists(&e, p->docker.image, &err);
    engine_close(&e);
    if (image == 1) {
        struct check run;
        probe_backend(&run, "docker");
        c->ok = run.ok;
        fmt_trunc(c->detail + used, sizeof c->detail - used, "; image %s: %s", p->docker.image,
                  run.detail);
    } else
        fmt_trunc(c->detail + used, sizeof c->detail - used,
                  "; image %s missing: build it with " HUTCH_DATADIR "/bootstrap-image.sh "
                  "(offline) or hutch image build " HUTCH_DATADIR "/images -f "
                  "Dockerfile.sandbox -t %s, or pass --image",
                  p->docker.image, p->docker.image);
    hutch_policy_free(p);
}
#else
/* This build is the static hutch, whose docker backend is the hutch-docker
 * companion (docs/development.md). */
static void probe_docker(struct check *c)
{
    c->name = "docker";
    fmt_trunc(c->detail, sizeof c->detail,
              "the hutch-docker companion is not installed next to hutch: reinstall hutch with it");
}
#endif

/* Sessions need the agent binary and a place for their state. */
static void probe_sessions(struct check *c)
{
    c->name = "sessions";
    char agent[PATH_MAX], state[PATH_MAX - 64];
    hutch_error err;
    if (agent_binary_path(agent, sizeof agent, &err) < 0) {
        fmt_trunc(c->detail, sizeof c->detail, "%s", err.message);
    } else if (session_state_root(state, sizeof state, &err) < 0) {
        fmt_trunc(c->detail, sizeof c->detail, "%s", err.message);
    } else {
        c->ok = true;
        fmt_trunc(c->detail, sizeof c->detail, "agent %s; state in %s", agent, state);
    }
}

HUTCH_API int hutch_doctor(char **json, hutch_error *err)
{
    if (api_json_in(json, err) < 0)
        return -1;
    struct check checks[7];
    memset(checks, 0, sizeof checks);
    probe_backend(&checks[0], "native");
    probe_backend(&checks[1], "spawn");
    probe_seccomp(&checks[2]);
    probe_landlock(&checks[3]);
    probe_cgroups(&checks[4]);
    probe_docker(&checks[5]);
    probe_sessions(&checks[6]);

    struct utsname u;
    uname(&u);
    json_t *root = json_object();
    json_object_set_new(root, "version", json_string(hutch_version()));
    json_object_set_new(root, "kernel", json_string(u.release));
    json_object_set_new(root, "uid", json_integer((json_int_t)geteuid()));
    json_t *list = json_object();
    for (size_t i = 0; i < ARRAY_SIZE(checks); i++) {
        json_t *c = json_object();
        json_object_set_new(c, "ok", json_boolean(checks[i].ok));
        json_object_set_new(c, "detail", json_string(checks[i].detail));
        json_object_set_new(list, checks[i].name, c);
    }
    json_object_set_new(root, "checks", list);
    return api_json_out(root, json, err);
}
