/* The one interface every sandbox driver implements (host, spawn, native,
 * docker: one folder each under src/drivers/). A one-shot run is create +
 * exec + destroy on a driver; a session keeps what create made and comes
 * back for exec, stop, start, probe and stats, until destroy. A driver
 * declares which of the policy's restrictions it applies; a policy asking
 * for one it does not is refused before anything starts (fail closed).
 * docs/development.md walks through adding a driver. */
#ifndef HUTCH_DRIVER_H
#define HUTCH_DRIVER_H

#include <stdint.h>

#include "base/error.h"
#include "policy/policy.h"

struct session;
struct agent_conn;

/* A sandbox as its driver sees it. */
struct instance {
    /* The session whose sandbox it is (its record holds whatever the
     * driver needs to find the sandbox again); NULL for a one-shot run. */
    struct session *session;
    /* exec in a session: the connection to its agent, or NULL / fd -1 when
     * the session's commands do not go through one. */
    struct agent_conn *agent;
    /* A one-shot run's: what create made, for exec and destroy. */
    void *state;
    /* A one-shot run whose caller exits right after it (hutch_command's
     * detach_teardown): destroy undoes what outlives the process (a cgroup, a
     * proxy) but leaves memory to the exit. */
    bool exiting;
};

/* The state of a session's sandbox, as probe finds it. */
enum session_state {
    SESSION_MISSING,  /* no record */
    SESSION_RUNNING,  /* the agent answers */
    SESSION_STOPPED,  /* stopped on purpose, or gone (a reboot): started on next use */
    SESSION_BROKEN,   /* the sandbox exists but its agent does not answer */
    SESSION_FAILED,   /* creation or setupCommand failed; the record says why */
};
const char *session_state_name(enum session_state s);

struct session_stats {
    uint64_t pids, memory, cpu_usec;
    const char *memory_via; /* "cgroup", "agent", "engine" */
};

struct driver {
    const char *name;
    bool isolated;
    unsigned enforces; /* ENF_* bit of the restrictions it applies (fields_list.h) */
    /* 0 when it can run on this machine for this policy; else why not and
     * the fix. Cheap: called before every run. */
    int (*available)(const struct hutch_policy *p, hutch_error *err);
    /* Optional: refuses what the field table cannot describe (a value it
     * cannot enforce, e.g. one network mode of several). */
    int (*check)(const struct hutch_policy *p, hutch_error *err);

    /* Makes the sandbox. A session's is made, its agent started and
     * answering, setupCommand run; a one-shot's may be only prepared, and
     * made by exec when the command is part of it (a container's command). */
    int (*create)(struct instance *in, const struct hutch_policy *p, hutch_error *err);
    /* Runs one command in it and waits. */
    int (*exec)(struct instance *in, const struct hutch_policy *p, const hutch_command *cmd,
                hutch_result *r, hutch_error *err);
    /* Removes the sandbox and whatever create made (never a session's
     * workspace); also after a failed create. */
    int (*destroy)(struct instance *in, hutch_error *err);

    /* Sessions only (NULL for a driver that has none: spawn); they take
     * the session itself, the only sandbox they act on. */
    /* Brings a stopped sandbox back (docker: the same container; native: new
     * namespaces over the same workspace). */
    int (*start)(struct session *s, const struct hutch_policy *p, hutch_error *err);
    int (*stop)(struct session *s, hutch_error *err);
    /* Running, stopped or broken, with a one-line detail for status. */
    enum session_state (*probe)(struct session *s, char *detail, size_t len);
    int (*stats)(struct session *s, struct session_stats *st, hutch_error *err);
    /* Optional: sessions whose commands do not go through the agent's
     * socket (docker's adopted containers, a TCP engine's): a connection
     * to an agent in the sandbox all the same, for tool calls. */
    int (*connect)(struct session *s, const struct hutch_policy *p, struct agent_conn *conn,
                   hutch_error *err);
};

/* For drivers with nothing to check, make or remove (host, spawn). */
int driver_always_available(const struct hutch_policy *p, hutch_error *err);
int driver_create_nothing(struct instance *in, const struct hutch_policy *p, hutch_error *err);
int driver_destroy_nothing(struct instance *in, hutch_error *err);

extern const struct driver driver_host;
extern const struct driver driver_spawn;
extern const struct driver driver_native;
#ifndef HUTCH_NO_DOCKER
extern const struct driver driver_docker;
#endif

/* The driver of a backend kind, or NULL when not in this build (docker in
 * the static hutch, which hands docker work to hutch-docker). */
const struct driver *driver_for(int kind);

/* True when the policy asks for the restriction behind field id. */
bool policy_requests(const struct hutch_policy *p, enum field_id id);

/* Fails with the first restriction the policy asks for that d cannot apply. */
int driver_check_policy(const struct driver *d, const struct hutch_policy *p, hutch_error *err);

/* The restrictions p asks for that d does not apply, as config keys (a
 * fallback names them). */
int driver_unenforced(const struct driver *d, const struct hutch_policy *p, struct strlist *keys);

/* Chooses the driver hutch_run() will use: the policy's, or spawn when it
 * cannot run and the policy allows that fallback (degraded; *why then says
 * what is missing). */
int run_prepare(const struct hutch_policy *p, const struct driver **chosen, bool *degraded,
                hutch_error *why, hutch_error *err);

/* A one-shot run: create, exec and destroy on d. */
int driver_run_once(const struct driver *d, const struct hutch_policy *p, const hutch_command *cmd,
                    hutch_result *r, hutch_error *err);

#endif
