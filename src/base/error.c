#include "base/error.h"

#include <stdarg.h>

void hutch_error_clear(hutch_error *err)
{
    if (!err)
        return;
    err->status = HUTCH_OK;
    err->sys_errno = 0;
    err->message[0] = '\0';
}

/* Messages are display text: one too long for its buffer is cut on purpose,
 * and then ends with "..." so that the cut shows. And one line, whatever
 * the caller passed in. */
static __attribute__((format(printf, 3, 0))) void format_message(char *buf, size_t size,
                                                               const char *fmt, va_list ap)
{
    int n = vsnprintf(buf, size, fmt, ap);
    if (n < 0)
        fmt_trunc(buf, size, "(an error message that could not be formatted: %s)", fmt);
    else if ((size_t)n >= size)
        fmt_mark_cut(buf, size, "...");
    for (char *c = buf; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
}

static __attribute__((format(printf, 3, 0))) void set_message(hutch_error *err, size_t size,
                                                            const char *fmt, va_list ap)
{
    format_message(err->message, size, fmt, ap);
}

int error_vset(hutch_error *err, hutch_status status, const char *fmt, va_list ap)
{
    if (!err)
        return -1;
    set_message(err, sizeof err->message, fmt, ap);
    err->status = status;
    err->sys_errno = 0;
    return -1;
}

int error_set(hutch_error *err, hutch_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, status, fmt, ap);
    va_end(ap);
    return -1;
}

int error_sys(hutch_error *err, int errnum, const char *fmt, ...)
{
    if (!err)
        return -1;
    /* The system's reason is kept whole: a long message is cut before it. */
    char suffix[256];
    size_t slen = fmt_trunc(suffix, sizeof suffix, ": %s", strerror(errnum));
    va_list ap;
    va_start(ap, fmt);
    set_message(err, sizeof err->message - slen, fmt, ap);
    va_end(ap);
    memcpy(err->message + strlen(err->message), suffix, slen + 1);
    err->status = HUTCH_E_SYSTEM;
    err->sys_errno = errnum;
    return -1;
}

static __attribute__((format(printf, 3, 4))) void format_line(char *buf, size_t size,
                                                            const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    format_message(buf, size, fmt, ap);
    va_end(ap);
}

void error_prefix(hutch_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    /* The context is cut (visibly) at half the room, so that some of the
     * message it explains stays; the message is cut at its end. */
    char prefix[sizeof err->message / 2];
    va_list ap;
    va_start(ap, fmt);
    format_message(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char joined[sizeof err->message];
    format_line(joined, sizeof joined, "%s: %s", prefix, err->message);
    memcpy(err->message, joined, sizeof joined);
}

int str_join_checked(hutch_error *err, char *buf, size_t size, ...)
{
    va_list ap;
    va_start(ap, size);
    bool fits = vstr_join_fits(buf, size, ap);
    va_end(ap);
    if (fits)
        return 0;
    /* As fmt_checked says it: the length, the limit and the start. */
    char start[81];
    size_t total = 0, kept = 0;
    va_start(ap, size);
    for (const char *part; (part = va_arg(ap, const char *));) {
        size_t len = strlen(part), room = sizeof start - 1 - kept;
        size_t take = len < room ? len : room;
        memcpy(start + kept, part, take);
        kept += take;
        total += len;
    }
    va_end(ap);
    start[kept] = '\0';
    return error_set(err, HUTCH_E_INVALID, "too long (%zu bytes, the limit is %zu): %s...", total,
                     size ? size - 1 : 0, start);
}

int fmt_checked(hutch_error *err, char *buf, size_t size, const char *fmt, ...)
{
    if (size == 0)
        return error_set(err, HUTCH_E_INVALID, "no room to format into");
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < size)
        return 0;
    if (n < 0) {
        buf[0] = '\0';
        return error_set(err, HUTCH_E_INVALID, "cannot format \"%s\"", fmt);
    }
    /* buf holds the start of what did not fit: name it, then drop it. */
    error_set(err, HUTCH_E_INVALID, "too long (%d bytes, the limit is %zu): %.80s...", n,
              size - 1, buf);
    buf[0] = '\0';
    return -1;
}
