/* How the sandbox's processes tell the parent what happened during setup.
 * They write these records to a close-on-exec pipe: the parent reads until
 * end of file, which comes when the command's exec succeeded (or everything
 * died). Child-side code is async-signal-safe: no allocation. */
#ifndef HUTCH_NATIVE_SETUP_H
#define HUTCH_NATIVE_SETUP_H

enum setup_stage {
    STAGE_INIT_FAILED = 1, /* the sandbox's init could not set up */
    STAGE_FORKED,          /* init started the command's process */
    STAGE_COMMAND_FAILED,  /* the command's process could not lock itself down */
    STAGE_WORKDIR,         /* the working directory could not be entered */
    STAGE_EXEC,            /* exec failed */
    STAGE_CANCELLED,       /* the run was cancelled before the command started */
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
