/* docker: containers through the Docker Engine HTTP API (never the docker
 * CLI), ephemeral ones that hutch creates and removes, or an existing one
 * it adopts (--sandbox docker:NAME). The engine work is in the other files
 * of this folder. */
#include "drivers/driver.h"
#include "drivers/docker/container.h"
#include "drivers/docker/docker_relay.h"
#include "drivers/docker/docker_session.h"
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

/* ---- one-shot runs: create opens the engine; exec makes, runs and removes
 * the container, whose command is part of it (or execs in an adopted one) -- */

static int oneshot_create(struct instance *in, const struct hutch_policy *p, hutch_error *err)
{
    struct engine *e = calloc(1, sizeof *e);
    if (!e)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    if (engine_open(e, p->docker.host, err) < 0) {
        free(e);
        return -1;
    }
    in->state = e;
    return 0;
}

static int oneshot_exec(struct instance *in, const struct hutch_policy *p, const hutch_command *cmd,
                        hutch_result *r, hutch_error *err)
{
    struct engine *e = in->state;
    int rc = p->docker.container ? docker_run_adopted(e, p, cmd, r, err)
                                 : docker_run_ephemeral(e, p, cmd, "run", r, err);
    struct resolved_policy s;
    if (rc < 0 && !p->docker.container && policy_resolve(p, BACKEND_DOCKER, &s, NULL) == 0)
        docker_disk_explain(p, s.read_only_root, err);
    if (rc == 0 && !p->docker.container)
        r->isolated = true; /* limits_via: docker_run_ephemeral */
    return rc;
}

static int oneshot_destroy(struct instance *in)
{
    struct engine *e = in->state;
    if (e) {
        engine_close(e);
        free(e);
        in->state = NULL;
    }
    return 0;
}

/* ---- the driver: one-shot runs here, sessions in docker_session.c ------------------ */

static int docker_create(struct instance *in, const struct hutch_policy *p, hutch_error *err)
{
    return in->session ? docker_session_create(in->session, p, err) : oneshot_create(in, p, err);
}

static int docker_exec(struct instance *in, const struct hutch_policy *p, const hutch_command *cmd,
                       hutch_result *r, hutch_error *err)
{
    return in->session ? docker_session_exec(in->session, p, in->agent, cmd, r, err)
                       : oneshot_exec(in, p, cmd, r, err);
}

static int docker_destroy(struct instance *in, hutch_error *err)
{
    return in->session ? docker_session_remove(in->session, err) : oneshot_destroy(in);
}

const struct driver driver_docker = {
    .name = "docker",
    .isolated = true,
    .enforces = ENF_DOCKER,
    .available = docker_available,
    .check = docker_check,
    .create = docker_create,
    .exec = docker_exec,
    .destroy = docker_destroy,
    .start = docker_session_start,
    .stop = docker_session_stop,
    .probe = docker_session_probe,
    .stats = docker_session_stats,
    .connect = docker_relay_connect,
};
