/* The agent tools (bash, read, write, edit, process): what each does to the
 * sandbox's filesystem and processes. This engine runs INSIDE the sandbox,
 * in hutch-init (the static agent), and in-process on the host for
 * unsandboxed sessions; the host side (src/session/tool_call.c) checks
 * arguments and the tool policy before anything reaches it. Tool arguments
 * and results are JSON (jansson), named as in ../shared/DESIGN.md "Tools".
 * docs/tools.md is the reference. */
#ifndef HUTCH_TOOLS_H
#define HUTCH_TOOLS_H

#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hutch.h"

/* Output kept by bash (the tail) and read (the head). */
#define TOOL_MAX_LINES 2000
#define TOOL_MAX_BYTES (50 * 1024)
/* Largest file edit loads; larger ones are refused with a message. */
#define TOOL_EDIT_MAX_BYTES (16 * 1024 * 1024)
/* Longest path accepted (bytes), before resolution. */
#define TOOL_PATH_MAX 4096

/* Where tools may look, inside the sandbox's view. Relative paths are taken
 * from workspace; an absolute path must lie in one of the roots (by whole
 * path components: /workspace2 is not in /workspace). */
struct tool_roots {
    const char *workspace;       /* "/workspace" in a sandbox; the host dir for host sessions */
    const char *const *readable; /* roots read may use (workspace, /tmp, read-only mounts...) */
    size_t n_readable;
    const char *const *writable; /* roots write and edit may use (workspace, /tmp, rw mounts) */
    size_t n_writable;
};

struct tool_env {
    struct tool_roots roots;
    char *const *envp;      /* environment for bash (NULL-terminated) */
    const char *output_dir; /* where bash keeps full outputs, e.g. /tmp/hutch-output;
                               NULL: TOOL_OUTPUT_DIR */
    uint64_t timeout_ms;    /* bash: already clamped by the host; 0 = none */
    /* Readable (a byte) or hung up = the caller gave up: a foreground bash
     * is killed with its processes and tool_run returns at once. 0 or -1:
     * none (0 is never a cancel fd: a zeroed struct must not watch stdin). */
    int cancel_fd;
    /* HUTCH_RUN's value for the processes bash starts, so that those that
     * leave its process group can still be killed; NULL: one is made up. */
    const char *tag;
};

#define TOOL_OUTPUT_DIR "/tmp/hutch-output"

/* Runs tool `name` with validated `args`. content_fd: for write, the file's
 * content arrives on this descriptor (read to its end) instead of in args;
 * -1 otherwise. Fills *result with a JSON object:
 *   {"ok": true,  "text": "...", ...tool-specific fields...}
 *   {"ok": false, "error": "one line that says what is wrong and what to do"}
 * Returns 0 when *result was filled (including tool failures), -1 only when
 * out of memory. Never follows a symlink out of the roots (openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, or an fd-by-fd walk). */
/* In a session's agent: a Landlock ruleset (landlock_ruleset_hiding) every
 * command the tools start is restricted with before it executes, so that it
 * cannot touch the agent's own files; -1 for none. */
extern int tool_commands_ruleset;

int tool_run(const char *name, const json_t *args, int content_fd, const struct tool_env *env,
             json_t **result);

/* Background processes kept at once (running or finished). */
#define TOOL_PROCESS_MAX 64

/* Background processes started by bash {background: true}, for the
 * process tool. Reaping is the caller's (the agent's main loop): it tells
 * the table which pid exited and how. */
void tool_process_exited(int pid, int wait_status);
/* Milliseconds until the table next needs tool_process_tick() (output
 * bounds, expiry of finished entries), or -1. */
int tool_process_tick(void);

/* True when pid is a background process of the table that has not been
 * reported exited: its reaper kills what is left of its process group
 * before reaping it (the group id cannot be reused while it is a zombie). */
bool tool_process_has(int pid);
/* The descriptors the table needs watched (the processes' output pipes),
 * for the caller's poll(): fills at most max entries, returns how many. */
int tool_process_pollfds(struct pollfd *fds, int max);
/* Hands back the entries filled by tool_process_pollfds() after poll(). */
void tool_process_events(const struct pollfd *fds, int n);
/* Sends sig to every running background process (the agent stopping). */
void tool_process_signal_all(int sig);
/* Forgets the whole table, closing its descriptors (logs stay). */
void tool_process_forget_all(void);

/* ---- the edit matcher: pure, fuzzed ----------------------------------------- */

struct edit_pair {
    const char *old_text;
    size_t old_len;
    const char *new_text;
    size_t new_len;
};

/* Applies every pair to text (each old_text must occur exactly once in the
 * original text, and pairs may not overlap). Line endings: when text uses
 * CRLF, LF in old/new text is matched and written as CRLF; a leading UTF-8
 * BOM is kept. On success *out is the new text (malloc'ed). On failure
 * returns -1 with a one-line message in err ("oldText #2 not found",
 * "oldText #1 found 3 times: add surrounding lines to make it unique"). */
int edit_apply(const char *text, size_t len, const struct edit_pair *pairs, size_t n,
               char **out, size_t *out_len, hutch_error *err);

/* A unified diff (3 lines of context) of a against b, labelled path. */
char *unified_diff(const char *path, const char *a, size_t a_len, const char *b, size_t b_len);

#endif
