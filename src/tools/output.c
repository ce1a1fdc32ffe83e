/* Output logs with a size cap, and the bounded views of files that read,
 * bash and process show: a head slice by lines, and a tail. Everything
 * streams through fixed buffers, so a 1 GiB file costs no more memory than
 * a small one. */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "tools/internal.h"

/* ---- logs -------------------------------------------------------------------------- */

static int pwrite_all(int fd, const char *buf, size_t n, uint64_t at)
{
    while (n > 0) {
        ssize_t w = TEMP_FAILURE_RETRY(pwrite(fd, buf, n, (off_t)at));
        if (w < 0)
            return -1;
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        buf += w;
        n -= (size_t)w;
        at += (uint64_t)w;
    }
    return 0;
}

/* Reads up to n bytes at `at`; the count read (short at the end of file). */
static ssize_t pread_full(int fd, char *buf, size_t n, uint64_t at)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = TEMP_FAILURE_RETRY(pread(fd, buf + got, n - got, (off_t)(at + got)));
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Keeps the last TOOL_LOG_KEEP bytes, from a line start when one is near:
 * moved to the front in place, then the file is cut. Halving (rather than
 * dropping a little each time) makes the copying cost amortized constant
 * per byte written. */
static int log_compact(struct tool_log *l)
{
    char buf[TOOL_CHUNK];
    uint64_t from = l->size - TOOL_LOG_KEEP;
    ssize_t n = pread_full(l->fd, buf, sizeof buf, from);
    if (n < 0)
        return -1;
    char *nl = memchr(buf, '\n', (size_t)n);
    if (nl && nl + 1 < buf + n)
        from += (uint64_t)(nl + 1 - buf);
    uint64_t keep = l->size - from;
    for (uint64_t done = 0; done < keep;) {
        size_t want = keep - done < sizeof buf ? (size_t)(keep - done) : sizeof buf;
        n = pread_full(l->fd, buf, want, from + done);
        if (n <= 0)
            return -1;
        if (pwrite_all(l->fd, buf, (size_t)n, done) < 0)
            return -1;
        done += (uint64_t)n;
    }
    if (TEMP_FAILURE_RETRY(ftruncate(l->fd, (off_t)keep)) < 0)
        return -1;
    l->dropped += from;
    l->size = keep;
    return 0;
}

int log_memory_fd(void)
{
    return memfd_create("hutch-output", MFD_CLOEXEC);
}

/* The disk is full: the log goes on in memory, under the same descriptor,
 * so that the output still arrives and its tail can be shown; the file
 * gives its space back. */
static int log_spill(struct tool_log *l)
{
    int saved = errno;
    autoclose int mem = log_memory_fd();
    if (mem < 0)
        return -1;
    char buf[TOOL_CHUNK];
    for (uint64_t at = 0; at < l->size;) {
        ssize_t n = pread_full(l->fd, buf, sizeof buf, at);
        if (n <= 0 || pwrite_all(mem, buf, (size_t)n, at) < 0)
            return -1;
        at += (uint64_t)n;
    }
    (void)TEMP_FAILURE_RETRY(ftruncate(l->fd, 0));
    if (dup3(mem, l->fd, O_CLOEXEC) < 0)
        return -1;
    l->in_memory = true;
    errno = saved;
    return 0;
}

int log_append(struct tool_log *l, const char *buf, size_t n)
{
    if (n == 0)
        return 0;
    for (const char *p = buf, *end = buf + n; (p = memchr(p, '\n', (size_t)(end - p))); p++)
        l->lines++;
    l->total += n;
    l->ends_nl = buf[n - 1] == '\n';
    if (l->fd < 0)
        return -1;
    if (pwrite_all(l->fd, buf, n, l->size) < 0 &&
        (!l->spill || l->in_memory || (errno != ENOSPC && errno != EDQUOT) || log_spill(l) < 0 ||
         pwrite_all(l->fd, buf, n, l->size) < 0))
        return -1;
    l->size += n;
    if (l->size > TOOL_LOG_MAX)
        return log_compact(l);
    return 0;
}

uint64_t log_lines(const struct tool_log *l)
{
    return l->lines + (l->total > 0 && !l->ends_nl ? 1 : 0);
}

int output_dir_open(const char *dir)
{
    if (!dir || dir[0] != '/') {
        errno = EINVAL;
        return -1;
    }
    char path[4096];
    size_t len = strlen(dir);
    if (len >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, len + 1);
    /* Parents as mkdir -p makes them; the directory itself private. */
    for (char *s = path + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return -1;
    return TEMP_FAILURE_RETRY(open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

/* ---- views of a file --------------------------------------------------------------- */

/* Skips UTF-8 continuation bytes, so that a cut never starts mid-character. */
static size_t utf8_start(const char *s, size_t at, size_t len)
{
    for (int i = 0; i < 3 && at < len && ((unsigned char)s[at] & 0xC0) == 0x80; i++)
        at++;
    return at;
}

int file_tail(int fd, uint64_t size, struct tail *t)
{
    memset(t, 0, sizeof *t);
    /* One byte more than shown: it tells whether the window starts a line. */
    uint64_t window = TOOL_MAX_BYTES + 1;
    uint64_t start = size > window ? size - window : 0;
    size_t n = (size_t)(size - start);
    autofree char *buf = malloc(n + 1);
    if (!buf)
        return -1;
    ssize_t got = pread_full(fd, buf, n, start);
    if (got < 0)
        return -1;
    n = (size_t)got;
    size_t b = 0;
    if (start > 0) {
        t->cut = true;
        char *nl = memchr(buf, '\n', n);
        size_t after = nl ? (size_t)(nl - buf) + 1 : n;
        if (after >= n) {
            /* The last line alone is over the limit: its end is all there is. */
            b = utf8_start(buf, n > TOOL_MAX_BYTES ? n - TOOL_MAX_BYTES : 0, n);
            t->partial_line = true;
        } else {
            b = after;
        }
    }
    /* At most TOOL_MAX_LINES lines: the first ones go. */
    size_t end = n;
    uint64_t lines = 0;
    for (const char *p = buf + b; (p = memchr(p, '\n', (size_t)(buf + end - p))); p++)
        lines++;
    if (end > b && buf[end - 1] != '\n')
        lines++;
    for (; lines > TOOL_MAX_LINES; lines--) {
        b = (size_t)((char *)memchr(buf + b, '\n', end - b) - buf) + 1;
        t->cut = true;
    }
    memmove(buf, buf + b, end - b);
    t->len = end - b;
    buf[t->len] = '\0';
    t->lines = lines;
    t->text = steal_pointer(&buf);
    return 0;
}

int file_slice(int fd, uint64_t offset, uint64_t limit, struct slice *s)
{
    memset(s, 0, sizeof *s);
    if (offset < 1)
        offset = 1;
    uint64_t max_lines = limit && limit < TOOL_MAX_LINES ? limit : TOOL_MAX_LINES;
    autofree char *out = malloc(TOOL_MAX_BYTES + 1);
    if (!out)
        return -1;
    size_t out_len = 0, line_start = 0;
    uint64_t line = 1, shown = 0, line_len = 0, pos = 0;
    bool stopped = false, measuring = false;
    char buf[TOOL_CHUNK];
    for (;;) {
        ssize_t n = pread_full(fd, buf, sizeof buf, pos);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        if (pos < 8192 && memchr(buf, '\0', (size_t)n < 8192 - pos ? (size_t)n : 8192 - pos))
            s->binary = true;
        pos += (uint64_t)n;
        size_t at = 0;
        while (at < (size_t)n) {
            if (stopped && !measuring) {
                /* Only counting now. */
                const char *p = buf + at;
                size_t left = (size_t)n - at;
                const char *nl;
                bool any = false;
                while ((nl = memchr(p, '\n', left))) {
                    line++;
                    any = true;
                    left -= (size_t)(nl + 1 - p);
                    p = nl + 1;
                }
                /* What a last line without a newline has so far. */
                line_len = any ? left : line_len + left;
                break;
            }
            char *nl = memchr(buf + at, '\n', (size_t)n - at);
            size_t seg_end = nl ? (size_t)(nl - buf) + 1 : (size_t)n;
            size_t seg = seg_end - at;
            if (line >= offset && !stopped) {
                if (line_len == 0)
                    line_start = out_len;
                if (out_len + seg <= TOOL_MAX_BYTES) {
                    memcpy(out + out_len, buf + at, seg);
                    out_len += seg;
                } else {
                    /* Never a partial line: this one goes, and the view ends. */
                    out_len = line_start;
                    stopped = true;
                    if (shown == 0)
                        measuring = true;
                    else
                        s->cut_bytes = true;
                }
            }
            line_len += seg;
            if (nl) {
                if (line >= offset && !stopped) {
                    shown++;
                    s->last = line;
                    if (shown == max_lines)
                        stopped = true;
                }
                if (measuring) {
                    s->long_line = line_len;
                    measuring = false;
                }
                line++;
                line_len = 0;
            }
            at = seg_end;
        }
    }
    /* A last line without a newline is a line too. */
    if (line_len > 0) {
        if (line >= offset && !stopped) {
            shown++;
            s->last = line;
        }
        if (measuring)
            s->long_line = line_len;
        s->total = line;
    } else {
        s->total = line - 1;
    }
    s->first = offset;
    if (shown == 0)
        s->last = offset - 1;
    out[out_len] = '\0';
    s->len = out_len;
    s->text = steal_pointer(&out);
    return 0;
}
