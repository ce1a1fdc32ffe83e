#include "base/util.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = TEMP_FAILURE_RETRY(write(fd, p, len));
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int read_file_bounded(const char *path, size_t max, char **out, size_t *out_len)
{
    autoclose int fd = TEMP_FAILURE_RETRY(open_cloexec(path, O_RDONLY | O_NOCTTY));
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    if (S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        return -1;
    }
    /* A regular file's size is known: one buffer that fits it, not a
     * series of bigger ones (each a new mapping of the allocator's). Files
     * of /proc and /sys say 0 and are read in pages. */
    size_t cap = 4096, len = 0;
    bool sized = S_ISREG(st.st_mode) && st.st_size > 0;
    if (sized)
        cap = (size_t)st.st_size < max ? (size_t)st.st_size + 1 : max + 1;
    autofree char *buf = malloc(cap + 1);
    if (!buf)
        return -1;
    for (;;) {
        if (len == cap) {
            if (cap >= max + 1) {
                errno = EFBIG;
                return -1;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *nbuf = realloc(buf, ncap + 1);
            if (!nbuf)
                return -1;
            buf = nbuf;
            cap = ncap;
        }
        ssize_t n = TEMP_FAILURE_RETRY(read(fd, buf + len, cap - len));
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        len += (size_t)n;
        /* All that fstat said is there: no read to hear the end (a file
         * that grew since is read as it was). */
        if (sized && len == (size_t)st.st_size)
            break;
    }
    if (len > max) {
        errno = EFBIG;
        return -1;
    }
    buf[len] = '\0';
    *out = steal_pointer(&buf);
    if (out_len)
        *out_len = len;
    return 0;
}

int read_sysctl(const char *path, long *value)
{
    autofree char *text = NULL;
    if (read_file_bounded(path, 64, &text, NULL) < 0)
        return -1;
    *value = strtol(text, NULL, 10);
    return 0;
}

bool array_reserve(void *items, size_t *cap, size_t n, size_t size, size_t initial)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : initial;
    void *grown = realloc(*(void **)items, ncap * size);
    if (!grown)
        return false;
    *(void **)items = grown;
    *cap = ncap;
    return true;
}

int write_file_text(const char *path, const char *text)
{
    autoclose int fd = TEMP_FAILURE_RETRY(open(path, O_WRONLY | O_CLOEXEC));
    if (fd < 0)
        return -1;
    return write_all(fd, text, strlen(text));
}

DIR *opendir_at(int dirfd, const char *name, int flags)
{
    int fd = TEMP_FAILURE_RETRY(openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags));
    if (fd < 0)
        return NULL;
    DIR *d = fdopendir(fd);
    if (!d) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return d;
}

int thread_start_detached(void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    int r = pthread_attr_init(&attr);
    if (r != 0)
        return r;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    r = pthread_create(&thread, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return r;
}

bool bytebuf_append(struct bytebuf *b, const void *bytes, size_t n)
{
    if (n > SIZE_MAX - 1 - b->len)
        return false;
    size_t need = b->len + n + 1;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < need) {
            if (cap > SIZE_MAX / 2)
                return false;
            cap *= 2;
        }
        char *grown = realloc(b->data, cap);
        if (!grown)
            return false;
        b->data = grown;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

void bytebuf_clear(struct bytebuf *b)
{
    free(b->data);
    *b = (struct bytebuf){0};
}

void clock_read(clockid_t clock, struct timespec *ts)
{
    if (syscall(SYS_clock_gettime, clock, ts) < 0)
        *ts = (struct timespec){0}; /* no such clock: the callers pass ones every kernel has */
}

time_t wall_seconds(void)
{
    struct timespec ts;
    clock_read(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

void utc_timestamp(char when[40])
{
    struct timespec ts;
    clock_read(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t len = strftime(when, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    fmt_trunc(when + len, 40 - len, ".%03ldZ", ts.tv_nsec / 1000000);
}

double monotonic_ms(void)
{
    struct timespec ts;
    clock_read(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = TEMP_FAILURE_RETRY(send(fd, p, len, MSG_NOSIGNAL));
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

bool path_under(const char *path, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strcmp(prefix, "/") == 0) {
        if (rest)
            *rest = path;
        return true;
    }
    if (strncmp(path, prefix, n) != 0 || (path[n] != '\0' && path[n] != '/'))
        return false;
    if (rest)
        *rest = path + n;
    return true;
}

/* ---- formatting into fixed buffers ------------------------------------------ */

/* Where text cut after its first len bytes must end so that it does not
 * end in a partial UTF-8 character: len, or the start of that character. */
static size_t whole_chars(const char *s, size_t len)
{
    size_t i = len, cont = 0;
    while (i > 0 && cont < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
        cont++;
    }
    if (i == 0)
        return len;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return need > 1 && cont + 1 < need ? i - 1 : len;
}

/* vsnprintf into buf[size]: the length the text wanted, or -1 (buf "") on
 * a formatting error or no room at all. */
static __attribute__((format(printf, 3, 0))) long format_raw(char *buf, size_t size,
                                                             const char *fmt, va_list ap)
{
    if (size == 0)
        return -1;
    int n = vsnprintf(buf, size, fmt, ap);
    if (n < 0)
        buf[0] = '\0';
    return n;
}

bool vfmt_fits(char *buf, size_t size, const char *fmt, va_list ap)
{
    long n = format_raw(buf, size, fmt, ap);
    if (n >= 0 && (size_t)n >= size)
        buf[0] = '\0'; /* never a cut path or name */
    return n >= 0 && (size_t)n < size;
}

bool fmt_fits(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool ok = vfmt_fits(buf, size, fmt, ap);
    va_end(ap);
    return ok;
}

bool vstr_join_fits(char *buf, size_t size, va_list parts)
{
    if (size == 0)
        return false;
    size_t used = 0;
    bool fits = true;
    for (const char *part; fits && (part = va_arg(parts, const char *));) {
        size_t len = strlen(part);
        fits = len < size - used;
        if (fits) {
            memcpy(buf + used, part, len);
            used += len;
        }
    }
    buf[fits ? used : 0] = '\0';
    return fits;
}

bool str_join_fits(char *buf, size_t size, ...)
{
    va_list ap;
    va_start(ap, size);
    bool fits = vstr_join_fits(buf, size, ap);
    va_end(ap);
    return fits;
}

char *str_join(const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    size_t total = 1;
    for (const char *part = first; part; part = va_arg(ap, const char *))
        total += strlen(part);
    va_end(ap);
    char *joined = malloc(total);
    if (!joined)
        return NULL;
    size_t used = 0;
    va_start(ap, first);
    for (const char *part = first; part; part = va_arg(ap, const char *)) {
        size_t len = strlen(part);
        memcpy(joined + used, part, len);
        used += len;
    }
    va_end(ap);
    joined[used] = '\0';
    return joined;
}

bool fmt_append(char *buf, size_t size, size_t *used, const char *fmt, ...)
{
    if (*used >= size)
        return false;
    va_list ap;
    va_start(ap, fmt);
    bool ok = vfmt_fits(buf + *used, size - *used, fmt, ap);
    va_end(ap);
    if (ok)
        *used += strlen(buf + *used);
    return ok;
}

size_t vfmt_trunc(char *buf, size_t size, const char *fmt, va_list ap)
{
    long n = format_raw(buf, size, fmt, ap);
    if (n < 0)
        return 0;
    if ((size_t)n < size)
        return (size_t)n;
    /* Cut on purpose; but not in the middle of a character. */
    size_t len = whole_chars(buf, size - 1);
    buf[len] = '\0';
    return len;
}

size_t fmt_trunc(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = vfmt_trunc(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

void fmt_mark_cut(char *buf, size_t size, const char *mark)
{
    size_t mlen = strlen(mark);
    if (size == 0 || mlen >= size)
        return;
    size_t len = strlen(buf);
    size_t at = len < size - 1 - mlen ? len : size - 1 - mlen;
    at = whole_chars(buf, at);
    memcpy(buf + at, mark, mlen + 1);
}
