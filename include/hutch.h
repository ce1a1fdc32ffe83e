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

/* ---- policy ------------------------------------------------------------ */

/* What sandboxed code may do. Opaque; created with defaults that are safe for
 * the default backend. */
typedef struct hutch_policy hutch_policy;

HUTCH_API hutch_policy *hutch_policy_new(void);
HUTCH_API void hutch_policy_free(hutch_policy *policy);

/* Loads a JSON config file (see docs/config.md). Keys not present keep their
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
     * when the run has a cgroup, which can only be removed once empty. */
    bool detach_teardown;
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
 * command runs; nothing is read or written through them after the call. */
HUTCH_API int hutch_session_exec_v1(const hutch_policy *policy, const char *key,
                                    const hutch_command *cmd, size_t cmd_size,
                                    hutch_result *result, size_t result_size, hutch_error *err);
#define hutch_session_exec(policy, key, cmd, result, err)                                   \
    hutch_session_exec_v1((policy), (key), (cmd), sizeof *(cmd), (result), sizeof *(result), \
                          (err))

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

/* Calls agent tool `name` (bash, read, write, edit, process) with its
 * arguments args_json (a JSON object as text) in session key, as `hutch
 * tool` does (docs/tools.md): tool policy, argument checks, audit log.
 * *result_json is the result object as text ({"ok": true, ...} or {"ok":
 * false, "error": ...}); free() it. Returns -1 when the call cannot be made
 * at all (unknown or denied tool, JSON that does not parse, no session). */
HUTCH_API int hutch_tool_call(const hutch_policy *policy, const char *key, const char *name,
                              const char *args_json, char **result_json, hutch_error *err);

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

/* A skill is a directory with a Dockerfile. Builds its image unless one of
 * the same contents exists, tagged hutch-skill-NAME:DIGEST (a digest of the
 * files the build sees): {"tag", "built": true when it was built now}. */
HUTCH_API int hutch_skill_build(const hutch_policy *policy, const char *dir,
                                const char *dockerfile, int flags, int progress_fd,
                                char **json, hutch_error *err);
/* Runs action in an ephemeral container of image (the tag from
 * hutch_skill_build) under policy: as the argument of the image's
 * ENTRYPOINT when it has one, else as the command, with args_json (NULL:
 * "{}") on its standard input. cancel_fd as in hutch_command. The answer:
 * {"status": "ok" or "error", "output": its stdout (parsed when it is
 * JSON), "error": null or its stderr (or exit status, or why it did not
 * finish), "result": the run's result as hutch_result_to_json() gives it}.
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
