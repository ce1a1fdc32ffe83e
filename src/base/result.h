/* Internal helpers for filling a hutch_result. */
#ifndef HUTCH_RESULT_H
#define HUTCH_RESULT_H

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

#endif
