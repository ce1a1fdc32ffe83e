/* The one policy model: what sandboxed code may do. Filled from config files
 * and flags through the field table (fields.h); read by backends. It knows
 * nothing about how any backend enforces it. */
#ifndef HUTCH_POLICY_H
#define HUTCH_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "hutch.h"
#include "base/strlist.h"

enum backend_kind { BACKEND_HOST, BACKEND_SPAWN, BACKEND_NATIVE, BACKEND_DOCKER, BACKEND_COUNT };
enum sandbox_mode { MODE_OFF, MODE_NON_MAIN, MODE_ALL };
enum fallback_kind { FALLBACK_NONE, FALLBACK_SPAWN };
enum net_mode { NET_NONE, NET_HOST, NET_BRIDGE, NET_ALLOW };

/* Generated with the field table: one id per config key. */
#include "policy/fields_list.h"
enum field_id {
#define FIELD_ENUM(id, ...) id,
    HUTCH_FIELDS(FIELD_ENUM)
#undef FIELD_ENUM
    FIELD_COUNT
};

struct limits {
    uint64_t memory;       /* bytes, 0 = no limit */
    double cpus;           /* 0 = no limit */
    uint64_t pids;         /* 0 = no limit */
    uint64_t timeout_ms;   /* wall clock, 0 = none */
    uint64_t output_bytes; /* kept per stream */
    uint64_t file_size;    /* largest file the command may write, 0 = no limit */
    uint64_t disk;         /* bytes each writable area may hold, 0 = no limit */
    uint64_t files;        /* files (inodes) each writable area may hold, 0 = no limit */
    bool rlimit_fallback;  /* no cgroup: memory as RLIMIT_AS instead of refusing */
};

struct network_policy {
    int mode; /* enum net_mode */
    struct strlist allowed_domains;
    struct strlist denied_domains;
    struct strlist allowed_addresses; /* ranges the proxy may reach despite being special */
    struct strlist hosts;             /* NAME=ADDRESS, resolved by the proxy without DNS */
};

struct filesystem_policy {
    struct strlist deny_read;   /* host paths hidden even under allowed mounts */
    struct strlist allow_write; /* SRC[:DST] mounted read-write */
    struct strlist deny_write;  /* paths forced read-only inside writable mounts */
    struct strlist read_only;   /* SRC[:DST] mounted read-only */
    struct strlist tmpfs;       /* fresh tmpfs at these sandbox paths */
    bool read_only_root;
};

/* Settings only the docker backend reads. Where one overlaps a general key
 * (network, user, workdir, readOnlyRoot), a set docker value wins for docker. */
struct docker_policy {
    char *image;
    char *container; /* an existing container to run in (adopted), or NULL */
    char *container_prefix;
    char *workdir;
    bool read_only_root;
    struct strlist tmpfs;
    char *network;
    char *user;
    struct strlist cap_drop;
    struct strlist env;
    char *setup_command;
    char *runtime;
    char *host;
};

struct hutch_policy {
    int backend;  /* enum backend_kind */
    int fallback; /* enum fallback_kind */
    struct strlist fallback_keep; /* restriction keys, or "all" */
    int mode;     /* enum sandbox_mode */
    char *main_session;
    bool per_session;
    char *workspace_root;
    char *setup_command; /* once, in a new session's sandbox */
    bool auto_create;    /* hutch exec creates unknown sessions */
    char *workspace;
    char *workdir;
    char *user;
    bool allow_root_user; /* root: user 0 may be the host's root */
    struct strlist env; /* NAME=VALUE added to the default environment */
    bool inherit_env;
    struct limits limits;
    struct network_policy network;
    struct filesystem_policy filesystem;
    struct docker_policy docker;
    struct {
        struct strlist allow, deny;
    } tools;
    struct {
        struct strlist require; /* tool names, "*", command:GLOB (approval_rules.h) */
    } approval;
    struct {
        double idle_hours, max_age_days;
    } prune;

    /* What a session created under this policy records
     * (hutch_policy_set_origin): not part of what the sandbox enforces. */
    struct {
        char *config_path;
        struct json_t *settings; /* a JSON array, or NULL */
    } origin;

    bool set[FIELD_COUNT];    /* explicitly given by a config file or a flag */
    struct strlist warnings;  /* non-fatal notes from loading */
};

const char *backend_name(int kind);
const char *net_mode_name(int mode);

/* True when the field was given explicitly (not a default). */
static inline bool policy_is_set(const struct hutch_policy *p, enum field_id id)
{
    return p->set[id];
}

int policy_add_warning(struct hutch_policy *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
