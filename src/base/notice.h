/* Notices: what the library tells its caller without failing (a session
 * recreated after its configuration changed, a limit kept). They go to the
 * handler the caller set with hutch_set_notice_handler(), never to stderr;
 * without a handler they are dropped. */
#ifndef HUTCH_NOTICE_H
#define HUTCH_NOTICE_H

#include "hutch.h"
#include "base/util.h"

void notice(const char *fmt, ...) PRINTF_LIKE(1, 2);

#endif
