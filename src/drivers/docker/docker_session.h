/* Docker sessions (docker_session.c): one long-lived container per
 * session, hutch-init its PID 1; or an adopted container (docker:NAME),
 * only ever executed in. The record holds the container and the engine. */
#ifndef HUTCH_DOCKER_SESSION_H
#define HUTCH_DOCKER_SESSION_H

#include "drivers/driver.h"

struct session;
struct agent_conn;

int docker_session_create(struct session *s, const struct hutch_policy *p, hutch_error *err);
int docker_session_exec(struct session *s, const struct hutch_policy *p, struct agent_conn *conn,
                        const hutch_command *cmd, hutch_result *r, hutch_error *err);
int docker_session_start(struct session *s, const struct hutch_policy *p, hutch_error *err);
int docker_session_stop(struct session *s, hutch_error *err);
/* Removes the container hutch made (an adopted one is only forgotten). */
int docker_session_remove(struct session *s, hutch_error *err);
enum session_state docker_session_probe(struct session *s, char *detail, size_t len);
int docker_session_stats(struct session *s, struct session_stats *st, hutch_error *err);

#endif
