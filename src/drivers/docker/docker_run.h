/* Running commands in containers: ephemeral ones hutch creates and removes,
 * and existing ("adopted") ones it only executes in. */
#ifndef HUTCH_DOCKER_RUN_H
#define HUTCH_DOCKER_RUN_H

#include <limits.h>

#include "drivers/docker/engine.h"
#include "policy/policy.h"

/* Create, attach, start, stream, wait, inspect, remove — the container is
 * removed in every case: success, timeout, engine error, cancel. */
int docker_run_ephemeral(struct engine *e, const struct hutch_policy *p, const hutch_command *cmd,
                         const char *kind, hutch_result *r, hutch_error *err);

/* The same for a skill: cmd's argv is the whole command line, the image's
 * ENTRYPOINT and CMD included as skill.c puts them (hutch-init runs it);
 * env (NAME=VALUE, NULL-terminated) is set over the policy's environment.
 * No docker.setupCommand, no network allowlist. */
int docker_run_skill(struct engine *e, const struct hutch_policy *p, const hutch_command *cmd,
                     char *const *env, hutch_result *r, hutch_error *err);

/* exec in the existing container p->docker.container, never stopping or
 * removing it. */
int docker_run_adopted(struct engine *e, const struct hutch_policy *p, const hutch_command *cmd,
                       hutch_result *r, hutch_error *err);

/* The same in the container name (an adopted one, or a session's container
 * on a TCP engine), in workdir unless the policy names one (NULL: the
 * container's own). */
int docker_exec_in(struct engine *e, const char *name, const struct hutch_policy *p,
                   const char *workdir, const hutch_command *cmd, hutch_result *r,
                   hutch_error *err);

/* Where commands start in an adopted container: /workspace when it has
 * that directory, else NULL (its own working directory). */
const char *docker_adopted_workdir(struct engine *e, const char *name);

/* Removes run containers whose hutch process on this host is gone (killed,
 * or cut off when the engine went away). */
void docker_remove_stale(struct engine *e);

/* hutch's seccomp profile where the engine needs it as a file: Podman's
 * compatible API reads "seccomp=" as a path on its own host, when the
 * container is created. Then path is a private file written for the create
 * call, to be removed after it (docker_seccomp_file_remove); else path is
 * "" and the profile goes in the request itself. */
struct docker_seccomp_file {
    char path[PATH_MAX];
};
int docker_seccomp_file(const struct engine *e, struct docker_seccomp_file *f, hutch_error *err);
void docker_seccomp_file_remove(struct docker_seccomp_file *f);

#endif
