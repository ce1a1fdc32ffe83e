/* cgroup limits for one sandbox: memory, pids and CPU. cgroup v2 is the main
 * path; cgroup v1 (legacy and hybrid layouts) is the fallback. The layout is
 * detected once (statfs of /sys/fs/cgroup, then /sys/fs/cgroup/unified) and
 * the rest of the code asks that answer. */
#ifndef HUTCH_NATIVE_CGROUP_H
#define HUTCH_NATIVE_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

enum cgroup_layout { CGROUP_ABSENT, CGROUP_UNIFIED, CGROUP_HYBRID, CGROUP_LEGACY };
enum cgroup_version { CGROUP_NONE = 0, CGROUP_V1 = 1, CGROUP_V2 = 2 };
enum cgroup_controller { CG_MEMORY, CG_PIDS, CG_CPU, CG_COUNT };

struct cgroup_system {
    enum cgroup_layout layout;
    char v2_mount[PATH_MAX];          /* "" when there is no v2 hierarchy */
    char v2_own[PATH_MAX];            /* our cgroup, relative to v2_mount */
    bool v2_has[CG_COUNT];            /* controllers available in the v2 root */
    char v1_mount[CG_COUNT][PATH_MAX]; /* v1 hierarchy of each controller, or "" */
    char v1_own[CG_COUNT][PATH_MAX];   /* our cgroup in that hierarchy */
};

struct cgroup_want {
    uint64_t memory; /* bytes, 0 = no limit */
    uint64_t pids;   /* 0 = no limit */
    double cpus;     /* 0 = no limit */
    const char *name; /* the cgroup's name (a session's), or NULL for a fresh one */
};

struct cgroup_run {
    enum cgroup_version version;
    int dir_fd;                       /* v2: the run's cgroup, to move the sandbox into */
    char dirs[CG_COUNT][PATH_MAX];    /* v2: [0] only; v1: one per controller used */
    char reason[512];                 /* version NONE: why no cgroup could be had */
};

/* Reads the layout from /proc/self/mountinfo and /proc/self/cgroup. */
int cgroup_detect(struct cgroup_system *sys);

/* Parses /proc/self/cgroup text into sys (pure; exposed for tests). */
void cgroup_parse_self(struct cgroup_system *sys, const char *proc_self_cgroup);

/* Creates the run's cgroup with the limits in want. When no cgroup can be
 * created (no permission, controller missing), returns 0 with version NONE
 * and the reason: the caller decides whether that is fatal. -1 only when a
 * cgroup was created but a limit could not be written. */
int cgroup_run_create(const struct cgroup_system *sys, const struct cgroup_want *want,
                      struct cgroup_run *run, hutch_error *err);

/* Moves pid into the run's cgroups: the sandbox's init, before it does
 * anything (the parent holds it back until then). */
int cgroup_run_attach(const struct cgroup_run *run, pid_t pid, hutch_error *err);

/* True when the kernel's OOM killer killed a process of the run. */
bool cgroup_run_oom_killed(const struct cgroup_run *run);

/* OOM kills so far in the cgroup directory dir (v2 or v1 memory), or -1
 * when it has no such counter. */
long cgroup_dir_oom_kills(const char *dir);

/* Removes the run's cgroups (their processes must be gone). */
void cgroup_run_destroy(struct cgroup_run *run);

/* "cgroup-v2", "cgroup-v1" or "none". */
const char *cgroup_version_name(enum cgroup_version v);
const char *cgroup_layout_name(enum cgroup_layout l);
const char *cgroup_controller_name(enum cgroup_controller c);

#endif
