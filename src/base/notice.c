#include "base/notice.h"

#include <stdarg.h>

static hutch_notice_fn *handler;
static void *handler_ctx;

HUTCH_API void hutch_set_notice_handler(hutch_notice_fn *fn, void *ctx)
{
    handler = fn;
    handler_ctx = ctx;
}

void notice(const char *fmt, ...)
{
    if (!handler)
        return;
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap); /* a notice may be cut, never fails */
    va_end(ap);
    handler(message, handler_ctx);
}
