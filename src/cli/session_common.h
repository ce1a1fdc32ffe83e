/* Shared by hutch exec, tool, mcp, session and prune. */
#ifndef HUTCH_CLI_SESSION_COMMON_H
#define HUTCH_CLI_SESSION_COMMON_H

#include "cli/cli.h"

/* The policy of session *key for one call: the config file (this call's
 * --config, else the one the session was created with, else the default),
 * the options it was created with, then this call's options. command (hutch
 * exec, tool, mcp, session shell, session start) takes per-run options
 * only: the others are refused; NULL for hutch session create, whose
 * options the new session keeps. With session.perSession false, *key
 * becomes the shared session's. NULL with err set. */
hutch_policy *cli_session_policy(const char **key, struct policy_args *call, const char *command,
                                 hutch_error *err);

/* Ends a failed session call: hands over to hutch-docker when this build
 * lacks the session's driver, else prints the error. The exit status. */
int cli_session_failed(const hutch_error *err);

char *absolute_config_path(const char *path);

/* At most every 5 minutes: a detached `hutch prune --quiet`. */
void maybe_prune_in_background(void);

#endif
