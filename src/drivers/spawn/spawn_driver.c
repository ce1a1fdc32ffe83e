/* spawn: a plain child process with a scrubbed environment, its own process
 * group (the timeout kills the whole group), no core dumps, and rlimits for
 * memory (address space) and file size. Same filesystem, network and user as
 * the caller: it isolates nothing else. */
#include <sys/resource.h>

#include "drivers/driver.h"
#include "drivers/host/hostproc.h"

struct spawn_limits {
    uint64_t memory;
    uint64_t file_size;
};

static int set_limit(int resource, uint64_t value)
{
    struct rlimit rl = {.rlim_cur = value, .rlim_max = value};
    return setrlimit(resource, &rl);
}

static int spawn_child_setup(void *ctx)
{
    const struct spawn_limits *l = ctx;
    if (set_limit(RLIMIT_CORE, 0) < 0)
        return -1;
    if (l->memory && set_limit(RLIMIT_AS, l->memory) < 0)
        return -1;
    if (l->file_size && set_limit(RLIMIT_FSIZE, l->file_size) < 0)
        return -1;
    return 0;
}

static int spawn_exec(struct instance *in, const struct hutch_policy *p, const hutch_command *cmd,
                      hutch_result *r, hutch_error *err)
{
    (void)in;
    struct spawn_limits limits = {.memory = p->limits.memory, .file_size = p->limits.file_size};
    if (hostproc_run(p, NULL, cmd, r, spawn_child_setup, &limits, err) < 0)
        return -1;
    fmt_bounded(r->limits_via, "%s", limits.memory || limits.file_size ? "rlimit" : "none");
    return 0;
}

/* No sessions: a spawn policy's sessions are host sessions. */
const struct driver driver_spawn = {
    .name = "spawn",
    .isolated = false,
    .enforces = ENF_SPAWN,
    .available = driver_always_available,
    /* Nothing to make or remove: the rlimits are set in the child. */
    .create = driver_create_nothing,
    .exec = spawn_exec,
    .destroy = driver_destroy_nothing,
};
