/* The agent protocol: how the host talks to hutch-init, the PID 1 of every
 * session sandbox, over a unix stream socket. Pure encoding and decoding,
 * shared by the agent (static, musl) and the host client; no I/O here.
 *
 * A message is a 12-byte header then a body of fields:
 *   header: u32 magic AGENT_MAGIC, u16 version, u16 type, u32 body length
 *   field:  u16 tag, u16 reserved (0), u32 length, then length bytes
 * Integers are in the machine's own byte order (both ends run on one
 * kernel). Strings are not NUL-terminated on the wire and may not contain
 * NUL. Integer fields are exactly 8 bytes (u64 / i64). Repeated tags
 * (AF_ARG, AF_ENV, AF_ROOT_READ, AF_ROOT_WRITE) keep their order. A RUN
 * request carries exactly three file descriptors (stdin, stdout, stderr)
 * as SCM_RIGHTS ancillary data on its first byte; a TOOL request one (the
 * content of write) when AF_CONTENT_FD is 1, else none. A connection
 * carries any number of HELLO and STATS, then at most one RUN, after which
 * only SIGNAL, or one TOOL, after which nothing; an AT_ERROR reply closes
 * it. docs/agent.md is the reference. */
#ifndef HUTCH_AGENT_PROTO_H
#define HUTCH_AGENT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AGENT_MAGIC 0x48435448u /* "HTCH" in little-endian memory */
#define AGENT_VERSION 1
#define AGENT_HEADER_SIZE 12
#define AGENT_FIELD_HEADER_SIZE 8
/* Largest body accepted; larger requests are refused (AE_TOO_LARGE). */
#define AGENT_MAX_BODY (1024u * 1024u)
#define AGENT_MAX_ARGS 65536
#define AGENT_MAX_ENV 4096
/* AF_ROOT_READ and AF_ROOT_WRITE fields, each. */
#define AGENT_MAX_ROOTS 256
/* A tool result may span several AT_TOOL_RESULT messages (AF_MORE); the
 * host takes at most this much in all (a 5 MiB image is 6.7 MiB of base64). */
#define AGENT_MAX_RESULT (16u * 1024u * 1024u)
/* Where bash tools keep their output logs unless AF_OUTPUT_DIR says. */
#define AGENT_OUTPUT_DIR "/tmp/hutch-output"
/* Inside the sandbox: the runtime directory and the agent's socket. */
#define AGENT_RUNTIME_DIR "/.hutch"
#define AGENT_SOCKET_NAME "agent.sock"
#define AGENT_SOCKET_PATH AGENT_RUNTIME_DIR "/" AGENT_SOCKET_NAME
/* Inside the sandbox: the agent's binary, bind-mounted read-only. */
#define AGENT_BINARY_PATH "/.hutch-init"

enum agent_type {
    /* host -> agent */
    AT_HELLO = 1,  /* empty body; reply AT_HELLO_OK */
    AT_RUN = 2,    /* AF_ARG+, AF_ENV*, AF_CWD?, AF_TIMEOUT_MS?, AF_GRACE_MS?,
                      AF_FILE_SIZE?, AF_TTY?; 3 fds. Reply AT_STARTED then
                      AT_EXITED, or AT_ERROR */
    AT_SIGNAL = 3, /* on a RUN connection after AT_STARTED: AF_SIGNAL; no reply */
    AT_STATS = 4,  /* empty body; reply AT_STATS_OK */
    AT_TOOL = 5,   /* AF_TOOL, AF_ARGS, AF_ROOT_READ+, AF_ROOT_WRITE*, AF_ENV*,
                      AF_TIMEOUT_MS?, AF_OUTPUT_DIR?, AF_CONTENT_FD? (then 1 fd).
                      Reply AT_TOOL_RESULT (one or more), or AT_ERROR */
    /* agent -> host */
    AT_HELLO_OK = 101, /* AF_VERSION, AF_PID (the agent's own), AF_FEATURES */
    AT_STARTED = 102,  /* AF_PID of the command, inside the sandbox */
    AT_EXITED = 103,   /* AF_CODE or AF_SIGNAL, AF_TIMED_OUT */
    AT_STATS_OK = 104, /* AF_PIDS, AF_MEMORY, AF_CPU_USEC */
    AT_TOOL_RESULT = 105, /* AF_RESULT (a piece of the JSON result), AF_MORE? */
    AT_ERROR = 199,    /* AF_ERROR_KIND, AF_ERRNO?, AF_MESSAGE */
};

enum agent_tag {
    AF_ARG = 1,         /* string, repeated: argv in order */
    AF_ENV = 2,         /* string NAME=VALUE, repeated: the whole environment */
    AF_CWD = 3,         /* string: absolute working directory */
    AF_TIMEOUT_MS = 4,  /* u64: SIGTERM to the run's processes after this; 0 = none */
    AF_GRACE_MS = 5,    /* u64: SIGKILL this long after SIGTERM (default 2000) */
    AF_FILE_SIZE = 6,   /* u64: RLIMIT_FSIZE; 0 = none */
    AF_TTY = 7,         /* u64 1: fd 0 is a terminal to make the controlling tty */
    AF_SIGNAL = 8,      /* i64: a signal number */
    AF_PID = 9,         /* u64 */
    AF_CODE = 10,       /* i64: exit status */
    AF_TIMED_OUT = 11,  /* u64 0/1 */
    AF_VERSION = 12,    /* u64 */
    AF_FEATURES = 13,   /* string: space-separated feature names */
    AF_PIDS = 14,       /* u64: tasks (threads) in the sandbox */
    AF_MEMORY = 15,     /* u64: bytes resident, summed over the sandbox's processes */
    AF_CPU_USEC = 16,   /* u64: CPU time used by the sandbox so far, microseconds */
    AF_ERROR_KIND = 17, /* u64: enum agent_error */
    AF_ERRNO = 18,      /* i64 */
    AF_MESSAGE = 19,    /* string: for a person */
    AF_TOOL = 20,       /* string: the tool's name (bash, read, write, edit, process) */
    AF_ARGS = 21,       /* string: its arguments, a JSON object */
    AF_ROOT_READ = 22,  /* string, repeated: roots read may use; the first is the workspace */
    AF_ROOT_WRITE = 23, /* string, repeated: roots write and edit may use */
    AF_CONTENT_FD = 24, /* u64 0/1: the request carries write's content as a descriptor */
    AF_RESULT = 25,     /* string: the JSON result, or a piece of it */
    AF_MORE = 26,       /* u64 0/1: another AT_TOOL_RESULT continues AF_RESULT */
    AF_OUTPUT_DIR = 27, /* string: absolute directory for bash's output logs */
};

enum agent_error {
    AE_MALFORMED = 1,   /* not a valid message: bad magic, field, length or string */
    AE_VERSION = 2,     /* protocol version not spoken; AF_VERSION says which is */
    AE_TOO_LARGE = 3,   /* body over AGENT_MAX_BODY */
    AE_UNKNOWN_TYPE = 4,
    AE_BAD_REQUEST = 5, /* well-formed, but missing or contradictory fields */
    AE_FDS = 6,         /* RUN without exactly three descriptors (TOOL: one with AF_CONTENT_FD) */
    AE_EXEC = 7,        /* the command could not be executed; AF_ERRNO says why */
    AE_CWD = 8,         /* the working directory could not be entered; AF_ERRNO */
    AE_SYSTEM = 9,      /* fork or another system call of the agent failed; AF_ERRNO */
    AE_BUSY = 10,       /* too many connections, runs or tool calls at once */
};

/* ---- encoding: a growable buffer ----------------------------------------- */

struct agent_buf {
    uint8_t *data;
    size_t len, cap;
    bool failed; /* an allocation failed or the body outgrew AGENT_MAX_BODY */
};

/* Starts a message of the given type (resets buf). */
void agent_msg_begin(struct agent_buf *b, enum agent_type type);
void agent_put_u64(struct agent_buf *b, enum agent_tag tag, uint64_t v);
void agent_put_i64(struct agent_buf *b, enum agent_tag tag, int64_t v);
/* s must not contain NUL (the field is dropped and b->failed set if it does). */
void agent_put_str(struct agent_buf *b, enum agent_tag tag, const char *s);
/* The same for len bytes of s, which need not be NUL-terminated. */
void agent_put_strn(struct agent_buf *b, enum agent_tag tag, const char *s, size_t len);
/* Writes the body length into the header; -1 when b->failed. */
int agent_msg_end(struct agent_buf *b);
void agent_buf_free(struct agent_buf *b);

/* ---- decoding -------------------------------------------------------------- */

struct agent_header {
    uint32_t magic;
    uint16_t version;
    uint16_t type;
    uint32_t length;
};

/* Reads a header from 12 bytes; checks magic, version and length.
 * 0, or an enum agent_error. */
int agent_header_parse(const uint8_t *bytes, struct agent_header *h);

/* A decoded message. Strings point into the body and are NOT terminated:
 * use agent_str_dup() or the length. */
struct agent_str {
    const char *s;
    size_t len;
};

struct agent_msg {
    uint16_t type;
    /* AT_RUN */
    struct agent_str *args; /* allocated: nargs entries */
    size_t nargs;
    struct agent_str *env;  /* allocated: nenv entries */
    size_t nenv;
    struct agent_str cwd;
    uint64_t timeout_ms, grace_ms, file_size;
    bool tty;
    /* scalar replies and requests; has_* say which were present */
    bool has_signal, has_pid, has_code, has_version, has_errno;
    int64_t signal, code, err_no;
    uint64_t pid, version, timed_out, pids, memory, cpu_usec, error_kind;
    struct agent_str features, message;
    /* AT_TOOL and AT_TOOL_RESULT */
    struct agent_str tool, tool_args, output_dir, result;
    struct agent_str *roots_read; /* allocated: nroots_read entries */
    size_t nroots_read;
    struct agent_str *roots_write; /* allocated: nroots_write entries */
    size_t nroots_write;
    bool content_fd, more;
};

/* Decodes a body of the given type. Unknown tags are skipped (newer
 * peers may add some); a known tag with a wrong size, a string with NUL,
 * a truncated field, a repeated non-repeatable tag, a boolean other than
 * 0/1 or too many args/env/root entries is AE_MALFORMED. Checks the fields each
 * type requires (AE_BAD_REQUEST): RUN at least one AF_ARG, an absolute
 * AF_CWD, NAME=VALUE env entries; TOOL a non-empty AF_TOOL, AF_ARGS, at
 * least one AF_ROOT_READ, absolute roots and AF_OUTPUT_DIR, NAME=VALUE env
 * entries; TOOL_RESULT AF_RESULT; SIGNAL a number in 1..64; EXITED exactly
 * one of AF_CODE (0..255) and AF_SIGNAL; STARTED a pid; HELLO_OK a version
 * and pid; ERROR a kind. grace_ms is 2000 when AF_GRACE_MS is absent. The
 * reserved u16 of a field is ignored. 0, or an enum agent_error (AE_SYSTEM
 * when out of memory); msg must be freed with agent_msg_free() either way. */
int agent_msg_parse(uint16_t type, const uint8_t *body, size_t len, struct agent_msg *msg);
void agent_msg_free(struct agent_msg *msg);

/* After a non-blocking send that returned n, moves *off on: 1 to send
 * again at once, 0 to wait for room first, -1 on an error (in errno). */
int agent_sent(ssize_t n, size_t *off);

/* A NUL-terminated copy, or NULL when out of memory. */
char *agent_str_dup(struct agent_str s);

const char *agent_error_name(int kind);

#endif
