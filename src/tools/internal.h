/* What the tools share among themselves (tools.h is their interface to the
 * rest of hutch): results, arguments, path resolution beneath the roots,
 * bounded output logs, and spawning bash. */
#ifndef HUTCH_TOOLS_INTERNAL_H
#define HUTCH_TOOLS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "base/error.h"
#include "tools/tools.h"
#include "base/util.h"

/* Buffer for streaming files: on the stack of short-lived calls only. */
#define TOOL_CHUNK (64 * 1024)

/* ---- results and arguments (tools.c) ------------------------------------------ */

/* {"ok": true, "text": text}; NULL when out of memory. text need not be
 * valid UTF-8: invalid bytes become U+FFFD. */
json_t *tool_ok(const char *text, size_t len);
/* {"ok": false, "error": "..."} with the message made one line. */
json_t *tool_fail(const char *fmt, ...) PRINTF_LIKE(1, 2);
/* The same with err's message. */
json_t *tool_fail_error(const hutch_error *err);
/* A JSON string of text that may not be valid UTF-8 (U+FFFD for bad bytes). */
json_t *tool_string(const char *text, size_t len);
/* Sets key on a result; false when out of memory (the result is freed). */
bool tool_set(json_t *result, const char *key, json_t *value);

/* args.key as a string without NUL. 1 found, 0 absent or null, -1 wrong
 * type or a NUL byte (err says so). */
int arg_string(const json_t *args, const char *key, const char **s, size_t *len,
               hutch_error *err);
/* args.key as a string that may hold NUL bytes (file content). */
int arg_bytes(const json_t *args, const char *key, const char **s, size_t *len,
              hutch_error *err);
/* args.key as an integer within [min, max] (a number with no fraction). */
int arg_int(const json_t *args, const char *key, int64_t min, int64_t max, int64_t *v,
            hutch_error *err);
int arg_bool(const json_t *args, const char *key, bool *v, hutch_error *err);

/* ---- paths (paths.c) ----------------------------------------------------------- */

enum path_access { PATH_READ, PATH_WRITE };

/* A path the tools may use: the root it lies in (open, O_PATH) and the rest
 * of it, relative to that root. */
struct tool_path {
    int rootfd;
    const char *root;
    char rest[TOOL_PATH_MAX + 2]; /* "." for the root itself */
    const char *shown;            /* as the caller gave it, for messages */
};

/* Checks path (length, NUL, empty), finds the root it lies in among those
 * access allows (relative paths: from the workspace) and opens that root.
 * 0, or -1 with err. path_release() either way. */
int path_resolve(const struct tool_roots *roots, const char *path, size_t len,
                 enum path_access access, struct tool_path *out, hutch_error *err);
void path_release(struct tool_path *p);

/* openat2(rootfd, rest, flags, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS),
 * retried on EAGAIN (a rename raced the walk). An fd, or -1 with errno. */
int path_open(const struct tool_path *p, const char *rest, int flags, mode_t mode);
/* One line about errno errnum for path p (shown) into err. */
void path_error(const struct tool_path *p, int errnum, const char *doing, hutch_error *err);

/* Opens the directory that holds p's last component (creating missing
 * directories, beneath the root, when create) and points *name at that
 * component. The directory fd, or -1 with err. */
int path_parent(struct tool_path *p, bool create, const char **name, hutch_error *err);

/* ---- atomic replacement (write.c) ------------------------------------------------ */

struct replace_source {
    const char *data; /* the new content, or */
    size_t len;
    int fd;           /* >= 0: read to its end instead */
    int cancel_fd;    /* > 0: checked before the rename (the host is gone?) */
};

/* Replaces dirfd/name with new content: a temp file in the same directory,
 * then renameat. Keeps the mode (and owner, when allowed) of an existing
 * file; a symlink there is replaced, never followed. With expect, the file
 * must still be that one (device, inode, size, mtime) just before the
 * rename. *written = bytes written. 0, or -1 with err. */
int replace_file(int dirfd, const char *name, const char *shown, const struct replace_source *src,
                 const struct stat *expect, uint64_t *written, bool *created,
                 hutch_error *err);

/* ---- bounded logs and slices of files (output.c) ------------------------------- */

/* Cap of an output log: past it, the older half is dropped (log_append). */
#define TOOL_LOG_MAX (16u * 1024 * 1024)
#define TOOL_LOG_KEEP (8u * 1024 * 1024)

struct tool_log {
    int fd;
    uint64_t size;    /* bytes in the file now */
    uint64_t total;   /* bytes ever written */
    uint64_t lines;   /* newlines ever written */
    uint64_t dropped; /* bytes dropped from its head */
    bool ends_nl;     /* the last byte written was a newline */
    bool spill;       /* the disk is full: go on in memory (log_memory_fd) */
    bool in_memory;   /* gone on in memory: the file is not the output */
};

/* An in-memory file for a log that the output directory has no space for
 * (a full disk, or the sandbox's limits.disk / limits.files). fd or -1. */
int log_memory_fd(void);

/* Appends buf; compacts the file when it outgrows TOOL_LOG_MAX. -1 errno. */
int log_append(struct tool_log *l, const char *buf, size_t n);
/* Lines of the log: newlines, plus a last line without one. */
uint64_t log_lines(const struct tool_log *l);

/* Makes output_dir (mode 0700, parents too) and opens it. fd or -1 errno. */
int output_dir_open(const char *output_dir);

struct tail {
    char *text; /* malloc'ed */
    size_t len;
    uint64_t lines;    /* lines in text */
    bool cut;          /* earlier output is not in text */
    bool partial_line; /* the last line alone is over the byte limit: its end only */
};
/* The last TOOL_MAX_LINES lines / TOOL_MAX_BYTES bytes of fd's first size
 * bytes, never a partial first line. 0 or -1 (errno). */
int file_tail(int fd, uint64_t size, struct tail *t);

struct slice {
    char *text; /* malloc'ed, at most TOOL_MAX_BYTES */
    size_t len;
    uint64_t first, last; /* line numbers shown (1-based); last < first when none */
    uint64_t total;       /* lines in the file */
    bool cut_bytes;       /* stopped by the byte limit */
    uint64_t long_line;   /* > 0: line `first` alone is this many bytes, over the limit */
    bool binary;          /* a NUL byte in the first 8 KiB */
};
/* Lines offset.. of fd (from its start), at most limit and TOOL_MAX_LINES
 * of them and TOOL_MAX_BYTES bytes, never a partial line; counts every line
 * with a fixed buffer. 0 or -1 (errno). */
int file_slice(int fd, uint64_t offset, uint64_t limit, struct slice *s);

/* ---- processes (bash.c) ----------------------------------------------------------- */

struct spawn_request {
    const char *command;
    int cwd_fd;           /* directory to start in */
    char *const *envp;    /* the base environment */
    const json_t *env;    /* args.env: more variables, or NULL */
    const char *tag;      /* HUTCH_RUN's value for every process of it */
    int stdin_fd;         /* -1: /dev/null */
    int out_fd;           /* stdout and stderr */
};

/* Starts `bash -c command` (sh when there is no bash) in a session of its
 * own (its pid is its process group). The pid, or -1 with err. */
pid_t bash_spawn(const struct spawn_request *req, hutch_error *err);
/* Signals a command (pgid: its leader, not yet reaped), its process group
 * and every process tagged with tag. */
void bash_signal(pid_t pgid, const char *tag, int sig);
/* A fresh tag for HUTCH_RUN: "<pid>.t<counter>"; false when size is too
 * small for it. */
bool bash_make_tag(char *buf, size_t size) MUST_CHECK;
/* Where a command of bash runs and logs: args.workdir (or the workspace)
 * and the output directory, open. */
struct bash_dirs {
    int cwd, dirfd;      /* -1 until opened */
    const char *out_dir; /* the output directory's path, for messages */
};
void bash_dirs_close(struct bash_dirs *d);
#define auto_bash_dirs __attribute__((cleanup(bash_dirs_close)))
/* Opens both; NULL, or the tool's failure (d->dirfd stays -1). */
json_t *bash_dirs_open(const json_t *args, const struct tool_env *env, struct bash_dirs *d);

/* The tools themselves. Each returns its result, NULL when out of memory. */
json_t *tool_read(const json_t *args, const struct tool_env *env);
json_t *tool_write(const json_t *args, int content_fd, const struct tool_env *env);
json_t *tool_edit(const json_t *args, const struct tool_env *env);
json_t *tool_bash(const json_t *args, const struct tool_env *env);
json_t *tool_process(const json_t *args, const struct tool_env *env);
/* bash {background: true}: adds the command to the process table. */
json_t *process_start(const json_t *args, const struct tool_env *env);

/* ---- small things --------------------------------------------------------------- */

/* "1.5 KiB", "12 MiB": sizes for people. */
void tool_size_text(uint64_t bytes, char *buf, size_t size);
/* Base64 (RFC 4648, padded) of data; malloc'ed, NUL-terminated. */
char *base64_encode(const unsigned char *data, size_t len, size_t *out_len);

#endif
