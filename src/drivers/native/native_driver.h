/* The native backend's preparation steps, shared by one-shot runs
 * (native_driver.c) and native sessions (native_session.c): who the sandbox's
 * user is, and how its limits are applied. */
#ifndef HUTCH_BACKEND_NATIVE_H
#define HUTCH_BACKEND_NATIVE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "drivers/native/cgroup.h"
#include "drivers/native/plan.h"
#include "drivers/driver.h"
#include "policy/policy.h"

/* When hutch runs as root, commands run as nobody unless --user says otherwise. */
#define ROOT_DEFAULT_ID 65534

struct native_identity {
    uid_t uid, outside_uid; /* inside the sandbox, and what it maps onto */
    gid_t gid, outside_gid;
    bool privileged;        /* hutch runs as root */
};

/* Refuses (HUTCH_E_INVALID) uid 0 for a root caller unless allowRootUser:
 * the sandbox would be the host's root, without capabilities, but the
 * owner of every root-only file its mounts show. */
int native_choose_identity(const struct hutch_policy *p, struct native_identity *id,
                           hutch_error *err);

/* True when uid:gid can look up every bind source of the plan, so that root
 * can set the sandbox up as that user directly (no nested namespace). */
bool native_reachable_by(const struct plan *plan, uid_t uid, gid_t gid);

struct native_limits {
    struct cgroup_run cgroup;
    uint64_t rlimit_nproc, rlimit_as;
    const char *via;
};

/* cgroup first (named cgroup_name, or a fresh name when NULL); without one,
 * pids fall back to RLIMIT_NPROC, memory to RLIMIT_AS only when the policy
 * allows it, CPU never (refused). */
int native_prepare_limits(const struct hutch_policy *p, const char *cgroup_name,
                          struct native_limits *l, hutch_error *err);

struct session;

/* Native sessions (native_session.c): the sandbox kept alive with hutch-init
 * as its PID 1; the record holds its init's pid and start time. */
int native_session_create(struct session *s, const struct hutch_policy *p, hutch_error *err);
int native_session_start(struct session *s, const struct hutch_policy *p, hutch_error *err);
/* Stops the sandbox (every process in it) and removes its cgroup; also
 * what destroy does: the workspace stays. */
int native_session_stop(struct session *s, hutch_error *err);
enum session_state native_session_probe(struct session *s, char *detail, size_t len);
int native_session_stats(struct session *s, struct session_stats *st, hutch_error *err);

#endif
