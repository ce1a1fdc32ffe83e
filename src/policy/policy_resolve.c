#include "policy/policy_resolve.h"

#include "base/error.h"

static const char *non_empty(const char *s)
{
    return s && *s ? s : NULL;
}

static int resolve_docker(const struct hutch_policy *p, struct resolved_policy *r,
                          hutch_error *err)
{
    r->image = p->docker.image;
    if (p->network.mode == NET_ALLOW) {
        /* The proxy's socket is the only way out. */
        if (p->docker.network && strcmp(p->docker.network, "none") != 0)
            return error_set(err, HUTCH_E_INVALID,
                             "docker.network is \"%s\" but network.mode is \"allow\", which "
                             "needs network none: drop docker.network",
                             p->docker.network);
        r->network = "none";
    } else if (p->docker.network) {
        r->network = p->docker.network;
    } else {
        r->network = p->network.mode == NET_HOST     ? "host"
                     : p->network.mode == NET_BRIDGE ? "bridge"
                                                     : "none";
    }
    r->user = p->docker.user ? p->docker.user : p->user ? p->user : "1000:1000";
    if (p->set[F_DOCKER_READ_ONLY_ROOT])
        r->read_only_root = p->docker.read_only_root;
    else if (p->set[F_FS_READ_ONLY_ROOT])
        r->read_only_root = p->filesystem.read_only_root;
    else
        r->read_only_root = p->docker.read_only_root;
    r->run_setup = non_empty(p->docker.setup_command);
    return 0;
}

int policy_resolve(const struct hutch_policy *p, int backend, struct resolved_policy *out,
                   hutch_error *err)
{
    memset(out, 0, sizeof *out);
    out->backend = backend;
    bool docker = backend == BACKEND_DOCKER;
    const char *dir = docker && p->docker.workdir ? p->docker.workdir : p->workdir;
    const char *prefix = !dir ? "/workspace" : dir[0] == '/' ? "" : "/workspace/";
    if (fmt_checked(err, out->workdir, sizeof out->workdir, "%s%s", prefix, dir ? dir : "") < 0) {
        error_prefix(err, "workdir");
        return -1;
    }
    out->backend_tmpfs = docker ? &p->docker.tmpfs : NULL;
    out->session_setup = non_empty(p->setup_command);
    if (docker) {
        if (resolve_docker(p, out, err) < 0)
            return -1;
        if (out->run_setup)
            out->session_setup = out->run_setup;
    }
    return 0;
}

int policy_env_apply(const struct hutch_policy *p, bool with_docker_env, struct strlist *env)
{
    int r = 0;
    for (int layer = with_docker_env ? 0 : 1; layer < 2 && r == 0; layer++) {
        const struct strlist *vars = layer == 0 ? &p->docker.env : &p->env;
        for (size_t i = 0; i < vars->len && r == 0; i++) {
            const char *entry = vars->items[i];
            const char *eq = strchr(entry, '=');
            if (eq)
                r = strlist_set_env(env, entry, (size_t)(eq - entry), eq + 1);
        }
    }
    return r;
}
