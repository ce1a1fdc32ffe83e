/* Filling hutch_error: every failing library function sets one and returns -1.
 * Callers add context with error_prefix(); only the CLI prints.
 * Messages are one line; one too long for hutch_error.message is cut on
 * purpose and ends with "...". */
#ifndef HUTCH_ERROR_H
#define HUTCH_ERROR_H

#include "hutch.h"
#include "base/util.h"

/* Room for one message: the size of hutch_error.message. */
#define ERROR_MESSAGE_MAX sizeof(((hutch_error *)0)->message)

/* Sets err (if not NULL) and returns -1. */
int error_set(hutch_error *err, hutch_status status, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* error_set() with a va_list. */
int error_vset(hutch_error *err, hutch_status status, const char *fmt, va_list ap)
    PRINTF_LIKE(3, 0);

/* Same, for a failed system call: appends ": <strerror(errnum)>" (kept
 * whole: a long message is cut before it). */
int error_sys(hutch_error *err, int errnum, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* Puts "<context>: " in front of the message already in err. */
void error_prefix(hutch_error *err, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* fmt_fits() (util.h) that fails with err: 0, or -1 with HUTCH_E_INVALID
 * ("too long (N bytes, the limit is M): <its start>...") and buf "" when the
 * text did not fit. For paths and names, which must never be cut: callers
 * add what it was with error_prefix(). */
int fmt_checked(hutch_error *err, char *buf, size_t size, const char *fmt, ...) PRINTF_LIKE(4, 5);

/* str_join_fits() (util.h) that fails with err: 0, or -1 with
 * HUTCH_E_INVALID naming the start of what did not fit. */
int str_join_checked(hutch_error *err, char *buf, size_t size, ...) __attribute__((sentinel));

#endif
