/* docker: containers through the Docker Engine HTTP API (never the docker
 * CLI), ephemeral ones that hutch creates and removes, or an existing one
 * it adopts (--sandbox docker:NAME). The engine work is in src/drivers/docker/. */
#include "drivers/driver.h"
#include "drivers/docker/container.h"
#include "drivers/docker/docker_disk.h"
#include "drivers/docker/engine.h"
#include "drivers/docker/docker_run.h"
#include "policy/fields.h"

/* Something listens on the engine's socket: a connect(), no request, so
 * that a missing engine is known before the run (and --fallback spawn warns
 * before the command's output). The run's /_ping says the rest. */
static int docker_available(const struct hutch_policy *p, hutch_error *err)
{
    return engine_reachable(p->docker.host, err);
}

/* An adopted container keeps the settings its owner gave it: hutch cannot
 * add limits or mounts to it, so asking for them is refused. */
static int check_adopted(const struct hutch_policy *p, hutch_error *err)
{
    for (size_t i = 0; i < FIELD_COUNT; i++) {
        const struct field *f = &fields[i];
        /* The user is the exec's own: that one hutch can apply. */
        if (!f->enforced || f->id == F_USER || !policy_requests(p, f->id))
            continue;
        char flag[64] = "";
        if (f->flag)
            fmt_trunc(flag, sizeof flag, " (--%s)", f->flag); /* for the message */
        return error_set(err, HUTCH_E_UNSUPPORTED,
                         "the adopted container %s keeps its own settings: hutch cannot apply "
                         "%s%s to it; remove the setting, or let hutch create a container "
                         "(without --sandbox)",
                         p->docker.container, f->key, flag);
    }
    return 0;
}

static int docker_check(const struct hutch_policy *p, hutch_error *err)
{
    if (p->docker.container)
        return check_adopted(p, err);
    struct resolved_policy s;
    return policy_resolve(p, BACKEND_DOCKER, &s, err) < 0 ||
                   docker_disk_check(p, s.read_only_root, false, err) < 0
               ? -1
               : 0;
}

static int docker_run(const struct hutch_policy *p, const hutch_command *cmd, hutch_result *r,
                      hutch_error *err)
{
    struct engine e;
    if (engine_open(&e, p->docker.host, err) < 0)
        return -1;
    int rc = p->docker.container ? docker_run_adopted(&e, p, cmd, r, err)
                                 : docker_run_ephemeral(&e, p, cmd, "run", r, err);
    engine_close(&e);
    struct resolved_policy s;
    if (rc < 0 && !p->docker.container && policy_resolve(p, BACKEND_DOCKER, &s, NULL) == 0)
        docker_disk_explain(p, s.read_only_root, err);
    if (rc == 0 && !p->docker.container) {
        r->isolated = true;
        fmt_bounded(r->limits_via, "%s",
                    p->limits.memory || p->limits.cpus > 0 || p->limits.pids ? "docker" : "none");
    }
    return rc;
}

const struct backend backend_docker = {
    .name = "docker",
    .isolated = true,
    .enforces = ENF_DOCKER,
    .available = docker_available,
    .check = docker_check,
    .run = docker_run,
};
