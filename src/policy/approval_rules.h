/* approval.require: which tool calls and commands are asked about before
 * they run. Entries are a tool's name (hutch's or a harness's own), "*"
 * for every tool call, or "command:GLOB", matched with fnmatch(3) (no
 * flags: "*" matches "/" too) against the command as one shell line: a
 * command of hutch_run and hutch_session_exec, and the "command" of a bash
 * tool call. docs/config.md. */
#ifndef HUTCH_APPROVAL_RULES_H
#define HUTCH_APPROVAL_RULES_H

#include "policy/policy.h"

#define APPROVAL_COMMAND_PREFIX "command:"

/* The field's check (fields_list.h): a tool name, "*" or command:GLOB. */
int norm_approval_entry(const char *in, char **out);

/* The first entry that asks about a call of tool `tool` (NULL: a plain
 * command) with command line `command` (NULL: none), or NULL. */
const char *approval_rule(const struct hutch_policy *p, const char *tool, const char *command);

/* cmd as one shell line (malloc'ed; NULL when out of memory): its shell
 * text, or its argv with each word quoted for sh where it needs it; the
 * shell's own arguments follow, quoted. */
char *approval_command_line(const hutch_command *cmd);

enum approval_outcome {
    APPROVAL_NOT_ASKED, /* no entry names it */
    APPROVAL_APPROVED,
    APPROVAL_REFUSED, /* reason says why */
};

/* The entry that asks about cmd (*rule, NULL when none) and, when there
 * is one, its command line (*line, malloc'ed). -1 when out of memory. */
int approval_command_rule(const struct hutch_policy *p, const hutch_command *cmd,
                          const char **rule, char **line);

/* Asks about command line `line` that entry `rule` named, before it runs
 * in session `session` (NULL: hutch_run). */
enum approval_outcome approval_command_ask(const char *session, const char *line,
                                           const char *rule, char *reason, size_t len);

/* Both, for hutch_run: APPROVAL_NOT_ASKED when no entry names cmd. */
enum approval_outcome approval_command(const struct hutch_policy *p, const hutch_command *cmd,
                                       char *reason, size_t len);

#endif
