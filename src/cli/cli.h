/* The command-line interface: a thin layer over libhutch. Each subcommand
 * lives in its own cmd_*.c; they share flag parsing and messages from here. */
#ifndef HUTCH_CLI_H
#define HUTCH_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "hutch.h"
#include "base/util.h"

/* Exit status when hutch itself could not do what was asked. */
#define EXIT_HUTCH_FAILED 125

/* Prints "hutch: MESSAGE" on stderr and returns EXIT_HUTCH_FAILED. */
int cli_error(const char *fmt, ...) PRINTF_LIKE(1, 2);
void cli_warn(const char *fmt, ...) PRINTF_LIKE(1, 2);
/* A usage error: err gets HUTCH_E_INVALID and the message; returns -1. */
int cli_fail(hutch_error *err, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* True when the policy's key has exactly this (string) value. */
bool cli_policy_is(const hutch_policy *p, const char *key, const char *value);

/* "--name=value" -> name "name", value "value"; "--name" -> value NULL.
 * Returns false when arg is not a long option. */
bool split_long_option(const char *arg, char *name, size_t name_len, const char **value);

/* The value of an option: the inline one (--x=v) or the next argument. */
int option_value(int argc, char **argv, int *i, const char *shown, const char *inline_value,
                 const char **value, hutch_error *err);

/* POLICY options: collected in order, applied over the config file. */
struct pending_setting;
struct policy_args {
    const char *config_path;
    bool no_config;
    struct pending_setting *pending;
    size_t len, cap;
};

/* Tries argv[*i] as a POLICY option. Returns 1 when consumed (and advances
 * *i past its value), 0 when it is not one, -1 on a bad value. */
int policy_args_parse(struct policy_args *pa, int argc, char **argv, int *i, hutch_error *err);

/* Defaults, then the config file, then the options. Prints load warnings. */
hutch_policy *policy_args_build(struct policy_args *pa, hutch_error *err);

void policy_args_free(struct policy_args *pa);

/* The options as [{"flag": NAME, "value": V}...], to keep in a session
 * record; a relative --workspace is made absolute. */
json_t *policy_args_to_json(const struct policy_args *pa);
/* Appends options kept that way; their strings must outlive pa's use. */
int policy_args_add_json(struct policy_args *pa, const json_t *list, hutch_error *err);
/* The key and the flag as typed of the i-th option, or NULL. */
const hutch_key_info *policy_args_key_at(const struct policy_args *pa, size_t i);
const char *policy_args_shown_at(const struct policy_args *pa, size_t i);
#define auto_policy_args __attribute__((cleanup(policy_args_free)))

/* The config file used when --config is not given (may not exist). */
char *default_config_path(void);

/* Help texts. */
void help_overview(FILE *out);
int help_topic(const char *topic, FILE *out); /* -1 when unknown */
void help_policy_options(FILE *out);

/* Options of hutch run. */
struct run_args {
    struct policy_args policy;
    bool json;
    bool pass_stdin;
    int result_fd; /* --result-fd N, else -1 */
    const char *shell;
    char **command; /* points into argv */
};

/* Returns 1 to go on, 0 when --help was printed, -1 on a usage error. */
int run_args_parse(int argc, char **argv, struct run_args *ra, hutch_error *err);

/* Passes SIGINT, SIGTERM and SIGHUP on as signal-number bytes on a pipe:
 * *read_fd is for hutch_command.cancel_fd. */
int cli_forward_signals(int *read_fd);
/* That pipe's read end (readable once a signal came), or -1. */
int cli_cancel_fd(void);

/* Asks approval.require's questions on the terminal (src/cli/prompt.c). */
void cli_set_approval_prompt(void);

/* main's argv, for handing the whole command to hutch-docker. */
extern char **cli_argv;

/* Replaces this process with hutch-docker, given the same arguments;
 * returns only on failure (with the exit status to use). */
int cli_exec_docker_helper(void);
bool cli_docker_helper_present(void);

/* True in builds that have the docker backend themselves. */
#ifdef HUTCH_NO_DOCKER
#define CLI_HAS_DOCKER false
#else
#define CLI_HAS_DOCKER true
#endif

/* A subcommand of hutch config, image or skill. */
struct cli_subcommand {
    const char *name;
    int (*run)(int argc, char **argv); /* given what follows its name */
};
/* hutch TOPIC SUB ...: runs SUB from subs (ended by a NULL name). Without
 * one, the topic's help on stderr, and a failure; -h or --help, on stdout. */
int cli_subcommand(const char *topic, int argc, char **argv, const struct cli_subcommand *subs);

int cmd_run(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_skill(int argc, char **argv);
int cmd_session(int argc, char **argv);
int cmd_session_shell(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_tool(int argc, char **argv);
int cmd_mcp(int argc, char **argv);

/* After a run: the result's notes on stderr (hutch run and exec). */
void cli_report_live(const hutch_result *r, const hutch_policy *p);
/* Prints a result as JSON on stdout; 0, or an exit status on failure. */
int cli_print_result(const hutch_result *r);

/* The command of hutch run and exec from their options: straight to the
 * terminal unless --json or an output limit was asked for; signals go to
 * *cancel_fd (the caller's to close). */
void cli_command_from(hutch_command *cmd, const struct run_args *ra, const hutch_policy *p,
                      int *cancel_fd);
/* After hutch run or exec: the JSON result or the notes on stderr; frees
 * the result and returns the exit status. */
int cli_finish_run(hutch_result *result, const struct run_args *ra, const hutch_policy *p);
/* hutch itself could not run the command: the one line on stderr, and the
 * same error as a result object on --result-fd when given. Returns 125. */
int cli_run_failed(const struct run_args *ra, const char *message);

/* The descriptor of --result-fd (-1 when none): close-on-exec while hutch
 * runs so no process it starts inherits it, and kept open across the
 * hand-over to hutch-docker. */
extern int cli_result_fd;

void cli_free_policy(hutch_policy **p);
#define auto_policy __attribute__((cleanup(cli_free_policy)))

#endif
