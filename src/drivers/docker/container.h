/* The policy as a Docker container: the JSON for POST /containers/create.
 * Pure: it reads the host filesystem only to resolve mount sources. */
#ifndef HUTCH_DOCKER_CONTAINER_H
#define HUTCH_DOCKER_CONTAINER_H

#include <jansson.h>

#include "base/error.h"
#include "policy/policy.h"
#include "policy/policy_resolve.h"
#include "base/strlist.h"

struct container_request {
    const char *kind;          /* label hutch.kind: run, skill, session */
    char *const *argv;         /* the command, as executed */
    char *const *envp;         /* NAME=VALUE */
    bool open_stdin;
    bool keep_entrypoint;      /* skills: without agent_binary, the image's ENTRYPOINT stays */
    const char *engine_socket; /* never mounted into the container; may be "" */
    bool podman;               /* the engine is Podman: its tmpfs options differ */
    /* Network mode allow (one-shot runs): the host directory with the
     * proxy's socket, which hutch-init bridges to (docs/network.md). */
    const char *proxy_dir;
    /* One-shot runs and skills: hutch-init on the host, their PID 1 instead
     * of the engine's init. NULL (sessions): the caller sets the entrypoint. */
    const char *agent_binary;
    /* The container's user when it is not the policy's (an unprivileged
     * caller's session runs as the caller); NULL: the policy's. */
    const char *user;
    /* An ENTRYPOINT for hutch-init to run before argv (skill.c puts a
     * skill's into argv itself). */
    char *const *image_entrypoint;
    /* Podman: the seccomp profile as a file on the engine's host (its
     * compatible API takes no JSON there); NULL: the profile itself. */
    const char *seccomp_file;
    /* A session's workspace (host path), mounted at /workspace instead of
     * the policy's; NULL: the policy's --workspace, or a fresh tmpfs. */
    const char *workspace;
};

/* The create body; NULL with err set when the policy cannot be expressed. */
json_t *container_config(const struct hutch_policy *p, const struct container_request *req,
                         hutch_error *err);

/* The labels every container hutch creates carries. */
json_t *container_labels(const char *kind);

/* hutch's seccomp profile for containers, as Docker's JSON: the native
 * backend's policy (src/drivers/native/seccomp_gen.c writes it at build time). */
const char *container_seccomp_profile(void);

#endif
