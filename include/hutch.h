/* hutch — run the tool calls of AI agents inside a sandbox.
 *
 * The public C API. A caller builds a policy (from a JSON config file, from
 * key/value settings, or both), describes a command, and calls hutch_run(),
 * which fills a result. Every function that can fail returns 0 on success and
 * -1 on failure, with the reason in a caller-provided hutch_error.
 */
#ifndef HUTCH_H
#define HUTCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define HUTCH_API __attribute__((visibility("default")))
#else
#define HUTCH_API
#endif

/* The library's version, e.g. "0.2.0". */
HUTCH_API const char *hutch_version(void);

/* ---- versions of the structs ---------------------------------------------
 *
 * hutch_command and hutch_result grow only at their end. The functions that
 * take them also take the size of the struct the caller was compiled with
 * (the macros below pass sizeof for you, as zlib's deflateInit does): a
 * program built against an older hutch.h keeps working with a newer
 * libhutch, which reads only the fields the caller has (later ones keep
 * their defaults) and fills only those of the caller's result. Bindings
 * that call the library through an FFI call the *_v1 functions with the
 * sizes of their own definitions; sizes below the first version's are
 * refused (HUTCH_E_INVALID). */

/* ---- errors ------------------------------------------------------------ */

typedef enum hutch_status {
    HUTCH_OK = 0,
    HUTCH_E_INVALID,     /* a bad argument, flag, config key or value */
    HUTCH_E_UNSUPPORTED, /* the backend is unavailable or cannot enforce the policy */
    HUTCH_E_SYSTEM,      /* a system call failed while setting up */
    /* The session or command needs a backend this build of libhutch does not
     * have (docker in a static build): a build that has it can do the call. */
    HUTCH_E_NO_DRIVER,
    /* Since 0.4.0: approval.require asked for approval and it was not
     * given (refused, or no one to ask): nothing ran. */
    HUTCH_E_NOT_APPROVED,
} hutch_status;

typedef struct hutch_error {
    hutch_status status;
    int sys_errno;       /* errno of the failing call, 0 when not a system error */
    char message[1024];  /* one line: what went wrong and what to do */
} hutch_error;

HUTCH_API void hutch_error_clear(hutch_error *err);

/* Notices: what hutch tells its caller without failing, one line each
 * (e.g. that a session's sandbox was recreated because its configuration
 * changed). The library never writes to stderr: without a handler, notices
 * are dropped. The handler is process-wide and may be called from any
 * hutch call. */
typedef void hutch_notice_fn(const char *message, void *ctx);
HUTCH_API void hutch_set_notice_handler(hutch_notice_fn *fn, void *ctx);

/* Approval (since 0.4.0; docs/library.md "Approval"): the tool calls and
 * commands that approval.require names are asked about before anything of
 * them starts, through the handler set here (process-wide; the MCP server
 * asks its client instead). Without a handler they are refused. */
typedef enum hutch_approval_kind {
    HUTCH_APPROVAL_TOOL = 1,    /* a tool call (hutch_tool_call) */
    HUTCH_APPROVAL_COMMAND = 2, /* a command (hutch_run, hutch_session_exec) */
} hutch_approval_kind;

/* What is to be approved. The strings are the library's, valid during the
 * call. Later versions add fields at the end only: size says how much of
 * the struct the library filled, so a handler built against a newer
 * hutch.h reads a field only when size covers it. */
typedef struct hutch_approval_request {
    size_t size;              /* sizeof the struct as the library filled it */
    hutch_approval_kind kind;
    const char *tool;         /* TOOL: the tool's name; else NULL */
    const char *args_json;    /* TOOL: its arguments, compact JSON in ASCII; else NULL */
    const char *command;      /* the command as one shell line: COMMAND, and bash's
                                 "command" argument; else NULL. Any bytes but NUL. */
    const char *session;      /* the session key; NULL for hutch_run */
    const char *rule;         /* the approval.require entry that asks, e.g. "command:*" */
} hutch_approval_request;

enum { HUTCH_REFUSE = 0, HUTCH_APPROVE = 1 };

/* Returns HUTCH_APPROVE to let the call run; anything else refuses it,
 * and may say why in reason (reason_len bytes, "" on entry; one line).
 * Called on the calling thread, from any thread, possibly concurrently;
 * the call waits for it. */
typedef int hutch_approval_fn(const hutch_approval_request *req, char *reason,
                              size_t reason_len, void *ctx);
HUTCH_API void hutch_set_approval_handler(hutch_approval_fn *fn, void *ctx);

/* ---- policy ------------------------------------------------------------ */

/* What sandboxed code may do. Opaque; created with defaults that are safe for
 * the default backend. */
typedef struct hutch_policy hutch_policy;

HUTCH_API hutch_policy *hutch_policy_new(void);
HUTCH_API void hutch_policy_free(hutch_policy *policy);

/* Loads a config file, JSON5 or JSON (see docs/config.md). Keys not present keep their
 * current values. Unknown keys and bad values are errors that name the key. */
HUTCH_API int hutch_policy_load_file(hutch_policy *policy, const char *path,
                                     hutch_error *err);

/* Same, from a buffer; origin names the source in error messages. */
HUTCH_API int hutch_policy_load_json(hutch_policy *policy, const char *text,
                                     size_t len, const char *origin,
                                     hutch_error *err);

/* Sets one key of the config schema from its text form, e.g.
 * ("limits.memory", "512m"), ("network.mode", "none"). For list keys the value
 * is appended; for "env" it is NAME=VALUE. */
HUTCH_API int hutch_policy_set(hutch_policy *policy, const char *key,
                               const char *value, hutch_error *err);

/* Checks the relations between keys (e.g. allowed domains with a network
 * mode that cannot use them). hutch_run() calls it too. */
HUTCH_API int hutch_policy_validate(const hutch_policy *policy, hutch_error *err);

/* The effective policy as a config document, {"sandbox": {...}}.
 * Returns a malloc'ed string, or NULL when out of memory. */
HUTCH_API char *hutch_policy_to_json(const hutch_policy *policy);

/* Like hutch_policy_set, for a command-line flag of that name (without
 * "--", e.g. "memory"); messages name "--memory". Switches take "true" or
 * "false". */
HUTCH_API int hutch_policy_set_flag(hutch_policy *policy, const char *flag, const char *value,
                                    hutch_error *err);

/* The key's current value in config-file form: a string as it is, anything
 * else as JSON text ("true", "30", ["a","b"], {...}). malloc'ed; NULL for an
 * unknown key or a value that is not set (null). */
HUTCH_API char *hutch_policy_get(const hutch_policy *policy, const char *key);

/* 1 when a config file or a setter gave the key explicitly, 0 when it has
 * its default (or the key is unknown). */
HUTCH_API int hutch_policy_is_set(const hutch_policy *policy, const char *key);

/* What to record in a session created under this policy, for
 * hutch_session_origin(): the config file the caller read (NULL: none
 * named) and the caller's own settings as a JSON array (NULL: none), e.g.
 * the command-line flags it was built from. Copied; replaces what was set. */
HUTCH_API int hutch_policy_set_origin(hutch_policy *policy, const char *config_path,
                                      const char *settings_json, hutch_error *err);

/* Every key of the config schema, for help texts, flag parsers and
 * completion. The library owns the entries; later versions may add fields
 * at the end of the struct. */
typedef struct hutch_key_info {
    const char *key;      /* "limits.memory" (below "sandbox") */
    const char *flag;     /* the CLI flag without "--", or NULL */
    const char *metavar;  /* the flag's value in help ("SIZE"), NULL for a switch */
    const char *expected; /* what a value looks like, for messages */
    const char *help;     /* one sentence */
    bool per_run;         /* every session exec may give it anew */
    bool is_switch;       /* true/false: the flag takes no value */
} hutch_key_info;

/* The i-th key (NULL past the last), and the key of a flag (NULL: none). */
HUTCH_API const hutch_key_info *hutch_policy_key_at(size_t i);
HUTCH_API const hutch_key_info *hutch_policy_key_by_flag(const char *flag);

/* Non-fatal notes gathered while loading (ignored migration keys, ...). */
HUTCH_API size_t hutch_policy_warning_count(const hutch_policy *policy);
HUTCH_API const char *hutch_policy_warning(const hutch_policy *policy, size_t i);

/* ---- commands and results ---------------------------------------------- */

typedef enum hutch_output_mode {
    HUTCH_OUTPUT_CAPTURE = 0, /* kept in the result, up to limits.outputBytes */
    HUTCH_OUTPUT_PASS,        /* the command writes to the given fd directly */
    HUTCH_OUTPUT_RELAY,       /* copied to the given fd, up to limits.outputBytes */
} hutch_output_mode;

typedef struct hutch_command {
    const char *const *argv;  /* NULL-terminated; argv[0] is searched in PATH */
    const char *shell;        /* when set: /bin/sh -c SHELL [argv...] */
    int stdin_fd;             /* -1: /dev/null */
    hutch_output_mode stdout_mode, stderr_mode;
    int stdout_fd, stderr_fd; /* targets of PASS and RELAY */
    /* -1, or an fd the caller writes a signal number (one byte) to, to send
     * that signal to every process of the command (e.g. on Ctrl-C). */
    int cancel_fd;
    /* For processes about to exit (the hutch command does this): return as
     * soon as every process of the sandbox is gone, and let the kernel finish
     * tearing the sandbox's namespaces down afterwards. The sandbox's init is
     * then reaped by a later hutch_run() or when the caller exits. Ignored
     * when the run has a cgroup, which can only be removed once empty. What
     * a one-shot run allocated for the sandbox (its mount plan) is then left
     * to the exit too: freeing it would write, and copy, pages the sandbox's
     * clone made copy-on-write. The result is still the caller's to free. */
    bool detach_teardown;
    /* The end of the first version (0.2.0), whose size was 48 bytes on
     * 64-bit systems: later fields start after it, so a caller's size tells
     * which fields it has. Unused. */
    char reserved_v1_end[7];
    /* Since 0.3.0: -1, or a terminal (the slave side of a pty the caller opened): the
     * command's stdin, stdout and stderr and its controlling terminal, for
     * interactive shells. Session commands run by the agent only; the
     * output modes are then unused and nothing is captured. */
    int tty_fd;
} hutch_command;

/* Sets the defaults: no argv, stdin /dev/null, both streams captured. */
HUTCH_API void hutch_command_init_v1(hutch_command *cmd, size_t cmd_size);
#define hutch_command_init(cmd) hutch_command_init_v1((cmd), sizeof *(cmd))

typedef struct hutch_output {
    char *data;          /* captured bytes (CAPTURE only), NUL-terminated */
    size_t len;          /* bytes kept in data */
    uint64_t bytes;      /* bytes the command wrote in total */
    bool truncated;      /* bytes > what was kept or relayed */
} hutch_output;

typedef struct hutch_result {
    char backend[16];    /* the backend that ran the command */
    bool isolated;       /* false for host and spawn */
    bool degraded;       /* a fallback backend ran instead of the one asked for */
    int exit_code;       /* as a shell reports it: code, 128+N on signal N,
                            124 on timeout, 126/127 not executable/not found */
    int signal;          /* the signal that ended the command, 0 if none */
    bool timed_out;
    bool oom_killed;
    char limits_via[16]; /* how limits were applied: cgroup-v2, cgroup-v1, rlimit, none */
    double duration_ms;
    hutch_output out, err;
    char *error;         /* why the command could not be started, else NULL */
    char *degraded_reason; /* when degraded: why the asked-for backend did not run */
    bool network_filtered; /* network mode allow: the run went through the proxy */
    char **network_denied; /* then: hosts the proxy refused, NULL-terminated (or NULL) */
    /* Since 0.3.0. When degraded: the config keys of the restrictions the
     * fallback did not apply ("network.mode", "limits.pids", ...),
     * NULL-terminated (or NULL when none). */
    char **unenforced;
} hutch_result;

/* Runs one command in a fresh sandbox under the policy and waits for it.
 * Returns -1 only when hutch itself could not do what was asked (the command
 * did not run); a command that fails is a successful run with exit_code != 0. */
HUTCH_API int hutch_run_v1(const hutch_policy *policy, const hutch_command *cmd,
                           size_t cmd_size, hutch_result *result, size_t result_size,
                           hutch_error *err);
#define hutch_run(policy, cmd, result, err)                                                 \
    hutch_run_v1((policy), (cmd), sizeof *(cmd), (result), sizeof *(result), (err))

HUTCH_API void hutch_result_free_v1(hutch_result *result, size_t result_size);
#define hutch_result_free(result) hutch_result_free_v1((result), sizeof *(result))

/* The result as one compact JSON object (see docs/result.md). Output bytes
 * that are not UTF-8 become U+FFFD. Returns a malloc'ed string or NULL. */
HUTCH_API char *hutch_result_to_json_v1(const hutch_result *result, size_t result_size);
#define hutch_result_to_json(result) hutch_result_to_json_v1((result), sizeof *(result))

/* ---- sessions (docs/sessions.md) ----------------------------------------- */

/* Runs cmd in the session named key: a sandbox kept between calls, created
 * on first use under policy (when autoCreate allows), recreated when the
 * policy's session settings changed, started again when it is gone. State
 * lives under $HUTCH_STATE_DIR (else /var/lib/hutch for root, else
 * $XDG_STATE_HOME/hutch). Per-run settings (timeout, output limit, env,
 * workdir) apply to this call only. Safe to call from several processes at
 * once. Returns like hutch_run(). The session's sandbox outlives the call,
 * so its command never gets cmd's descriptors themselves: HUTCH_OUTPUT_PASS
 * is relayed (without a limit) and stdin_fd is copied into a pipe while the
 * command runs; nothing is read or written through them after the call.
 * While it waits, the calling thread stays on the CPU it runs on; its CPU
 * affinity is as it was when the call returns (docs/sessions.md, "Where
 * commands run"). */
HUTCH_API int hutch_session_exec_v1(const hutch_policy *policy, const char *key,
                                    const hutch_command *cmd, size_t cmd_size,
                                    hutch_result *result, size_t result_size, hutch_error *err);
#define hutch_session_exec(policy, key, cmd, result, err)                                   \
    hutch_session_exec_v1((policy), (key), (cmd), sizeof *(cmd), (result), sizeof *(result), \
                          (err))

/* The key every session call uses when the policy says session.perSession
 * false. */
#define HUTCH_SHARED_SESSION "shared"

/* What session key was created with (hutch_policy_set_origin): the config
 * file and the settings, each malloc'ed or NULL. A session that does not
 * exist has neither (not an error). */
HUTCH_API int hutch_session_origin(const char *key, char **config_path, char **settings_json,
                                   hutch_error *err);

/* The file session key's audit log is written to (docs/sessions.md; it may
 * not exist yet), malloc'ed. With must_exist, a session that has no record
 * is an error. */
HUTCH_API int hutch_session_audit_path(const char *key, int must_exist, char **path,
                                       hutch_error *err);

/* 1 when no prune pass ran in the last interval_seconds under this state
 * directory; the caller that gets 1 is expected to run one (the others then
 * get 0). For callers that prune in the background, as hutch exec does. */
HUTCH_API int hutch_prune_due(double interval_seconds);

/* Stops and removes the session's sandbox and record; its workspace too
 * when remove_workspace is non-zero and hutch made it. */
HUTCH_API int hutch_session_remove(const char *key, int remove_workspace, hutch_error *err);

/* The rest of a session's life, as `hutch session ...` does it. key as for
 * hutch_session_exec (perSession false: the shared session). */
/* Makes the session's sandbox now; fails when the session exists. */
HUTCH_API int hutch_session_create(const hutch_policy *policy, const char *key, hutch_error *err);
/* Brings an existing session's sandbox up (started again when stopped or
 * gone, recreated when the policy's session settings changed). */
HUTCH_API int hutch_session_start(const hutch_policy *policy, const char *key, hutch_error *err);
/* Stops the sandbox; the next use starts it again. */
HUTCH_API int hutch_session_stop(const char *key, hutch_error *err);

/* The answers below are malloc'ed JSON text (free() them), the same
 * documents as the CLI's --json output (docs/sessions.md); new keys may
 * appear in later versions. */
/* One session as `hutch session status KEY --json` shows it. */
HUTCH_API int hutch_session_status(const char *key, char **json, hutch_error *err);
/* Every session: an array of such objects. */
HUTCH_API int hutch_session_list(char **json, hutch_error *err);
/* {"key", "pids", "memory_bytes", "cpu_seconds", "memory_via"} */
HUTCH_API int hutch_session_stats(const char *key, char **json, hutch_error *err);
/* Removes the sandboxes of sessions idle longer than prune.idleHours or
 * older than prune.maxAgeDays (adopted containers never), and their
 * workspaces when remove_workspaces and hutch made them; with dry_run
 * nothing is removed. {"dry_run", "pruned": [{"key", "reason"}],
 * "failed": [{"key", "error"}]}. */
HUTCH_API int hutch_prune(const hutch_policy *policy, int dry_run, int remove_workspaces,
                          char **json, hutch_error *err);

/* 1 when the policy offers a tool of that name (tools.allow and
 * tools.deny), else 0. Any name may be asked, hutch's five tools and a
 * harness's own (browser, canvas, ...) alike. */
HUTCH_API int hutch_tool_allowed(const hutch_policy *policy, const char *name);

/* 1 when approval.require asks approval for a call of tool `tool` (a
 * harness's own tools too; NULL: a command of hutch_run or
 * hutch_session_exec) whose command line is `command` (NULL: none), else 0:
 * so that a harness asks about the tools it runs itself by the same policy. */
HUTCH_API int hutch_approval_required(const hutch_policy *policy, const char *tool,
                                      const char *command);

/* Calls agent tool `name` (bash, read, write, edit, process) with its
 * arguments args_json (a JSON object as text) in session key, as `hutch
 * tool` does (docs/tools.md): tool policy, argument checks, audit log.
 * *result_json is the result object as text ({"ok": true, ...} or {"ok":
 * false, "error": ...}); free() it. Returns -1 when the call cannot be made
 * at all (unknown or denied tool, JSON that does not parse, no session). */
HUTCH_API int hutch_tool_call(const hutch_policy *policy, const char *key, const char *name,
                              const char *args_json, char **result_json, hutch_error *err);

/* Serves MCP (docs/mcp.md) with the tools running in session key: on
 * stdin and stdout when port is negative (stdout is then the protocol's
 * alone: fd 1 is pointed at stderr), else streamable HTTP at
 * http://127.0.0.1:PORT/mcp (0 picks a free port; the address comes as a
 * notice). Returns at the end of stdin once running calls are done, or when
 * a byte arrives on stop_fd (running calls are then cancelled). */
HUTCH_API int hutch_mcp_serve(const hutch_policy *policy, const char *key, int port, int stop_fd,
                              hutch_error *err);

/* More of a tool call, for hutch_tool_call_with(). */
typedef struct hutch_tool_options {
    /* write: the content is read from here instead of args.content, so
     * large files never pass through memory; -1 */
    int content_fd;
    /* -1, or an fd the caller writes one byte to, to cancel the call (the
     * tool's processes are killed) */
    int cancel_fd;
} hutch_tool_options;

/* Sets the defaults: no content fd, no cancel fd. */
HUTCH_API void hutch_tool_options_init_v1(hutch_tool_options *opts, size_t opts_size);
#define hutch_tool_options_init(opts) hutch_tool_options_init_v1((opts), sizeof *(opts))

/* hutch_tool_call() with options. */
HUTCH_API int hutch_tool_call_with_v1(const hutch_policy *policy, const char *key,
                                      const char *name, const char *args_json,
                                      const hutch_tool_options *opts, size_t opts_size,
                                      char **result_json, hutch_error *err);
#define hutch_tool_call_with(policy, key, name, args_json, opts, result_json, err)            \
    hutch_tool_call_with_v1((policy), (key), (name), (args_json), (opts), sizeof *(opts),     \
                            (result_json), (err))

/* ---- images, skills and checks (docs/docker.md) ---------------------------
 *
 * As `hutch image`, `hutch skill` and `hutch doctor` do them. The engine is
 * the policy's docker.host, else $DOCKER_HOST, else /var/run/docker.sock.
 * Answers are malloc'ed JSON text (free() them), the CLI's --json output
 * where it has one; new keys may appear in later versions. A build's output
 * goes to progress_fd as it comes (-1: nowhere); libarchive and libcrypto,
 * which packing the directory needs, are loaded with dlopen then. */
enum {
    HUTCH_BUILD_NO_CACHE = 1, /* run every step again, not from the engine's cache */
    HUTCH_BUILD_QUIET = 2,    /* progress_fd gets only the last lines of a build that fails */
};

/* Builds dir/dockerfile (NULL: "Dockerfile") into an image tagged tag,
 * labelled hutch.managed=true; .dockerignore is honoured, symlinks never
 * followed. */
HUTCH_API int hutch_image_build(const hutch_policy *policy, const char *dir,
                                const char *dockerfile, const char *tag, int flags,
                                int progress_fd, hutch_error *err);
/* The images hutch built (all of them when all is non-zero):
 * [{"tags": [...] or null, "id", "size", "created"}]. */
HUTCH_API int hutch_image_list(const hutch_policy *policy, int all, char **json,
                               hutch_error *err);
/* Removes the images in names (NULL-terminated: tags or IDs), one by one:
 * [{"name", "error": null or why it was not removed}], in order. The names
 * after one the engine could not be asked about are not tried, nor listed. */
HUTCH_API int hutch_image_remove(const hutch_policy *policy, const char *const *names,
                                 char **json, hutch_error *err);

/* Removes what hutch built and no longer needs: the older images of each
 * skill (all but the newest hutch-skill-NAME tag of each skill directory)
 * and dangling images (a tag built again moved away from them). names
 * (NULL-terminated repositories such as "hutch-skill-weather", or NULL)
 * limits it to those. Images hutch did not build are never touched, and
 * none is forced: one that a container still uses is kept. The answer:
 * [{"name", "id", "reason": "old skill image" or "dangling", "removed",
 * "error": null or why it was kept}]. With HUTCH_PRUNE_DRY_RUN nothing is
 * removed ("removed" false, "error" null). */
enum { HUTCH_PRUNE_DRY_RUN = 1 };
HUTCH_API int hutch_image_prune(const hutch_policy *policy, const char *const *names, int flags,
                                char **json, hutch_error *err);

/* A skill is a directory with a Dockerfile. Builds its image unless one of
 * the same contents exists, tagged hutch-skill-NAME:DIGEST (a digest of the
 * files the build sees): {"tag", "built": true when it was built now,
 * "removed": [the skill's older tags, removed after a build], "kept":
 * [{"name", "error"}: older tags a container still uses]}. */
HUTCH_API int hutch_skill_build(const hutch_policy *policy, const char *dir,
                                const char *dockerfile, int flags, int progress_fd,
                                char **json, hutch_error *err);
/* Runs action in an ephemeral container of image (the tag from
 * hutch_skill_build) under policy, the way the image is written to be run
 * (docs/docker.md): ENTRYPOINT action when the skill's Dockerfile sets an
 * ENTRYPOINT; else [ENTRYPOINT] CMD action ARGS when it sets a CMD; else
 * [ENTRYPOINT] action. ARGS is args_json (NULL: "{}"), which is also on
 * its standard input and in SKILL_ARGS, with action in SKILL_ACTION.
 * cancel_fd as in hutch_command. The answer: {"status": "ok" or "error",
 * "output": its stdout (parsed when it is JSON), "error": null or its
 * stderr (or exit status, or why it did not finish: timeout, memory),
 * "result": the run's result as hutch_result_to_json() gives it}; an
 * action that exits 0 and prints a JSON object with a "status" of its own
 * answers with that object instead ("result" added).
 * Returns -1 when the action could not be run at all (also when the policy
 * names a docker.container: a skill runs in a container of its own). */
HUTCH_API int hutch_skill_run(const hutch_policy *policy, const char *image,
                              const char *action, const char *args_json, int cancel_fd,
                              char **json, hutch_error *err);

/* What works on this machine, each by a real probe (a sandbox started, a
 * cgroup made): {"version", "kernel", "uid", "checks": {NAME: {"ok",
 * "detail"}}} for native, spawn, seccomp, landlock, cgroups, docker and
 * sessions, in that order. */
HUTCH_API int hutch_doctor(char **json, hutch_error *err);

#ifdef __cplusplus
}
#endif

#endif /* HUTCH_H */
