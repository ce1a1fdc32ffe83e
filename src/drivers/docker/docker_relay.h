/* The agent of a container that hutch reaches only through the Engine API
 * (an adopted container, or a session's on a TCP engine): hutch-init runs
 * there as a process of its own, and each tool call speaks to it through an
 * exec of its relay mode (src/agent/relay.h), whose stream hutch joins to a
 * local socket, so that the agent client (src/agent/client.h) works on it
 * unchanged. And interactive shells through an exec with a terminal.
 * docs/docker.md, "Tools in adopted containers". */
#ifndef HUTCH_DOCKER_RELAY_H
#define HUTCH_DOCKER_RELAY_H

#include "drivers/docker/engine.h"
#include "policy/policy.h"

struct session;
struct agent_conn;

/* Connects conn to the session's agent in its container: uploads hutch-init
 * there first when it is not (adopted containers), and has the relay start
 * the agent when none runs. The agent has answered HELLO when this returns
 * 0. Sets s->record->agent_dir (the caller saves the record). */
int docker_relay_connect(struct session *s, const struct hutch_policy *p, struct agent_conn *conn,
                         hutch_error *err);

/* Stops the session's agent in its container and removes its files (the
 * binary, its directory), if the container still runs; never the container. */
int docker_relay_remove(struct session *s, hutch_error *err);

/* An exec's process cannot be signalled through the API. Execs that may
 * need it carry HUTCH_EXEC=token (engine_random_hex) in their environment;
 * this signals, in a second exec (as user, NULL: the container's), every
 * process of the container whose environment carries it: the exec's
 * command and whatever it started. And removes also_remove (NULL: nothing),
 * a path made of the token. Best effort: nothing is reported. */
void docker_exec_kill(struct engine *e, const char *container, const char *user,
                      const char *token, int sig, const char *also_remove);

/* cmd->tty_fd: runs cmd with an exec that has a terminal, relaying it to
 * tty_fd (put in raw mode meanwhile; its window size is passed on), in
 * workdir when it is not NULL. */
int docker_exec_tty(struct engine *e, const char *container, const struct hutch_policy *p,
                    const char *workdir, const hutch_command *cmd, hutch_result *r,
                    hutch_error *err);

#endif
