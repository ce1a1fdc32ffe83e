/* Shared by hutch exec, hutch session and hutch prune. */
#ifndef HUTCH_CLI_SESSION_COMMON_H
#define HUTCH_CLI_SESSION_COMMON_H

#include "cli/cli.h"
#include "session/session.h"

/* The session's policy: the config file (this call's --config, else the
 * one it was created with, else the default), the options it was created
 * with, then this call's options. */
hutch_policy *session_policy(const struct session *s, struct policy_args *call, hutch_error *err);

/* exec and start take per-run options only. */
int refuse_session_settings(const struct policy_args *call, const char *command,
                            hutch_error *err);

char *absolute_config_path(const char *path);

/* At most every 5 minutes: a detached `hutch prune --quiet`. */
void maybe_prune_in_background(void);

#endif
