#include "drivers/native/plan.h"

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>

#include "agent/proto.h"
#include "drivers/native/native_disk.h"
#include "drivers/deny.h"
#include "drivers/engine_sockets.h"
#include "policy/fields.h"

/* What programs need from the host, read-only. Merged-/usr systems have
 * /bin, /lib... as symlinks into /usr: those become the same symlinks. */
static const char *const system_dirs[] = {"/usr", "/bin", "/sbin", "/lib", "/lib32",
                                          "/lib64", "/libx32", "/etc"};

/* Secrets under /etc that the sandbox must not read. */
static const char *const etc_secrets[] = {
    "/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-",
    "/etc/sudoers", "/etc/sudoers.d", "/etc/ssl/private", "/etc/security/opasswd",
    "/etc/krb5.keytab", "/etc/docker", "/etc/NetworkManager/system-connections",
    "/etc/wpa_supplicant", "/etc/ppp/chap-secrets", "/etc/ppp/pap-secrets",
    "/etc/libvirt", "/etc/openvpn", "/etc/wireguard", "/etc/credstore",
    "/etc/credstore.encrypted", "/etc/ipsec.secrets", "/etc/containers/auth.json",
};

static const char *const devices[] = {"null", "zero", "full", "random", "urandom", "tty"};

static int oom(hutch_error *err)
{
    return error_set(err, HUTCH_E_SYSTEM, "out of memory");
}

static int add_op(struct plan *pl, enum op_kind kind, const char *src, const char *inside,
                  bool dir, bool writable, const char *data, hutch_error *err)
{
    if (!array_reserve(&pl->ops, &pl->cap, pl->len, sizeof *pl->ops, 64))
        return oom(err);
    struct mount_op *op = &pl->ops[pl->len];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->dir = dir;
    op->writable = writable;
    bool ok = (op->dst = str_join(STAGE_NEW_ROOT, strcmp(inside, "/") == 0 ? "" : inside,
                                  NULL)) != NULL;
    if (ok && src)
        ok = (op->src = kind == OP_SYMLINK ? strdup(src) : str_join(STAGE_OLD_ROOT, src, NULL));
    if (ok && data)
        ok = (op->data = strdup(data)) != NULL;
    pl->len++; /* even when incomplete, so plan_free releases it */
    return ok ? 0 : oom(err);
}

/* The host path of a bind and where the sandbox sees it. */
struct visible {
    char *host;
    char *inside;
    bool writable;
};

struct builder {
    struct plan *plan;
    struct visible *binds;
    size_t n_binds;
    struct strlist dirs; /* inside directories known to exist */
    char owner[48];      /* tmpfs options making the sandbox's user the owner */
    hutch_error *err;
};


/* A directory of the sandbox exists when it was created or mounted, or when
 * it exists on the host below a bind. */
static bool known_dir(struct builder *b, const char *inside)
{
    if (strcmp(inside, "/") == 0 || strlist_contains(&b->dirs, inside))
        return true;
    for (size_t i = b->n_binds; i-- > 0;) {
        const char *rest;
        if (!path_under(inside, b->binds[i].inside, &rest))
            continue;
        char host[PATH_MAX * 2];
        struct stat st;
        return str_join_fits(host, sizeof host, b->binds[i].host, rest, NULL) &&
               lstat(host, &st) == 0 && S_ISDIR(st.st_mode);
    }
    return false;
}

/* Emits OP_MKDIR for each missing parent of inside, so that applying the
 * plan never probes with failing mkdir calls. */
static int make_parents(struct builder *b, const char *inside)
{
    char path[PATH_MAX];
    if (!str_join_fits(path, sizeof path, inside, NULL))
        return error_set(b->err, HUTCH_E_INVALID, "%.200s... is too long for a path in the sandbox",
                         inside);
    for (char *slash = strchr(path + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (!known_dir(b, path)) {
            if (add_op(b->plan, OP_MKDIR, NULL, path, true, false, NULL, b->err) < 0 ||
                strlist_push(&b->dirs, path) < 0)
                return -1;
        }
        *slash = '/';
    }
    return 0;
}

/* An operation at inside, after the directories leading to it. */
static int op(struct builder *b, enum op_kind kind, const char *src, const char *inside, bool dir,
              bool writable, const char *data)
{
    if (make_parents(b, inside) < 0 ||
        add_op(b->plan, kind, src, inside, dir, writable, data, b->err) < 0)
        return -1;
    if (dir && kind != OP_MASK && kind != OP_READ_ONLY && strlist_push(&b->dirs, inside) < 0)
        return oom(b->err);
    return 0;
}

static int remember_bind(struct builder *b, const char *host, const char *inside, bool writable)
{
    struct visible *n = realloc(b->binds, (b->n_binds + 1) * sizeof *n);
    if (!n)
        return oom(b->err);
    b->binds = n;
    b->binds[b->n_binds].host = strdup(host);
    b->binds[b->n_binds].inside = strdup(inside);
    b->binds[b->n_binds].writable = writable;
    b->n_binds++;
    if (!b->binds[b->n_binds - 1].host || !b->binds[b->n_binds - 1].inside)
        return oom(b->err);
    return 0;
}

static int bind(struct builder *b, const char *host, const char *inside, bool dir,
                bool writable)
{
    if (op(b, OP_BIND, host, inside, dir, writable, NULL) < 0)
        return -1;
    return remember_bind(b, host, inside, writable);
}

static int add_system(struct builder *b)
{
    for (size_t i = 0; i < ARRAY_SIZE(system_dirs); i++) {
        const char *dir = system_dirs[i];
        struct stat st;
        if (lstat(dir, &st) < 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t n = readlink(dir, target, sizeof target - 1);
            if (n < 0)
                continue;
            target[n] = '\0';
            if (op(b, OP_SYMLINK, target, dir, false, false, NULL) < 0)
                return -1;
        } else if (S_ISDIR(st.st_mode)) {
            /* One component below /, no symlink: its own real path. */
            if (bind(b, dir, dir, true, false) < 0)
                return -1;
        }
    }
    return 0;
}

static int add_dev(struct builder *b)
{
    struct plan *pl = b->plan;
    if (op(b, OP_PROC, NULL, "/proc", true, false, NULL) < 0 ||
        op(b, OP_TMPFS, NULL, "/dev", true, false, "mode=0755") < 0)
        return -1;
    for (size_t i = 0; i < ARRAY_SIZE(devices); i++) {
        char host[32], inside[32];
        struct stat st;
        if (!str_join_fits(host, sizeof host, "/dev/", devices[i], NULL) ||
            !str_join_fits(inside, sizeof inside, "/dev/", devices[i], NULL) ||
            stat(host, &st) < 0 ||
            !S_ISCHR(st.st_mode))
            continue;
        if (op(b, OP_DEVICE, host, inside, false, true, NULL) < 0 ||
            strlist_push(&pl->writable_files, inside) < 0)
            return oom(b->err);
    }
    static const char *const links[][2] = {
        {"pts/ptmx", "/dev/ptmx"},       {"/proc/self/fd", "/dev/fd"},
        {"/proc/self/fd/0", "/dev/stdin"}, {"/proc/self/fd/1", "/dev/stdout"},
        {"/proc/self/fd/2", "/dev/stderr"},
    };
    if (op(b, OP_DEVPTS, NULL, "/dev/pts", true, true, NULL) < 0 ||
        op(b, OP_TMPFS, NULL, "/dev/shm", true, true, "mode=1777") < 0)
        return -1;
    for (size_t i = 0; i < ARRAY_SIZE(links); i++)
        if (op(b, OP_SYMLINK, links[i][0], links[i][1], false, false, NULL) < 0)
            return -1;
    if (strlist_push(&pl->writable_dirs, "/dev/pts") < 0 ||
        strlist_push(&pl->writable_dirs, "/dev/shm") < 0)
        return oom(b->err);
    return 0;
}

/* A user mount "SRC[:DST]" from --ro / --rw. */
static int add_user_mount(struct builder *b, const char *spec, bool writable,
                          const struct field *f)
{
    const char *colon = strchr(spec, ':');
    autofree char *src = colon ? strndup(spec, (size_t)(colon - spec)) : strdup(spec);
    const char *inside = colon ? colon + 1 : src;
    if (!src)
        return oom(b->err);
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(src, real) || stat(real, &st) < 0)
        return error_sys(b->err, errno, "%s (--%s): cannot mount %s", f->key, f->flag, src);
    if (strcmp(inside, "/") == 0)
        return error_set(b->err, HUTCH_E_INVALID,
                         "%s (--%s): %s cannot be mounted over the sandbox's root; pick a "
                         "destination like /data",
                         f->key, f->flag, spec);
    char what[128];
    fmt_trunc(what, sizeof what, "%s (--%s)", f->key, f->flag); /* for messages */
    if (engine_sockets_refuse(real, what, NULL, b->err) < 0)
        return -1;
    bool dir = S_ISDIR(st.st_mode);
    if (bind(b, real, inside, dir, writable) < 0)
        return -1;
    if (writable && strlist_push(dir ? &b->plan->writable_dirs : &b->plan->writable_files,
                                 inside) < 0)
        return oom(b->err);
    return 0;
}

/* ssh host keys: /etc/ssh/ssh_host_*_key (the .pub halves are public). */
static int list_ssh_host_keys(struct strlist *out)
{
    DIR *d = opendir("/etc/ssh");
    if (!d)
        return 0;
    int r = 0;
    struct dirent *e;
    while (r == 0 && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "ssh_host_", 9) == 0 && n > 4 &&
            strcmp(e->d_name + n - 4, "_key") == 0) {
            char path[PATH_MAX];
            fmt_bounded(path, "/etc/ssh/%s", e->d_name);
            r = strlist_push(out, path);
        }
    }
    closedir(d);
    return r;
}

static void cleanup_deny_plan(struct deny_plan *dp)
{
    deny_plan_free(dp);
}

/* Deny rules and the host's secrets (deny.h): pins first, shallowest
 * first, so that a pin never covers a deeper mount; then the read-only
 * targets, which a mask may lie inside; then the masks. */
static int add_denials(struct builder *b, const struct filesystem_policy *fs)
{
    autostrlist struct strlist secrets = {0};
    for (size_t i = 0; i < ARRAY_SIZE(etc_secrets); i++)
        if (strlist_push(&secrets, etc_secrets[i]) < 0)
            return oom(b->err);
    if (list_ssh_host_keys(&secrets) < 0)
        return oom(b->err);
    autofree struct deny_view *views = calloc(b->n_binds + 1, sizeof *views);
    if (!views)
        return oom(b->err);
    for (size_t i = 0; i < b->n_binds; i++)
        views[i] = (struct deny_view){b->binds[i].host, b->binds[i].inside, b->binds[i].writable};
    __attribute__((cleanup(cleanup_deny_plan))) struct deny_plan dp = {0};
    if (deny_plan_build(fs, (const char *const *)secrets.items, secrets.len, views, b->n_binds,
                        &dp, b->err) < 0)
        return -1;
    for (size_t i = 0; i < dp.pins.len; i++)
        if (op(b, OP_PIN, NULL, dp.pins.items[i], true, false, NULL) < 0)
            return -1;
    for (int hide = 0; hide <= 1; hide++)
        for (size_t i = 0; i < dp.n_places; i++)
            if (dp.places[i].hide == (bool)hide &&
                op(b, hide ? OP_MASK : OP_READ_ONLY, NULL, dp.places[i].inside, dp.places[i].dir,
                   false, NULL) < 0)
                return -1;
    return 0;
}

static int add_tmpfs(struct builder *b, const char *spec)
{
    const char *colon = strchr(spec, ':');
    autofree char *inside = colon ? strndup(spec, (size_t)(colon - spec)) : strdup(spec);
    autofree char *data = NULL;
    if (!inside ||
        asprintf(&data, "%s%s%s", b->owner, colon ? "," : "", colon ? colon + 1 : "") < 0)
        return oom(b->err);
    if (op(b, OP_TMPFS, NULL, inside, true, true, data) < 0)
        return -1;
    return strlist_push(&b->plan->writable_dirs, inside) < 0 ? oom(b->err) : 0;
}

/* The order matters: later mounts land on top of earlier ones, so masks and
 * read-only overrides come last. */
/* A session's agent: its binary read-only at AGENT_BINARY_PATH, and its
 * runtime directory (where init makes its socket) at AGENT_RUNTIME_DIR.
 * Without a binary (a one-shot run behind the allowlist's proxy), only the
 * runtime directory, read-only: it holds the proxy's socket. */
static int add_agent(struct builder *b, const struct plan_agent *agent)
{
    if (!agent)
        return 0;
    if (!agent->binary)
        return bind(b, agent->runtime_dir, AGENT_RUNTIME_DIR, true, false);
    /* Writable only until init has made the agent's socket there
     * (sandbox.h, agent_socket): then read-only for everything inside. */
    if (bind(b, agent->runtime_dir, AGENT_RUNTIME_DIR, true, true) < 0 ||
        bind(b, agent->binary, AGENT_BINARY_PATH, false, false) < 0)
        return -1;
    return 0;
}

static int build_ops(struct builder *b, const struct hutch_policy *p, const char *workspace,
                     const struct plan_agent *agent)
{
    struct plan *pl = b->plan;
    const struct filesystem_policy *fs = &p->filesystem;
    if (add_system(b) < 0 || add_dev(b) < 0 ||
        op(b, OP_TMPFS, NULL, "/tmp", true, true, "mode=1777") < 0)
        return -1;
    if (strlist_push(&pl->writable_dirs, "/tmp") < 0)
        return oom(b->err);
    if (workspace && engine_sockets_refuse(workspace, "workspace (--workspace)", NULL, b->err) < 0)
        return -1;
    /* Without a host workspace, a tmpfs is the fresh, empty workspace that
     * disappears with the sandbox. */
    if (workspace ? bind(b, workspace, "/workspace", true, true) < 0
                  : op(b, OP_TMPFS, NULL, "/workspace", true, true, b->owner) < 0)
        return -1;
    if (strlist_push(&pl->writable_dirs, "/workspace") < 0)
        return oom(b->err);
    if (add_agent(b, agent) < 0)
        return -1;
    for (size_t i = 0; i < fs->read_only.len; i++)
        if (add_user_mount(b, fs->read_only.items[i], false, &fields[F_FS_READ_ONLY]) < 0)
            return -1;
    for (size_t i = 0; i < fs->allow_write.len; i++)
        if (add_user_mount(b, fs->allow_write.items[i], true, &fields[F_FS_ALLOW_WRITE]) < 0)
            return -1;
    for (size_t i = 0; i < fs->tmpfs.len; i++)
        if (add_tmpfs(b, fs->tmpfs.items[i]) < 0)
            return -1;
    if (add_denials(b, fs) < 0)
        return -1;
    if (!pl->read_only_root && strlist_push(&pl->writable_dirs, "/") < 0)
        return oom(b->err);
    return 0;
}

/* Whether setup can build the root on a tmpfs over the host's /tmp
 * (mounts.c): the tmpfs must hide no bind source, and the two empty entries
 * the masks are cloned from, made in the root while it is built, must not
 * count against an inode limit (limits.files). */
static bool can_build_directly(const struct plan *pl)
{
    const size_t strip = strlen(STAGE_OLD_ROOT);
    for (size_t i = 0; i < pl->len; i++) {
        const struct mount_op *op = &pl->ops[i];
        if (op->kind != OP_BIND && op->kind != OP_DEVICE)
            continue;
        const char *host = op->src + strip;
        if (strcmp(host, "/") == 0 || path_under(host, "/tmp", NULL))
            return false;
    }
    struct stat st;
    return !strstr(pl->root_options, "nr_inodes=") && lstat("/tmp", &st) == 0 &&
           S_ISDIR(st.st_mode);
}

int plan_build(const struct hutch_policy *p, const char *workspace, uid_t uid, gid_t gid,
               struct plan *pl, hutch_error *err)
{
    return plan_build_session(p, workspace, NULL, uid, gid, pl, err);
}

int plan_build_session(const struct hutch_policy *p, const char *workspace,
                       const struct plan_agent *agent, uid_t uid, gid_t gid, struct plan *pl,
                       hutch_error *err)
{
    memset(pl, 0, sizeof *pl);
    pl->read_only_root = p->filesystem.read_only_root;
    struct builder b = {.plan = pl, .err = err};
    fmt_bounded(b.owner, "mode=0755,uid=%u,gid=%u", (unsigned)uid, (unsigned)gid);
    /* A writable root is the sandbox user's to write. */
    fmt_bounded(pl->root_options, "%s", pl->read_only_root ? "mode=0755" : b.owner);
    int r = build_ops(&b, p, workspace, agent);
    /* limits.disk and limits.files on every tmpfs (native/disk.h). */
    if (r == 0)
        r = native_disk_plan(pl, p, err);
    if (r == 0)
        pl->direct = can_build_directly(pl);
    for (size_t i = 0; i < b.n_binds; i++) {
        free(b.binds[i].host);
        free(b.binds[i].inside);
    }
    free(b.binds);
    strlist_clear(&b.dirs);
    if (r < 0)
        plan_free(pl);
    return r;
}

void plan_free(struct plan *pl)
{
    for (size_t i = 0; i < pl->len; i++) {
        free(pl->ops[i].src);
        free(pl->ops[i].dst);
        free(pl->ops[i].data);
    }
    free(pl->ops);
    strlist_clear(&pl->writable_dirs);
    strlist_clear(&pl->writable_files);
    memset(pl, 0, sizeof *pl);
}

char *plan_describe(const struct plan *pl)
{
    static const char *const names[] = {"bind", "device", "tmpfs",     "proc",  "devpts",
                                        "symlink", "mask", "read-only", "mkdir", "pin"};
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
    const size_t strip = strlen(STAGE_NEW_ROOT);
    for (size_t i = 0; i < pl->len; i++) {
        const struct mount_op *op = &pl->ops[i];
        const char *inside = op->dst[strip] ? op->dst + strip : "/";
        fprintf(f, "%s%s %s", names[op->kind],
                op->kind == OP_BIND ? (op->writable ? " rw" : " ro") : "", inside);
        if (op->src)
            fprintf(f, " <- %s",
                    op->kind == OP_SYMLINK ? op->src : op->src + strlen(STAGE_OLD_ROOT));
        if (op->data)
            fprintf(f, " (%s)", op->data);
        fputc('\n', f);
    }
    fprintf(f, "root %s\n", pl->read_only_root ? "read-only" : "writable");
    fclose(f);
    return out;
}
