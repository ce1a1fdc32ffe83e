/* A tiny TAP producer: each CHECK is one test line, so meson (protocol
 * 'tap') and CI count every check, not every binary. */
#ifndef HUTCH_TAP_H
#define HUTCH_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_count, tap_failures;

__attribute__((format(printf, 4, 5))) static void tap_check(int ok, const char *file, int line,
                                                            const char *fmt, ...)
{
    char desc[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(desc, sizeof desc, fmt, ap);
    va_end(ap);
    tap_count++;
    printf("%s %d - %s\n", ok ? "ok" : "not ok", tap_count, desc);
    if (!ok) {
        tap_failures++;
        printf("# failed at %s:%d\n", file, line);
    }
    fflush(stdout);
}

#define CHECK(cond, ...) tap_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define CHECK_STR(got, want, ...)                                                              \
    do {                                                                                       \
        const char *g_ = (got), *w_ = (want);                                                  \
        int ok_ = g_ && w_ && strcmp(g_, w_) == 0;                                             \
        tap_check(ok_, __FILE__, __LINE__, __VA_ARGS__);                                       \
        if (!ok_)                                                                              \
            printf("#   got:  %s\n#   want: %s\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)");  \
    } while (0)

#define CHECK_CONTAINS(got, part, ...)                                                         \
    do {                                                                                       \
        const char *g_ = (got), *p_ = (part);                                                  \
        int ok_ = g_ && strstr(g_, p_) != NULL;                                                \
        tap_check(ok_, __FILE__, __LINE__, __VA_ARGS__);                                       \
        if (!ok_)                                                                              \
            printf("#   got:  %s\n#   missing: %s\n", g_ ? g_ : "(null)", p_);                 \
    } while (0)

static int tap_done(void)
{
    printf("1..%d\n", tap_count);
    return tap_failures ? 1 : 0;
}

#endif
