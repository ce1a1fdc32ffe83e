#include "error.h"

#include <stdarg.h>

void hutch_error_clear(hutch_error *err)
{
    if (!err)
        return;
    err->status = HUTCH_OK;
    err->sys_errno = 0;
    err->message[0] = '\0';
}

static __attribute__((format(printf, 2, 0))) void set_message(hutch_error *err, const char *fmt,
                                                            va_list ap)
{
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    /* Messages are one line whatever the caller passed in. */
    for (char *c = err->message; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
}

int error_set(hutch_error *err, hutch_status status, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    set_message(err, fmt, ap);
    va_end(ap);
    err->status = status;
    err->sys_errno = 0;
    return -1;
}

int error_sys(hutch_error *err, int errnum, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    set_message(err, fmt, ap);
    va_end(ap);
    size_t used = strlen(err->message);
    snprintf(err->message + used, sizeof err->message - used, ": %s", strerror(errnum));
    err->status = HUTCH_E_SYSTEM;
    err->sys_errno = errnum;
    return -1;
}

void error_prefix(hutch_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t plen = strlen(prefix) + 2; /* "prefix: " */
    size_t olen = strlen(err->message);
    size_t room = sizeof err->message - 1;
    if (plen > room)
        plen = room;
    if (plen + olen > room)
        olen = room - plen;
    memmove(err->message + plen, err->message, olen);
    memcpy(err->message, prefix, plen - 2);
    err->message[plen - 2] = ':';
    err->message[plen - 1] = ' ';
    err->message[plen + olen] = '\0';
}
