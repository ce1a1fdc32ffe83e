/* Internal helpers for filling a hutch_result. */
#ifndef HUTCH_RESULT_H
#define HUTCH_RESULT_H

#include <jansson.h>

#include "base/command.h"
#include "base/supervise.h"

/* Exit code, signal and timeout as a shell would report them. */
void result_apply_outcome(hutch_result *r, const struct supervise_outcome *o);

/* The command could not be executed (not found, not executable): 127/126. */
int result_exec_failed(hutch_result *r, const char *argv0, int errnum);

/* Moves the sinks' bytes and counts into the result. */
void result_take_output(hutch_result *r, struct command_io *io);

/* The proxy's refusals during the run (network mode allow); takes the list. */
void result_take_network_denied(hutch_result *r, struct strlist *hosts);

/* ---- the API boundary: callers' structs of other sizes (hutch.h) ---------- */

/* The fields of the first version of each struct: what every caller has. */
#define HUTCH_COMMAND_V1_SIZE (offsetof(hutch_command, detach_teardown) + sizeof(bool))
#define HUTCH_RESULT_V1_SIZE (offsetof(hutch_result, network_denied) + sizeof(char **))

/* A caller's command of cmd_size bytes as this version's: the fields it
 * does not have keep their defaults. Refuses sizes below the first version. */
int command_from_caller(hutch_command *full, const hutch_command *cmd, size_t cmd_size,
                        hutch_error *err);
/* A call that runs a command (hutch_run, hutch_session_exec): clears err,
 * fails with required unless given (the call's other arguments) and both
 * structs are there, and makes the caller's command this version's cmd and
 * zeroes its result; refuses sizes below the first version's. */
int api_command_in(bool given, const char *required, const hutch_command *caller_cmd,
                   size_t cmd_size, hutch_result *caller_r, size_t result_size,
                   hutch_command *cmd, hutch_error *err);
/* And back: rc < 0 frees r; else r goes into the caller's result of
 * result_size bytes, and what does not fit in it is freed. Returns rc. */
int api_result_out(int rc, hutch_result *r, hutch_result *caller_r, size_t result_size);

/* Calls that answer with JSON text (hutch_doctor, hutch_image_list, ...):
 * refuses a NULL place for the answer, else empties it and clears err. */
int api_json_in(char **out, hutch_error *err);
/* The answer: value (taken; NULL when out of memory) as compact JSON text,
 * keys in the order they were added. */
int api_json_out(json_t *value, char **out, hutch_error *err);

#endif
