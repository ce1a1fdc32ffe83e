/* Starting a command as a child of hutch: fork, set up its stdio, process
 * group and limits, then exec. The child reports a failure before exec over a
 * close-on-exec pipe, so hutch knows precisely whether the command started. */
#ifndef HUTCH_PROCESS_H
#define HUTCH_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/error.h"

enum launch_stage {
    LAUNCH_OK = 0,
    LAUNCH_SETUP,   /* child_setup failed */
    LAUNCH_WORKDIR, /* chdir failed */
    LAUNCH_EXEC,    /* exec failed */
};

struct launch_failure {
    int stage; /* enum launch_stage */
    int err;   /* errno in the child */
};

struct launch_spec {
    char *const *argv;
    char *const *envp;
    const char *workdir;             /* NULL: hutch's own */
    int stdin_fd, stdout_fd, stderr_fd;
    bool take_terminal;              /* stdin is our terminal: make the command its foreground */
    int (*child_setup)(void *ctx);   /* runs in the child; -1 with errno on failure */
    void *ctx;
};

/* On success *pid and *pidfd refer to the running command (in a new process
 * group whose id is *pid). When the child failed before exec, returns 0 with
 * failure->stage set and the child already reaped. */
int launch_process(const struct launch_spec *spec, pid_t *pid, int *pidfd,
                   struct launch_failure *failure, hutch_error *err);

/* Gives the terminal on fd back to hutch's process group. */
void reclaim_terminal(int fd);

/* Runs a system tool (newgidmap, mkfs.ext4) at path with argv, a fixed
 * environment (the system's PATH, LC_ALL=C) and stdin /dev/null, and waits:
 * *status as waitpid says. What it wrote to stdout and stderr goes into
 * said[size] as one line (the rest is read and dropped). -1 with err when
 * it cannot be started or waited for. */
int run_tool(const char *path, char *const argv[], char *said, size_t size, int *status,
             hutch_error *err);

#endif
