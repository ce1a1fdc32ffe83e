/* The hutch command is linked statically against musl (a glibc start-up
 * probes the CPU's caches with CPUID, which costs ~0.6 ms under a
 * hypervisor). Debian's libjansson.a was built against glibc with
 * _FORTIFY_SOURCE and calls these checked variants; musl has no FORTIFY, so
 * they are provided here on top of the plain functions. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int __snprintf_chk(char *s, size_t maxlen, int flag, size_t slen, const char *fmt, ...);
int __vsnprintf_chk(char *s, size_t maxlen, int flag, size_t slen, const char *fmt, va_list ap);
char *__strncpy_chk(char *dst, const char *src, size_t n, size_t dstlen);

int __vsnprintf_chk(char *s, size_t maxlen, int flag, size_t slen, const char *fmt, va_list ap)
{
    (void)flag;
    (void)slen;
    return vsnprintf(s, maxlen, fmt, ap);
}

int __snprintf_chk(char *s, size_t maxlen, int flag, size_t slen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = __vsnprintf_chk(s, maxlen, flag, slen, fmt, ap);
    va_end(ap);
    return r;
}

char *__strncpy_chk(char *dst, const char *src, size_t n, size_t dstlen)
{
    (void)dstlen;
    return strncpy(dst, src, n);
}
