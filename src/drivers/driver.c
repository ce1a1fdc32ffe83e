#include "drivers/driver.h"

#include "policy/fields.h"

const struct driver *driver_for(int kind)
{
    switch (kind) {
    case BACKEND_HOST:
        return &driver_host;
    case BACKEND_SPAWN:
        return &driver_spawn;
    case BACKEND_NATIVE:
        return &driver_native;
#ifndef HUTCH_NO_DOCKER
    case BACKEND_DOCKER:
        return &driver_docker;
#endif
    default:
        return NULL;
    }
}

const char *session_state_name(enum session_state s)
{
    static const char *const names[] = {"missing", "running", "stopped", "broken", "failed"};
    return names[s];
}

int driver_run_once(const struct driver *d, const struct hutch_policy *p, const hutch_command *cmd,
                    hutch_result *r, hutch_error *err)
{
    struct instance in = {.exiting = cmd->detach_teardown && !HUTCH_LEAK_CHECKED};
    int rc = d->create(&in, p, err);
    if (rc == 0)
        rc = d->exec(&in, p, cmd, r, err);
    /* What destroy says after a failure matters less than the failure. */
    hutch_error ignored;
    if (d->destroy(&in, rc < 0 ? &ignored : err) < 0 && rc == 0) {
        hutch_result_free(r);
        rc = -1;
    }
    return rc;
}

/* How to tell that a policy asks for a restriction (fields_list.h marks
 * which fields are restrictions). Timeouts, output limits, environment and
 * working directory every backend applies. */
bool policy_requests(const struct hutch_policy *p, enum field_id id)
{
    const struct filesystem_policy *fs = &p->filesystem;
    switch (id) {
    case F_NET_MODE:
        /* The default "none" is for isolating backends; asking for it is explicit. */
        return p->set[F_NET_MODE] || p->network.mode == NET_ALLOW
                   ? p->network.mode != NET_HOST
                   : false;
    case F_FS_DENY_READ:
        return fs->deny_read.len > 0;
    case F_FS_ALLOW_WRITE:
        return fs->allow_write.len > 0;
    case F_FS_DENY_WRITE:
        return fs->deny_write.len > 0;
    case F_FS_READ_ONLY:
        return fs->read_only.len > 0;
    case F_FS_TMPFS:
        return fs->tmpfs.len > 0;
    case F_FS_READ_ONLY_ROOT:
        /* On by default for the backends that build a root; asked for only
         * when given explicitly. */
        return p->set[F_FS_READ_ONLY_ROOT] && fs->read_only_root;
    case F_LIMIT_MEMORY:
        return p->limits.memory > 0;
    case F_LIMIT_CPUS:
        return p->limits.cpus > 0;
    case F_LIMIT_PIDS:
        return p->limits.pids > 0;
    case F_LIMIT_FILE_SIZE:
        return p->limits.file_size > 0;
    case F_LIMIT_DISK:
        return p->limits.disk > 0;
    case F_LIMIT_FILES:
        return p->limits.files > 0;
    case F_USER:
        return p->user != NULL;
    default:
        return false;
    }
}

static const char *not_enforced(enum field_id id)
{
    switch (id) {
    case F_NET_MODE:
        return "it shares the host's network";
    case F_LIMIT_MEMORY:
    case F_LIMIT_FILE_SIZE:
        return "it applies no resource limits";
    case F_LIMIT_CPUS:
    case F_LIMIT_PIDS:
        return "it has no cgroup to limit CPU or processes";
    case F_USER:
        return "it runs as the calling user";
    case F_LIMIT_DISK:
    case F_LIMIT_FILES:
        return "the command writes to the host's own filesystems";
    default:
        return "it shares the host's filesystem";
    }
}

int driver_check_policy(const struct driver *b, const struct hutch_policy *p, hutch_error *err)
{
    if (b->check && b->check(p, err) < 0)
        return -1;
    for (size_t i = 0; i < FIELD_COUNT; i++) {
        const struct field *f = &fields[i];
        if (!f->enforced || !policy_requests(p, f->id) || (f->enforced & b->enforces))
            continue;
        enum field_id id = f->id;
        char flag[64] = "";
        if (f->flag)
            fmt_trunc(flag, sizeof flag, " (--%s)", f->flag); /* for the message */
        return error_set(err, HUTCH_E_UNSUPPORTED,
                         "the %s backend cannot enforce %s%s: %s; use --backend native or "
                         "docker, or remove the setting",
                         b->name, f->key, flag, not_enforced(id));
    }
    return 0;
}

int driver_always_available(const struct hutch_policy *p, hutch_error *err)
{
    (void)p;
    (void)err;
    return 0;
}

int driver_create_nothing(struct instance *in, const struct hutch_policy *p, hutch_error *err)
{
    (void)in;
    (void)p;
    (void)err;
    return 0;
}

int driver_destroy_nothing(struct instance *in, hutch_error *err)
{
    return driver_create_nothing(in, NULL, err);
}

int driver_unenforced(const struct driver *d, const struct hutch_policy *p, struct strlist *keys)
{
    for (size_t i = 0; i < FIELD_COUNT; i++) {
        const struct field *f = &fields[i];
        if (f->enforced && !(f->enforced & d->enforces) && policy_requests(p, f->id) &&
            strlist_push(keys, f->key) < 0)
            return -1;
    }
    return 0;
}
