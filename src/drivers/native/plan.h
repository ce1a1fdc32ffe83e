/* The native sandbox's filesystem as an ordered list of setup operations,
 * built from the policy in the parent (where allocating and reading the host
 * filesystem is fine) and applied in one pass by the sandbox's init
 * (mounts.c). Parsing and doing are separate: the plan can be printed and
 * tested on its own. */
#ifndef HUTCH_NATIVE_PLAN_H
#define HUTCH_NATIVE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"
#include "policy/policy.h"
#include "base/strlist.h"

/* During setup the host's root is here, and the sandbox's root is built here. */
#define STAGE_OLD_ROOT "/oldroot"
#define STAGE_NEW_ROOT "/newroot"

enum op_kind {
    OP_BIND,      /* bind src (host) at dst; read-only unless writable */
    OP_DEVICE,    /* bind a host device node at dst */
    OP_TMPFS,     /* a fresh tmpfs at dst with options data */
    OP_PROC,      /* a fresh procfs at dst */
    OP_DEVPTS,    /* a private devpts instance at dst */
    OP_SYMLINK,   /* a symlink at dst pointing to src */
    OP_MASK,      /* hide dst: an empty, unreadable file or directory over it */
    OP_READ_ONLY, /* make dst (already visible) read-only */
    OP_MKDIR,     /* create the directory dst in the sandbox's root tmpfs */
    OP_PIN,       /* bind the directory dst onto itself: a mount point cannot be
                     renamed or removed, so a deny rule below it stays put */
};

struct mount_op {
    enum op_kind kind;
    char *src;    /* OP_BIND/OP_DEVICE: STAGE_OLD_ROOT + host path; OP_SYMLINK: target */
    char *dst;    /* STAGE_NEW_ROOT + the path inside the sandbox */
    bool dir;     /* the mount point is a directory (else a file) */
    bool writable;
    char *data;   /* OP_TMPFS: mount options */
};

struct plan {
    struct mount_op *ops;
    size_t len, cap;
    bool read_only_root;
    /* Setup may build the root right where the host's /tmp is, with one
     * pivot_root instead of two (mounts.c): no bind source is / or below
     * /tmp, and the root's tmpfs has no inode limit. */
    bool direct;
    char root_options[160]; /* mount options of the root tmpfs (with the disk limits) */
    /* Inside paths where Landlock lets the command write. */
    struct strlist writable_dirs;
    struct strlist writable_files;
};

/* Builds the plan for policy p with the host directory workspace mounted at
 * /workspace (NULL: a fresh tmpfs there). Checks the host side (sources exist, masks apply to visible
 * paths) and fails with a message naming the setting and the fix. */
int plan_build(const struct hutch_policy *p, const char *workspace, uid_t uid, gid_t gid,
               struct plan *plan, hutch_error *err);

/* A session's agent, mounted into its sandbox (see src/agent/proto.h). */
struct plan_agent {
    const char *runtime_dir; /* host directory for the agent's socket */
    const char *binary;      /* host path of hutch-init; NULL: the directory alone,
                                read-only (the proxy's socket of a one-shot run) */
};

/* plan_build() for a session sandbox: the same, plus the agent's mounts. */
int plan_build_session(const struct hutch_policy *p, const char *workspace,
                       const struct plan_agent *agent, uid_t uid, gid_t gid, struct plan *plan,
                       hutch_error *err);

void plan_free(struct plan *plan);

/* One line per operation, for debugging and tests. */
char *plan_describe(const struct plan *plan);

#endif
