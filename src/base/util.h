/* Small helpers shared by every module: cleanup attributes, EINTR retry,
 * bounded string building. */
#ifndef HUTCH_UTIL_H
#define HUTCH_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* open(path, flags | O_CLOEXEC, mode) in one system call: musl's open()
 * follows O_CLOEXEC with an fcntl (for kernels older than 2.6.23), one
 * call more for every file a command's path opens; openat does not. */
#define open_cloexec(path, flags, ...) openat(AT_FDCWD, (path), (flags) | O_CLOEXEC, ##__VA_ARGS__)

/* 1 in builds whose leak checker reports memory left to the process's exit
 * (AddressSanitizer, LeakSanitizer: meson.build defines it for b_sanitize):
 * code that leaves memory to an imminent exit frees it there, so that the
 * check stays meaningful. */
#ifndef HUTCH_LEAK_CHECKED
#ifdef __SANITIZE_ADDRESS__
#define HUTCH_LEAK_CHECKED 1
#else
#define HUTCH_LEAK_CHECKED 0
#endif
#endif
#define UNUSED __attribute__((unused))
#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))
#define MUST_CHECK __attribute__((warn_unused_result))

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

/* The directory name under dirfd, opened to be read (O_RDONLY | O_DIRECTORY
 * | O_CLOEXEC and flags, such as O_NOFOLLOW; "." for dirfd itself with an
 * offset of its own). NULL with errno set when it cannot be. */
DIR *opendir_at(int dirfd, const char *name, int flags);

/* Writes text into the existing file at path (a kernel file: /proc, a
 * cgroup's), opened write-only: 0, or -1 with errno set. Allocates nothing:
 * safe in a child between fork and exec. */
int write_file_text(const char *path, const char *text);

/* Reads a whole regular file of at most max bytes; NUL-terminated. */
int read_file_bounded(const char *path, size_t max, char **out, size_t *out_len);

/* A number from a /proc/sys file; -1 when it cannot be read. */
int read_sysctl(const char *path, long *value);

/* True when path is prefix itself or lies below it (by whole components);
 * *rest (when not NULL) is what follows the prefix ("" or "/..."). */
bool path_under(const char *path, const char *prefix, const char **rest);

/* ---- formatting into fixed buffers ------------------------------------------
 * No bare snprintf into a fixed buffer: each call says what happens when the
 * text does not fit.
 *   fmt_fits, fmt_append: checked. For what is used, not only shown (paths,
 *     names, arguments, protocol lines): cut, it would name something else,
 *     so the caller fails instead. On failure nothing cut is left behind.
 *   fmt_checked (error.h): fmt_fits that fails with a hutch_error.
 *   fmt_bounded: checked by the compiler: numbers and fixed words into an
 *     array, whose longest output -Wformat-truncation=2 proves fits.
 *   fmt_trunc: display text (messages, log lines, notices), cut on purpose.
 * meson.build has -Wformat-truncation=2, which flags any other snprintf
 * into an array that might not fit. */

/* snprintf into an array (never a pointer), for output bounded by the
 * format and the types alone: numbers, literals, %s of arrays, %.Ns. Never
 * %s of a pointer to a string of unknown length: the compiler assumes that
 * short, and proves nothing. Returns the length written. */
#define fmt_bounded(array, ...)                                                                \
    (__extension__({                                                                           \
        _Static_assert(                                                                        \
            !__builtin_types_compatible_p(__typeof__(array), __typeof__(&(array)[0])),         \
            "fmt_bounded formats into an array");                                              \
        (size_t)snprintf((array), sizeof(array), __VA_ARGS__);                                 \
    }))

/* Formats into buf[size]. True when all of it fit; false (buf is "" when
 * size > 0) when it did not, or on a formatting error. */
bool fmt_fits(char *buf, size_t size, const char *fmt, ...) PRINTF_LIKE(3, 4) MUST_CHECK;
bool vfmt_fits(char *buf, size_t size, const char *fmt, va_list ap) PRINTF_LIKE(3, 0) MUST_CHECK;

/* The strings up to the NULL, joined into buf[size]: fmt_fits(buf, size,
 * "%s%s...", ...) without printf, for paths built on every start (printf
 * costs about 0.7 us a call in musl). True when all of it fit; false (buf is
 * "" when size > 0) when it did not. */
bool str_join_fits(char *buf, size_t size, ...) __attribute__((sentinel)) MUST_CHECK;
bool vstr_join_fits(char *buf, size_t size, va_list parts) MUST_CHECK;

/* The strings up to the NULL, joined into a new string; NULL when out of
 * memory. */
char *str_join(const char *first, ...) __attribute__((sentinel, malloc)) MUST_CHECK;

/* Appends to buf[size] at *used (the length of what is there), moving *used
 * to the new end. False when the part did not fit (or *used >= size): the
 * part is then dropped whole, buf and *used stay as they were. */
bool fmt_append(char *buf, size_t size, size_t *used, const char *fmt, ...) PRINTF_LIKE(4, 5)
    MUST_CHECK;

/* Display text, cut on purpose: as much as fits in buf[size], never ending
 * in a partial UTF-8 character. Returns the length written (< size), so
 * that `used += fmt_trunc(buf + used, size - used, ...)` stays in buf. */
size_t fmt_trunc(char *buf, size_t size, const char *fmt, ...) PRINTF_LIKE(3, 4);
size_t vfmt_trunc(char *buf, size_t size, const char *fmt, va_list ap) PRINTF_LIKE(3, 0);

/* Cuts the string in buf[size] (already NUL-terminated within it) so that it
 * ends with mark ("..."), where a cut shows: at a UTF-8 character boundary,
 * keeping mark inside buf. For text known to have been cut. */
void fmt_mark_cut(char *buf, size_t size, const char *mark);

/* clock_gettime by its system call, never the vDSO. hutch is a short-lived
 * process that reads a clock a few times; the vDSO's first use (finding its
 * symbols, faulting in its pages) cost 30-400 us on a VM, a system call
 * about 1 us (docs/bench.md, run 7). */
void clock_read(clockid_t clock, struct timespec *ts);
/* time(NULL), through clock_read. */
time_t wall_seconds(void);

/* The time now in UTC, for logs: "2024-05-01T12:00:00.123Z". */
void utc_timestamp(char when[40]);

/* Room for element n of the array *items (a T ** passed as void *) of
 * *cap elements of size bytes: when full, doubles it (first to initial).
 * False when out of memory; the array is then as it was. */
bool array_reserve(void *items, size_t *cap, size_t n, size_t size, size_t initial) MUST_CHECK;

/* A byte buffer that grows as it is appended to. Once it holds anything,
 * data[len] is '\0', so text in it is a C string too. Start with {0}. */
struct bytebuf {
    char *data;
    size_t len, cap;
};

/* Appends n bytes, doubling the room as needed (first to 64 bytes). False
 * when out of memory or the size would overflow: b is then as it was. */
bool bytebuf_append(struct bytebuf *b, const void *bytes, size_t n) MUST_CHECK;

/* Frees what b holds and makes it empty ({0}) again. */
void bytebuf_clear(struct bytebuf *b);

/* Runs fn(arg) on a new detached thread (nobody joins it): 0, or the error
 * number pthread_create gave. */
int thread_start_detached(void *(*fn)(void *), void *arg) MUST_CHECK;

/* Milliseconds on CLOCK_MONOTONIC. */
double monotonic_ms(void);

#endif
