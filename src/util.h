/* Small helpers shared by every module: cleanup attributes, EINTR retry,
 * bounded string building. */
#ifndef HUTCH_UTIL_H
#define HUTCH_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TEMP_FAILURE_RETRY
#define TEMP_FAILURE_RETRY(expression)                                         \
    (__extension__({                                                           \
        long int _result;                                                      \
        do                                                                     \
            _result = (long int)(expression);                                  \
        while (_result == -1L && errno == EINTR);                              \
        _result;                                                               \
    }))
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define UNUSED __attribute__((unused))
#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))

static inline void cleanup_freep(void *p)
{
    free(*(void **)p);
}

static inline void cleanup_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

static inline void cleanup_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

#define autofree __attribute__((cleanup(cleanup_freep)))
#define autoclose __attribute__((cleanup(cleanup_closep)))
#define autofclose __attribute__((cleanup(cleanup_fclosep)))

/* Hands ownership out of a cleanup-managed variable. */
static inline void *steal_pointer_impl(void *pp)
{
    void **p = pp;
    void *v = *p;
    *p = NULL;
    return v;
}
#define steal_pointer(pp) steal_pointer_impl(pp)

static inline int steal_fd(int *fd)
{
    int v = *fd;
    *fd = -1;
    return v;
}

static inline void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Writes all of buf, retrying on EINTR and short writes. */
int write_all(int fd, const void *buf, size_t len);

/* The same on a socket, without SIGPIPE when the peer is gone: a library
 * must not die of that, nor change the caller's signal dispositions. */
int send_all(int fd, const void *buf, size_t len);

/* Reads a whole regular file of at most max bytes; NUL-terminated. */
int read_file_bounded(const char *path, size_t max, char **out, size_t *out_len);

/* A number from a /proc/sys file; -1 when it cannot be read. */
int read_sysctl(const char *path, long *value);

/* True when path is prefix itself or lies below it (by whole components);
 * *rest (when not NULL) is what follows the prefix ("" or "/..."). */
bool path_under(const char *path, const char *prefix, const char **rest);

/* Milliseconds on CLOCK_MONOTONIC. */
double monotonic_ms(void);

#endif
