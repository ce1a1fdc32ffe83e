/* Where hutch-init is on the host: next to the running hutch (the build
 * directory, or the install's bin), else in ../libexec/hutch/. */
#ifndef HUTCH_SESSION_AGENT_BINARY_H
#define HUTCH_SESSION_AGENT_BINARY_H

#include <stddef.h>

#include "base/error.h"

int agent_binary_path(char *out, size_t len, hutch_error *err);

#endif
