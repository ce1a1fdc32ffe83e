/* Filling hutch_error: every failing library function sets one and returns -1.
 * Callers add context with error_prefix(); only the CLI prints. */
#ifndef HUTCH_ERROR_H
#define HUTCH_ERROR_H

#include "hutch.h"
#include "util.h"

/* Sets err (if not NULL) and returns -1. */
int error_set(hutch_error *err, hutch_status status, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* Same, for a failed system call: appends ": <strerror(errnum)>". */
int error_sys(hutch_error *err, int errnum, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* Puts "<context>: " in front of the message already in err. */
void error_prefix(hutch_error *err, const char *fmt, ...) PRINTF_LIKE(2, 3);

#endif
