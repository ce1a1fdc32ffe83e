/* host: no isolation at all. Only the environment, timeout and output limits
 * of the policy apply; it must be asked for explicitly. Sessions whose
 * sandbox mode leaves them unsandboxed (mode off, mainSession under
 * non-main) are host sessions: their commands run here, in the session's
 * workspace. */
#include "base/notice.h"
#include "drivers/driver.h"
#include "drivers/host/hostproc.h"
#include "session/session.h"

/* Nothing to start or stop: the host is there. */
static int host_start(struct session *s, const struct hutch_policy *p, hutch_error *err)
{
    (void)s;
    (void)p;
    (void)err;
    return 0;
}

static int host_stop(struct session *s, hutch_error *err)
{
    return host_start(s, NULL, err);
}

static int host_exec(struct instance *in, const struct hutch_policy *p, const hutch_command *cmd,
                     hutch_result *r, hutch_error *err)
{
    const char *workspace = NULL;
    if (in->session) {
        /* Under what the host applies: a restriction it cannot is refused,
         * as for hutch run. */
        if (driver_check_policy(&driver_host, p, err) < 0)
            return -1;
        notice("warning: session %s runs on the host, unsandboxed (sandbox mode %s)",
               in->session->key, p->mode == MODE_OFF ? "off" : "non-main: it is the main session");
        workspace = in->session->record->workspace;
    }
    if (hostproc_run(p, workspace, cmd, r, NULL, NULL, err) < 0)
        return -1;
    fmt_bounded(r->backend, "host");
    r->isolated = false;
    return 0;
}

static enum session_state host_probe(struct session *s, char *detail, size_t len)
{
    (void)s;
    fmt_trunc(detail, len, "no sandbox: runs on the host");
    return SESSION_RUNNING;
}

static int host_stats(struct session *s, struct session_stats *st, hutch_error *err)
{
    (void)st;
    return error_set(err, HUTCH_E_INVALID,
                     "session %s runs on the host (sandbox mode %s): it has no sandbox to "
                     "measure",
                     s->key, "off or non-main");
}

const struct driver driver_host = {
    .name = "host",
    .isolated = false,
    .enforces = 0,
    .available = driver_always_available,
    .create = driver_create_nothing, /* the host is there */
    .exec = host_exec,
    .destroy = driver_destroy_nothing,
    .start = host_start,
    .stop = host_stop,
    .probe = host_probe,
    .stats = host_stats,
};
