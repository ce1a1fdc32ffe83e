/* What every backend does the same way for a command: its final argv, its
 * environment, and its standard streams (pipes for captured and relayed
 * output, /dev/null for stdin unless the caller passes one). */
#ifndef HUTCH_COMMAND_H
#define HUTCH_COMMAND_H

#include "base/capture.h"
#include "base/error.h"
#include "policy/policy.h"
#include "base/strlist.h"

/* argv as executed: the command's own, or /bin/sh -c SHELL [argv...]. */
int command_argv(const hutch_command *cmd, struct strlist *argv, hutch_error *err);

enum env_view {
    ENV_HOST,    /* same filesystem as hutch: PATH, HOME, LANG, TERM copied from hutch */
    ENV_SANDBOX, /* a built root: standard PATH, HOME=/tmp */
    ENV_DOCKER,  /* the same in a container: docker.env comes under env */
};

/* The scrubbed environment (or hutch's own with inheritEnv), plus policy env. */
int command_env(const struct hutch_policy *p, enum env_view view, struct strlist *env,
                hutch_error *err);

struct command_io {
    int child_in, child_out, child_err; /* fds the command gets as 0, 1, 2 */
    int out_read, err_read;             /* pipe ends hutch reads, or -1 */
    int in_src, in_write;               /* relayed stdin: the caller's fd, the pipe's
                                           write end; or -1 */
    int owned[3];                       /* child-side fds hutch opened and must close */
    struct sink out, err;
};

int command_io_open(struct command_io *io, const hutch_command *cmd, uint64_t limit,
                    hutch_error *err);

/* The same, for a command that may outlive the call (a session's): it gets
 * pipes only, never one of the caller's own descriptors. Output that would
 * be passed is relayed instead (without a limit), and a given stdin is
 * relayed through a pipe while the command runs. */
int command_io_open_relayed(struct command_io *io, const hutch_command *cmd, uint64_t limit,
                            hutch_error *err);

/* After the command started: hutch keeps only its own ends. */
void command_io_close_child_ends(struct command_io *io);

void command_io_free(struct command_io *io);
#define auto_command_io __attribute__((cleanup(command_io_free)))

struct supervise_spec;

/* Fills what every backend supervises the same way: the output pipes and
 * sinks, the timeout with its grace period, the cancel fd. The backend adds
 * the process to watch and how to signal it. */
void command_io_supervise(struct command_io *io, const struct hutch_policy *p,
                          const hutch_command *cmd, struct supervise_spec *sup);

#endif
