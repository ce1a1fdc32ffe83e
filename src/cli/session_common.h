/* Shared by hutch exec, hutch session and hutch prune. */
#ifndef HUTCH_CLI_SESSION_COMMON_H
#define HUTCH_CLI_SESSION_COMMON_H

#include "cli/cli.h"
#include "session/session.h"

/* The session's policy: the config file (this call's --config, else the
 * one it was created with, else the default), the options it was created
 * with, then this call's options. */
hutch_policy *session_policy(const struct session *s, struct policy_args *call, hutch_error *err);

/* session_open, then session_lock (lock) or else session_load. */
int session_open_for(struct session *s, const char *key, bool lock, hutch_error *err);

/* For command (hutch exec, tool, mcp, session shell), which take per-run
 * options only: refuses the others, opens the session key (locked when
 * lock, else only loaded) and builds its policy as session_policy does;
 * NULL with err set. The caller closes s either way. */
hutch_policy *session_open_policy(struct session *s, const char *key, bool lock,
                                  struct policy_args *call, const char *command, hutch_error *err);

/* session_ensure for hutch exec and session shell, then unlocks: 0, or the
 * exit status to return (hutch-docker's where this build cannot reach the
 * engine). */
int cli_session_ensure(struct session *s, const hutch_policy *p, const struct session_use *use,
                       struct agent_conn *conn);

/* exec and start take per-run options only. */
int refuse_session_settings(const struct policy_args *call, const char *command,
                            hutch_error *err);

char *absolute_config_path(const char *path);

/* At most every 5 minutes: a detached `hutch prune --quiet`. */
void maybe_prune_in_background(void);

#endif
