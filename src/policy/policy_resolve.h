/* A policy's effective settings on one backend. Where a docker.* key and a
 * general key say the same thing (workdir, user, network, readOnlyRoot,
 * tmpfs, env, setupCommand), one rule here decides, once (docs/config.md);
 * backends, session exec and the tools read the resolved view, never the
 * docker.* keys themselves. Pure: no I/O. */
#ifndef HUTCH_POLICY_RESOLVE_H
#define HUTCH_POLICY_RESOLVE_H

#include <limits.h>

#include "policy/policy.h"

struct resolved_policy {
    int backend;               /* enum backend_kind */
    char workdir[PATH_MAX];    /* where commands start, inside the sandbox */
    /* PATH[:OPTIONS] of the fresh tmpfs mounts besides filesystem.tmpfs:
     * docker.tmpfs for docker; NULL for native, which always has /tmp. */
    const struct strlist *backend_tmpfs;
    /* Run once in a new session's sandbox; NULL for none. */
    const char *session_setup;
    /* Run before every one-shot command (docker.setupCommand); NULL for none. */
    const char *run_setup;
    /* docker */
    const char *image;
    const char *network; /* none, host, bridge or a network name */
    const char *user;
    bool read_only_root;
};

/* Fails only for combinations that cannot be resolved (docker.network with
 * the allowlist); the message names the key. */
int policy_resolve(const struct hutch_policy *p, int backend, struct resolved_policy *out,
                   hutch_error *err);

/* The policy's own variables onto env: docker.env first (for containers
 * hutch makes), then env, so that env wins for a name both set. */
int policy_env_apply(const struct hutch_policy *p, bool with_docker_env, struct strlist *env);

#endif
