/* Sessions: named sandboxes that persist between calls, each served by its
 * agent (hutch-init, src/agent/). This layer keeps the state records, the
 * per-session lock and the lifecycle (create on first use, recreate when
 * the configuration changed or the sandbox is gone, stop, remove, prune);
 * each driver (src/drivers/) makes and tears down its own kind of sandbox.
 * docs/sessions.md describes the behaviour. */
#ifndef HUTCH_SESSION_H
#define HUTCH_SESSION_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/client.h"
#include "base/error.h"
#include "drivers/driver.h"
#include "policy/policy.h"
#include "session/naming.h"
#include "session/record.h"

/* With perSession false, every key is this one session. */
#define SHARED_SESSION_KEY HUTCH_SHARED_SESSION

struct session {
    char *key;
    char name[SESSION_NAME_MAX + 1];
    /* Allocated (a session is on the stack of every call, and three
     * PATH_MAX buffers there were pages to fault in on every command). */
    char *dir;                  /* <state>/sessions/<name>: record, lock, logs */
    char *runtime_dir;          /* <dir>/run: mounted at /.hutch in the sandbox */
    char *socket_path;          /* <runtime_dir>/agent.sock */
    int lock_fd;                /* -1 when not locked */
    struct session_record *record; /* NULL: no record */
    uint64_t loaded_digest;     /* record_digest of the record as read */
    bool created_now;           /* this call created or recreated the sandbox */
};

/* What callers may know of a session without reading its record. */
/* It has a record (session_load or session_lock read one). */
static inline bool session_exists(const struct session *s)
{
    return s->record != NULL;
}
/* Its driver is not in this build (docker in the static hutch). */
bool session_driver_missing(const struct session *s);
/* 0 when this build has the drivers the session may need under p (its
 * own, and the policy's should it be made anew); else -1 with
 * HUTCH_E_NO_DRIVER, before a call asks anyone for approval: the hutch
 * command hands such calls to hutch-docker, which would ask again. Reads
 * the record without the lock. */
int session_servable(struct session *s, const struct hutch_policy *p, hutch_error *err);
/* It runs on the host, unsandboxed (sandbox mode off, or the main session). */
bool session_on_host(const struct session *s);
/* The record as a JSON object (the shape of session status --json), with
 * the state as probed now when probe is set. */
json_t *session_describe(struct session *s, bool probe);
/* The config file and the CLI options it was created with. */
const char *session_config_path(const struct session *s);
const json_t *session_create_args(const struct session *s);

/* The driver of a kind of session; NULL when not in this build (docker in
 * the static hutch: the caller hands over to hutch-docker). */
const struct driver *session_driver(enum session_kind kind);

/* ---- state on disk (store.c) ---------------------------------------------- */

/* $HUTCH_STATE_DIR, else /var/lib/hutch for root, else
 * $XDG_STATE_HOME/hutch (~/.local/state/hutch). */
int session_state_root(char *out, size_t len, hutch_error *err);

/* Fills s for key (no I/O but the state root's creation). */
int session_open(struct session *s, const char *key, hutch_error *err);
void session_close(struct session *s);
#define auto_session __attribute__((cleanup(session_close)))

/* The per-session lock (flock on <dir>/lock), held until session_close or
 * session_unlock. Loads the record once locked. */
int session_lock(struct session *s, hutch_error *err);
void session_unlock(struct session *s);

/* Reads the record without locking (records are replaced atomically). */
int session_load(struct session *s, hutch_error *err);
/* The record alone, without its usage counters: for a read that changes
 * nothing and needs neither (what the session was made from). */
int session_load_record(struct session *s, hutch_error *err);
/* Writes the record atomically (temp file + rename); needs the lock. */
int session_save(struct session *s, hutch_error *err);
/* Writes its exec_count and last_used_at (in the lock file, which
 * session_load reads too) when nothing else changed since it was read;
 * else, or without the lock, the whole record. */
int session_save_usage(struct session *s, hutch_error *err);
/* Deletes the record and the session's state directory (not the workspace). */
int session_forget(struct session *s, hutch_error *err);

/* Appends line to the session's audit log as one JSON line, in one
 * O_APPEND write (concurrent writers never interleave). Nothing when the
 * session's directory does not exist: no session is made for a log line. */
void session_audit_append(const struct session *s, const json_t *line);

/* Every session key that has a record, sorted by key. */
int session_list(char ***keys, size_t *n, hutch_error *err);

double session_now(void);

/* When pid started (clock ticks since boot), 0 when it is gone (or a zombie). */
unsigned long long session_pid_start_time(pid_t pid);

/* ---- the allowlist's proxy (proxy.c) ------------------------------------------ */

/* Network mode allow: makes sure the session's proxy runs (started when it
 * is not), serving <runtime_dir>/proxy.sock and logging refusals to the
 * session's audit log. Other modes: stops one left from an earlier policy. */
int session_proxy_ensure(struct session *s, const struct hutch_policy *p, hutch_error *err);
void session_proxy_stop(struct session *s);

/* The audit log's size now, to read a run's refusals from afterwards. */
off_t session_audit_offset(const struct session *s);

/* The hosts the proxy refused since offset, into r (network mode allow). */
void session_proxy_report(const struct session *s, off_t offset, hutch_result *r);

/* Removes a directory tree without following symlinks (the sandbox may have
 * planted some). */
int remove_tree(const char *path, hutch_error *err);

/* ---- lifecycle (session.c) -------------------------------------------------- */

/* Commands go through the agent's socket (not for host sessions, adopted
 * containers, or containers of a TCP engine: those use the Engine API). */
bool session_uses_agent(const struct session *s);

/* Connects to the session's agent and checks that the process serving the
 * socket is the agent the record names (agent_pid): a process inside the
 * sandbox cannot pose as it. A failed check marks the session broken.
 * HUTCH_E_UNSUPPORTED when nothing listens (see agent_connect()). */
int session_agent_connect(struct session *s, struct agent_conn *conn, hutch_error *err);

/* Marks the session broken (its agent did not behave): the next use removes
 * and recreates its sandbox, keeping the workspace. Needs no lock. */
void session_mark_broken(struct session *s, const char *reason);

/* The kind of session this policy gives key under the sandbox mode: host
 * for mode off and for mainSession under non-main, else the policy's
 * backend (host/spawn policies give unsandboxed sessions). */
enum session_kind session_kind_for_policy(const struct hutch_policy *p, const char *key);

/* Settings every exec may give anew (timeout, output limit, env, workdir,
 * file size...); the others are fixed when the session is created. */
bool session_per_run_field(enum field_id id);

/* Fingerprint of the settings fixed at creation (per-run ones such as the
 * timeout, output limit, env and workdir are left out). */
void session_config_hash(const struct hutch_policy *p, char out[17]);

/* Where the session's workspace is: the policy's --workspace, else
 * <workspaceRoot>/<name>. owned: hutch made it (prune --workspaces may
 * delete only those). */
int session_workspace(const struct session *s, const struct hutch_policy *p, char *out,
                      size_t len, bool *owned, hutch_error *err);

struct stat;
/* The policy's --workspace, resolved into real: a directory that exists
 * (its stat in *st). */
int workspace_resolve(const char *workspace, char real[PATH_MAX], struct stat *st,
                      hutch_error *err);

struct session_use {
    bool create_if_missing; /* exec: autoCreate; create: true */
    bool fail_if_exists;    /* session create */
    json_t *create_args;    /* kept in a new record (a reference is taken), may be NULL */
    const char *config_path;
};

/* With the lock held: makes sure the session's sandbox is up under policy
 * p, creating, recreating (configuration changed, with a notice)
 * or restarting it as needed, and records the use (last used time, exec
 * count). On success, conn is connected to the agent (or -1 for host
 * sessions). HUTCH_E_UNSUPPORTED with s->record's backend "docker" means
 * this build cannot reach the engine: hand over to hutch-docker. */
int session_ensure(struct session *s, const struct hutch_policy *p, const struct session_use *use,
                   struct agent_conn *conn, hutch_error *err);

/* State as seen now, with a detail line. */
enum session_state session_probe(struct session *s, char *detail, size_t len);

int session_stop(struct session *s, hutch_error *err);
/* Removes the sandbox and the record; the workspace too when asked and
 * hutch made it. Adopted containers are only forgotten. */
int session_remove(struct session *s, bool workspace, hutch_error *err);

/* Runs cmd in the session through its agent (conn from session_ensure). */
int session_exec(struct session *s, const struct hutch_policy *p, struct agent_conn *conn,
                 const hutch_command *cmd, hutch_result *r, hutch_error *err);

/* Runs cmd in the session however its sandbox is reached (agent, Engine
 * API, host): what hutch exec and hutch_session_exec() do after
 * session_ensure(). */
int session_run(struct session *s, const struct hutch_policy *p, struct agent_conn *conn,
                const hutch_command *cmd, hutch_result *r, hutch_error *err);

/* Waits until the session's agent answers HELLO. */
int session_wait_for_agent(struct session *s, int timeout_ms, hutch_error *err);

/* Runs the policy's setupCommand (docker.setupCommand for docker) once in a
 * new sandbox; a failure is an error carrying the command's output. */
int session_run_setup(struct session *s, const struct hutch_policy *p, hutch_error *err);

/* With the lock held: for a session whose commands go through the Engine
 * API, a connection to the agent its driver runs in the sandbox for tool
 * calls (driver.connect), which the caller closes. */
int session_engine_agent(struct session *s, const struct hutch_policy *p,
                         struct agent_conn *conn, hutch_error *err);

/* Processes, memory and CPU of the session's sandbox, as its driver
 * counts them (HUTCH_E_UNSUPPORTED: its driver is not in this build). */
int session_stats(struct session *s, struct session_stats *st, hutch_error *err);

/* Processes, memory and CPU of the sandbox, as its agent counts them. */
int session_agent_stats(struct session *s, struct session_stats *st, hutch_error *err);

/* ---- prune (prune.c) ---------------------------------------------------------- */

/* Why a session would be pruned now ("idle 30h > 24h"), or NULL. Pure. */
const char *prune_reason(double now, double created_at, double last_used_at, double idle_hours,
                         double max_age_days, bool adopted, char *buf, size_t len);

/* prune_reason() for a session under policy p (NULL: not pruned). */
const char *session_prune_reason(const struct session *s, const struct hutch_policy *p,
                                 double now, char *buf, size_t len);

/* True at most once per interval: touches <state>/last-prune. */
bool prune_due(double interval_seconds);

#endif
