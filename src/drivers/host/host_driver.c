/* host: no isolation at all. Only the environment, timeout and output limits
 * of the policy apply. Must be asked for explicitly. */
#include "drivers/driver.h"

static int host_available(const struct hutch_policy *p, hutch_error *err)
{
    (void)p;
    (void)err;
    return 0;
}

static int host_run(const struct hutch_policy *p, const hutch_command *cmd, hutch_result *r,
                    hutch_error *err)
{
    return hostproc_run(p, NULL, cmd, r, NULL, NULL, err);
}

const struct backend backend_host = {
    .name = "host",
    .isolated = false,
    .enforces = 0,
    .available = host_available,
    .run = host_run,
};
