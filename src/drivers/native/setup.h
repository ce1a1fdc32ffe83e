/* How the sandbox's processes tell the parent what happened during setup.
 * They write these records to a close-on-exec pipe: the parent reads until
 * end of file, which comes when the command's exec succeeded and init has
 * become hutch-init (or everything died). Child-side code is
 * async-signal-safe: no allocation.
 *
 * hutch-init --reap (src/agent/reap.c), PID 1 of a one-shot run once the
 * command started, shares this contract: it writes STAGE_FORKED on
 * SETUP_STATUS_FD, closes it, and writes a sandbox_report on
 * SETUP_REPORT_FD when the command ends. */
#ifndef HUTCH_NATIVE_SETUP_H
#define HUTCH_NATIVE_SETUP_H

enum setup_stage {
    STAGE_INIT_FAILED = 1, /* the sandbox's init could not set up */
    STAGE_FORKED,          /* the command's process started, and PID 1 waits for it */
    STAGE_COMMAND_FAILED,  /* the command's process could not lock itself down */
    STAGE_WORKDIR,         /* the working directory could not be entered */
    STAGE_EXEC,            /* exec failed */
    STAGE_CANCELLED,       /* the run was cancelled before the command started */
};

#define SETUP_STATUS_FD 3
#define SETUP_REPORT_FD 4

/* What PID 1 reports when the command ends. */
struct sandbox_report {
    int exited; /* 1: exit code in code; 0: killed by signal */
    int code;
    int signal;
    int empty;  /* 1: no other process was left in the sandbox */
};

struct setup_message {
    int stage;
    int err;        /* errno */
    char what[240]; /* what was being done, e.g. "bind /usr at /usr" */
};

/* Fills and writes a message; returns -1 so callers can `return setup_fail(...)`. */
int setup_fail(int fd, int stage, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
