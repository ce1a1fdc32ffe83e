/* Where hutch-init is on the host: next to the running hutch (the build
 * directory, or the install's bin), else in ../libexec/hutch/. */
#ifndef HUTCH_SESSION_AGENT_BINARY_H
#define HUTCH_SESSION_AGENT_BINARY_H

#include <stddef.h>

#include "base/error.h"

int agent_binary_path(char *out, size_t len, hutch_error *err);

/* The same, opened O_PATH and close-on-exec: what a native one-shot run's
 * init executes (execveat) to become its PID 1. */
int agent_binary_open(hutch_error *err);

#endif
