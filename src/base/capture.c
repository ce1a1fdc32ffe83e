#include "base/capture.h"

#include <fcntl.h>

#include "base/util.h"

#define CHUNK (64 * 1024)
/* What passes through (or is thrown away) goes through the stack, in
 * pieces small enough to stay among the pages the call already used: a
 * deep frame is a page to fault in on every command. */
#define SCRATCH (16 * 1024)

void sink_init(struct sink *s, hutch_output_mode mode, int fd, uint64_t limit)
{
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->fd = fd;
    s->limit = limit;
}

static __attribute__((noinline)) long read_away(int pipe_fd)
{
    char scratch[SCRATCH];
    return TEMP_FAILURE_RETRY(read(pipe_fd, scratch, sizeof scratch));
}

static __attribute__((noinline)) long pass_on(struct sink *s, int pipe_fd, uint64_t room)
{
    char scratch[SCRATCH];
    size_t want = room < sizeof scratch ? (size_t)room : sizeof scratch;
    long n = TEMP_FAILURE_RETRY(read(pipe_fd, scratch, want));
    if (n > 0 && !s->target_closed && write_all(s->fd, scratch, (size_t)n) < 0)
        s->target_closed = true; /* the reader went away; keep counting */
    return n;
}

static long discard(int pipe_fd, int *devnull_fd)
{
    /* Opened the first time output goes past the limit (-1: not yet; -2:
     * it could not be, and reading does). */
    if (*devnull_fd == -1 &&
        (*devnull_fd = TEMP_FAILURE_RETRY(open_cloexec("/dev/null", O_WRONLY))) < 0)
        *devnull_fd = -2;
    if (*devnull_fd >= 0) {
        ssize_t n = TEMP_FAILURE_RETRY(
            splice(pipe_fd, NULL, *devnull_fd, NULL, 1 << 20, SPLICE_F_NONBLOCK | SPLICE_F_MOVE));
        if (n >= 0 || errno == EAGAIN)
            return n;
        /* Not spliceable (e.g. a pty): fall back to reading. */
    }
    return read_away(pipe_fd);
}

static int grow(struct sink *s, size_t want)
{
    if (s->cap >= want)
        return 0;
    size_t ncap = s->cap ? s->cap : 16 * 1024;
    while (ncap < want)
        ncap *= 2;
    if (ncap > s->limit)
        ncap = (size_t)s->limit;
    char *n = realloc(s->buf, ncap + 1);
    if (!n)
        return -1;
    s->buf = n;
    s->cap = ncap;
    return 0;
}

long sink_pull(struct sink *s, int pipe_fd, int *devnull_fd)
{
    long n;
    uint64_t kept = s->mode == HUTCH_OUTPUT_CAPTURE ? s->len : s->total;
    uint64_t room = s->limit > kept ? s->limit - kept : 0;

    if (room == 0) {
        n = discard(pipe_fd, devnull_fd);
    } else if (s->mode == HUTCH_OUTPUT_CAPTURE) {
        size_t want = room < CHUNK ? (size_t)room : CHUNK;
        if (grow(s, s->len + want) < 0)
            return -1;
        size_t space = s->cap - s->len;
        n = TEMP_FAILURE_RETRY(read(pipe_fd, s->buf + s->len, space < want ? space : want));
        if (n > 0)
            s->len += (size_t)n;
    } else {
        n = pass_on(s, pipe_fd, room);
    }
    if (n > 0)
        s->total += (uint64_t)n;
    return n;
}

void sink_push(struct sink *s, const char *data, size_t len)
{
    uint64_t kept = s->mode == HUTCH_OUTPUT_CAPTURE ? s->len : s->total;
    uint64_t room = s->limit > kept ? s->limit - kept : 0;
    size_t take = room < len ? (size_t)room : len;
    if (take && s->mode == HUTCH_OUTPUT_CAPTURE) {
        if (grow(s, s->len + take) == 0) {
            memcpy(s->buf + s->len, data, take);
            s->len += take;
        }
    } else if (take && !s->target_closed && write_all(s->fd, data, take) < 0) {
        s->target_closed = true;
    }
    s->total += len;
}

void sink_finish(struct sink *s, hutch_output *out)
{
    out->bytes = s->total;
    if (s->mode == HUTCH_OUTPUT_CAPTURE) {
        if (!s->buf)
            s->buf = malloc(1);
        if (s->buf)
            s->buf[s->len] = '\0';
        out->data = s->buf;
        out->len = s->buf ? s->len : 0;
        out->truncated = s->total > s->len;
    } else {
        out->data = NULL;
        out->len = 0;
        out->truncated = s->mode == HUTCH_OUTPUT_RELAY && s->total > s->limit;
    }
    s->buf = NULL;
    s->len = s->cap = 0;
}

void sink_free(struct sink *s)
{
    free(s->buf);
    s->buf = NULL;
}
