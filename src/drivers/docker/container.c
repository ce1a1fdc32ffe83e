#include "drivers/docker/container.h"

#include <limits.h>
#include <sys/stat.h>

#include "agent/proto.h"
#include "drivers/docker/docker_disk.h"
#include "drivers/deny.h"
#include "drivers/engine_sockets.h"
#include "policy/fields.h"
#include "net/bridge.h"
#include "seccomp_profile.h"

/* tmpfs as hutch mounts it: writable, executable (compilers and pip build in
 * /tmp), no setuid or devices. */
#define TMPFS_OPTIONS "rw,nosuid,nodev,exec,mode=1777"

const char *container_seccomp_profile(void)
{
    return hutch_seccomp_profile;
}

json_t *container_labels(const char *kind)
{
    char host[256] = "", owner[300];
    gethostname(host, sizeof host - 1);
    fmt_trunc(owner, sizeof owner, "%s:%d", host, (int)getpid()); /* a label for people */
    return json_pack("{s:s, s:s, s:s, s:s}", "hutch.managed", "true", "hutch.kind", kind,
                     "hutch.owner", owner, "hutch.version", HUTCH_VERSION_STRING);
}

static json_t *string_array(char *const *items)
{
    json_t *a = json_array();
    for (size_t i = 0; a && items && items[i]; i++)
        json_array_append_new(a, json_string(items[i]));
    return a;
}

/* A mount that bind-mounts source at target. */
static json_t *bind_mount(const char *source, const char *target, bool read_only)
{
    return json_pack("{s:s, s:s, s:s, s:b}", "Type", "bind", "Source", source, "Target",
                     target, "ReadOnly", read_only);
}

struct visible {
    char host[PATH_MAX];
    char inside[PATH_MAX];
    bool writable;
};

struct mounts {
    json_t *list;
    json_t *tmpfs;
    struct visible binds[64];
    size_t n_binds;
    const char *engine_socket;
    hutch_error *err;
};

static int refuse_engine_socket(struct mounts *m, const char *real_source, const char *what)
{
    return engine_sockets_refuse(real_source, what, m->engine_socket, m->err);
}

static int add_bind(struct mounts *m, const char *spec, bool writable, const struct field *f)
{
    const char *colon = strchr(spec, ':');
    char src[PATH_MAX];
    if (fmt_checked(m->err, src, sizeof src, "%.*s",
                    colon ? (int)(colon - spec) : (int)strlen(spec), spec) < 0) {
        error_prefix(m->err, "%s (--%s)", f->key, f->flag);
        return -1;
    }
    const char *inside = colon ? colon + 1 : src;
    char real[PATH_MAX];
    if (!realpath(src, real))
        return error_sys(m->err, errno, "%s (--%s): cannot mount %s", f->key, f->flag, src);
    char what[128];
    fmt_trunc(what, sizeof what, "%s (--%s)", f->key, f->flag); /* for messages */
    if (refuse_engine_socket(m, real, what) < 0)
        return -1;
    json_array_append_new(m->list, bind_mount(real, inside, !writable));
    if (m->n_binds == ARRAY_SIZE(m->binds))
        return error_set(m->err, HUTCH_E_INVALID, "%s (--%s): more than %zu mounts", f->key,
                         f->flag, ARRAY_SIZE(m->binds) - 1);
    fmt_bounded(m->binds[m->n_binds].host, "%s", real);
    if (fmt_checked(m->err, m->binds[m->n_binds].inside, PATH_MAX, "%s", inside) < 0) {
        error_prefix(m->err, "%s (--%s)", f->key, f->flag);
        return -1;
    }
    m->binds[m->n_binds].writable = writable;
    m->n_binds++;
    return 0;
}

static void cleanup_deny_plan(struct deny_plan *dp)
{
    deny_plan_free(dp);
}

/* Deny rules (deny.h): a pin is the directory bound onto itself, a hidden
 * directory an empty, unreadable tmpfs, a hidden file /dev/null, a
 * read-only target its own read-only bind. The engine mounts parents before
 * children, so the order here does not matter. */
static int add_denials(struct mounts *m, const struct filesystem_policy *fs)
{
    struct deny_view views[ARRAY_SIZE(m->binds)];
    for (size_t i = 0; i < m->n_binds; i++)
        views[i] = (struct deny_view){m->binds[i].host, m->binds[i].inside, m->binds[i].writable};
    __attribute__((cleanup(cleanup_deny_plan))) struct deny_plan dp = {0};
    if (deny_plan_build(fs, NULL, 0, views, m->n_binds, &dp, m->err) < 0)
        return -1;
    for (size_t i = 0; i < dp.pins.len; i++) {
        bool also_placed = false; /* a target is a mount point already */
        for (size_t j = 0; j < dp.n_places && !also_placed; j++)
            also_placed = strcmp(dp.places[j].inside, dp.pins.items[i]) == 0;
        if (!also_placed)
            json_array_append_new(m->list,
                                  bind_mount(dp.pin_hosts.items[i], dp.pins.items[i], false));
    }
    for (size_t i = 0; i < dp.n_places; i++) {
        const struct deny_place *pl = &dp.places[i];
        if (!pl->hide)
            json_array_append_new(m->list, bind_mount(pl->host, pl->inside, true));
        else if (pl->dir)
            json_object_set_new(m->tmpfs, pl->inside,
                                json_string("ro,nosuid,nodev,noexec,mode=000"));
        else
            json_array_append_new(m->list, bind_mount("/dev/null", pl->inside, true));
    }
    return 0;
}

/* Docker ignores a tmpfs's mode when the image has the directory (it keeps
 * the directory's mode, with root as owner), so a non-root user could not
 * write to /workspace or to an image's 0755 /tmp. Owning the tmpfs works:
 * "uid=U,gid=G" for a numeric user "U[:G]" with Docker; Podman rejects
 * those and has "U" (owned by the container's user) instead. */
static void owner_options(const char *user, bool podman, char *out, size_t len)
{
    /* Whole options or none: "" leaves the tmpfs root's. */
    out[0] = '\0';
    if (podman) {
        (void)!fmt_fits(out, len, ",U");
        return;
    }
    char *end;
    errno = 0;
    unsigned long uid = strtoul(user, &end, 10);
    if (end == user || errno || (*end && *end != ':'))
        return;
    if (*end == ':') {
        const char *g = end + 1;
        unsigned long gid = strtoul(g, &end, 10);
        if (end == g || *end)
            return;
        (void)!fmt_fits(out, len, ",uid=%lu,gid=%lu", uid, gid);
    } else {
        (void)!fmt_fits(out, len, ",uid=%lu", uid);
    }
}

static int add_tmpfs(json_t *tmpfs, const char *spec, const char *owner, hutch_error *err)
{
    const char *colon = strchr(spec, ':');
    char path[PATH_MAX], options[512];
    if (fmt_checked(err, path, sizeof path, "%.*s",
                    colon ? (int)(colon - spec) : (int)strlen(spec), spec) < 0 ||
        fmt_checked(err, options, sizeof options, "%s%s%s%s", TMPFS_OPTIONS, owner,
                    colon ? "," : "", colon ? colon + 1 : "") < 0) {
        error_prefix(err, "tmpfs %.200s", spec);
        return -1;
    }
    json_object_set_new(tmpfs, path, json_string(options));
    return 0;
}

static int build_mounts(const struct hutch_policy *p, const struct resolved_policy *s,
                        bool podman, const char *workspace, struct mounts *m)
{
    const struct filesystem_policy *fs = &p->filesystem;
    char owner[64];
    owner_options(s->user, podman, owner, sizeof owner);
    if (!workspace)
        workspace = p->workspace;
    if (workspace) {
        char real[PATH_MAX];
        if (!realpath(workspace, real))
            return error_sys(m->err, errno, "workspace (--workspace) %s", workspace);
        if (refuse_engine_socket(m, real, "workspace (--workspace)") < 0)
            return -1;
        json_array_append_new(m->list, bind_mount(real, "/workspace", false));
        fmt_bounded(m->binds[0].host, "%s", real);
        fmt_bounded(m->binds[0].inside, "/workspace");
        m->binds[0].writable = true;
        m->n_binds = 1;
    } else if (add_tmpfs(m->tmpfs, "/workspace", owner, m->err) < 0) {
        return -1;
    }
    for (size_t i = 0; i < fs->read_only.len; i++)
        if (add_bind(m, fs->read_only.items[i], false, &fields[F_FS_READ_ONLY]) < 0)
            return -1;
    for (size_t i = 0; i < fs->allow_write.len; i++)
        if (add_bind(m, fs->allow_write.items[i], true, &fields[F_FS_ALLOW_WRITE]) < 0)
            return -1;
    for (size_t i = 0; i < s->backend_tmpfs->len; i++)
        if (add_tmpfs(m->tmpfs, s->backend_tmpfs->items[i], owner, m->err) < 0)
            return -1;
    for (size_t i = 0; i < fs->tmpfs.len; i++)
        if (add_tmpfs(m->tmpfs, fs->tmpfs.items[i], owner, m->err) < 0)
            return -1;
    return add_denials(m, fs);
}

json_t *container_config(const struct hutch_policy *p, const struct container_request *req,
                         hutch_error *err)
{
    struct resolved_policy s;
    if (policy_resolve(p, BACKEND_DOCKER, &s, err) < 0)
        return NULL;
    if (req->user)
        s.user = req->user; /* the tmpfs mounts become its too */
    struct mounts m = {.list = json_array(), .tmpfs = json_object(),
                       .engine_socket = req->engine_socket, .err = err};
    if (build_mounts(p, &s, req->podman, req->workspace, &m) < 0) {
        json_decref(m.list);
        json_decref(m.tmpfs);
        return NULL;
    }

    json_t *host = json_object();
    json_object_set_new(host, "Mounts", m.list);
    json_object_set_new(host, "Tmpfs", m.tmpfs);
    /* limits.disk and limits.files (docker/disk.h). */
    if (docker_disk_apply(p, host, s.read_only_root, req->podman, err) < 0) {
        json_decref(host);
        return NULL;
    }
    json_object_set_new(host, "ReadonlyRootfs", json_boolean(s.read_only_root));
    json_object_set_new(host, "NetworkMode", json_string(s.network));
    json_t *caps = json_array();
    for (size_t i = 0; i < p->docker.cap_drop.len; i++)
        json_array_append_new(caps, json_string(p->docker.cap_drop.items[i]));
    json_object_set_new(host, "CapDrop", caps);
    json_object_set_new(host, "CapAdd", json_array());
    /* hutch's own seccomp profile, not the engine's default (which allows
     * io_uring and, on Docker 20.10, ptrace): the native backend's policy. */
    json_object_set_new(host, "SecurityOpt",
                        json_pack("[s, s+]", "no-new-privileges", "seccomp=",
                                  req->seccomp_file ? req->seccomp_file : hutch_seccomp_profile));
    json_object_set_new(host, "Privileged", json_false());
    /* Without hutch-init (sessions, whose caller sets it), the engine's init. */
    json_object_set_new(host, "Init", json_boolean(!req->agent_binary));
    json_object_set_new(host, "LogConfig", json_pack("{s:s, s:{}}", "Type", "none", "Config"));
    if (p->limits.memory) {
        /* No swap: MemorySwap is memory plus swap. */
        json_object_set_new(host, "Memory", json_integer((json_int_t)p->limits.memory));
        json_object_set_new(host, "MemorySwap", json_integer((json_int_t)p->limits.memory));
    }
    if (p->limits.cpus > 0)
        json_object_set_new(host, "NanoCpus",
                            json_integer((json_int_t)(p->limits.cpus * 1e9)));
    if (p->limits.pids)
        json_object_set_new(host, "PidsLimit", json_integer((json_int_t)p->limits.pids));
    /* Podman replaces every ulimit not named with its own maximum as soon as
     * one is named, which fails where the engine may not raise limits: there
     * core dumps are left to containers.conf unless a file size is asked. */
    json_t *ulimits = json_array();
    if (!req->podman || p->limits.file_size)
        json_array_append_new(ulimits,
                              json_pack("{s:s, s:i, s:i}", "Name", "core", "Soft", 0, "Hard", 0));
    if (p->limits.file_size)
        json_array_append_new(ulimits, json_pack("{s:s, s:I, s:I}", "Name", "fsize", "Soft",
                                                 (json_int_t)p->limits.file_size, "Hard",
                                                 (json_int_t)p->limits.file_size));
    json_object_set_new(host, "Ulimits", ulimits);
    if (p->docker.runtime)
        json_object_set_new(host, "Runtime", json_string(p->docker.runtime));

    /* req->envp has docker.env under env already (policy_env_apply). */
    json_t *env = string_array(req->envp);

    json_t *config = json_object();
    json_object_set_new(config, "Image", json_string(s.image));
    if (req->agent_binary) {
        /* hutch-init is PID 1: unlike the engine's init it cannot be traced or
         * read through /proc/1 by the command (which runs as the same user);
         * with the allowlist it bridges 127.0.0.1 to the proxy first. */
        json_array_append_new(m.list, bind_mount(req->agent_binary, AGENT_BINARY_PATH, true));
        json_t *entrypoint = json_pack("[s]", AGENT_BINARY_PATH);
        if (req->proxy_dir) {
            json_array_append_new(m.list, bind_mount(req->proxy_dir, AGENT_RUNTIME_DIR, true));
            json_array_append_new(entrypoint, json_string("--proxy"));
            json_array_append_new(entrypoint, json_string(BRIDGE_PROXY_SOCKET));
        }
        json_array_append_new(entrypoint, json_string("--"));
        for (size_t i = 0; req->image_entrypoint && req->image_entrypoint[i]; i++)
            json_array_append_new(entrypoint, json_string(req->image_entrypoint[i]));
        json_object_set_new(config, "Entrypoint", entrypoint);
    } else if (!req->keep_entrypoint) {
        json_object_set_new(config, "Entrypoint", json_array());
    }
    json_object_set_new(config, "Cmd", string_array(req->argv));
    json_object_set_new(config, "Env", env);
    json_object_set_new(config, "WorkingDir", json_string(s.workdir));
    json_object_set_new(config, "User", json_string(s.user));
    json_object_set_new(config, "Labels", container_labels(req->kind));
    json_object_set_new(config, "Tty", json_false());
    json_object_set_new(config, "AttachStdout", json_true());
    json_object_set_new(config, "AttachStderr", json_true());
    json_object_set_new(config, "AttachStdin", json_boolean(req->open_stdin));
    json_object_set_new(config, "OpenStdin", json_boolean(req->open_stdin));
    json_object_set_new(config, "StdinOnce", json_boolean(req->open_stdin));
    json_object_set_new(config, "NetworkDisabled", json_boolean(strcmp(s.network, "none") == 0));
    json_object_set_new(config, "HostConfig", host);
    return config;
}
