/* read {path, offset?, limit?}: the head of a text file by lines, or an
 * image as base64. */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "tools/internal.h"

/* Images returned whole, as base64, up to this size. */
#define IMAGE_MAX_BYTES (5u * 1024 * 1024)
/* Bytes looked at for the image magic and for NUL (binary). */
#define SNIFF_BYTES 8192

static const char *image_type(const unsigned char *b, size_t n)
{
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "image/png";
    if (n >= 3 && memcmp(b, "\xff\xd8\xff", 3) == 0)
        return "image/jpeg";
    if (n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0))
        return "image/gif";
    if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
        return "image/webp";
    return NULL;
}

static const char *kind_of(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO (named pipe)";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "a device";
    return "not a regular file";
}

/* Opens a regular file for reading. What is not a regular file (a FIFO, a
 * device) is never opened for reading at all: looked at through O_PATH
 * first, then opened again and checked to be the same file. */
static int open_regular(struct tool_path *p, struct stat *st, hutch_error *err)
{
    autoclose int probe = path_open(p, p->rest, O_PATH, 0);
    if (probe < 0 || fstat(probe, st) < 0) {
        path_error(p, errno, "read", err);
        return -1;
    }
    if (S_ISDIR(st->st_mode)) {
        error_set(err, HUTCH_E_INVALID, "%s is a directory: use bash with ls to list it", p->shown);
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        error_set(err, HUTCH_E_INVALID, "%s is %s: read only reads regular files", p->shown,
                  kind_of(st->st_mode));
        return -1;
    }
    /* O_NONBLOCK: should a FIFO be swapped in after all, it cannot block. */
    autoclose int fd = path_open(p, p->rest, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
    struct stat again;
    if (fd < 0 || fstat(fd, &again) < 0) {
        path_error(p, errno, "read", err);
        return -1;
    }
    if (!S_ISREG(again.st_mode) || again.st_dev != st->st_dev || again.st_ino != st->st_ino) {
        error_set(err, HUTCH_E_INVALID, "%s changed while it was opened: try again", p->shown);
        return -1;
    }
    *st = again;
    return steal_fd(&fd);
}

static json_t *read_image(int fd, const struct stat *st, const char *mime, const char *shown)
{
    char size[32];
    tool_size_text((uint64_t)st->st_size, size, sizeof size);
    if ((uint64_t)st->st_size > IMAGE_MAX_BYTES)
        return tool_fail("%s is an image (%s) of %s: images are returned up to 5 MiB; make a "
                         "smaller copy with bash first",
                         shown, mime, size);
    size_t len = (size_t)st->st_size;
    autofree unsigned char *data = malloc(len ? len : 1);
    if (!data)
        return NULL;
    size_t got = 0;
    while (got < len) {
        ssize_t n = TEMP_FAILURE_RETRY(pread(fd, data + got, len - got, (off_t)got));
        if (n < 0)
            return tool_fail("cannot read %s: %s", shown, strerror(errno));
        if (n == 0)
            break;
        got += (size_t)n;
    }
    size_t b64_len;
    autofree char *b64 = base64_encode(data, got, &b64_len);
    if (!b64)
        return NULL;
    char text[512];
    size_t tn = fmt_trunc(text, sizeof text, "Read image %s [%s, %s]", shown, mime, size);
    json_t *r = tool_ok(text, tn);
    json_t *image = json_object();
    if (!tool_set(image, "mimeType", json_string(mime)) ||
        !tool_set(image, "data", json_stringn_nocheck(b64, b64_len))) {
        json_decref(r);
        return NULL;
    }
    if (!tool_set(r, "image", image) || !tool_set(r, "path", tool_string(shown, strlen(shown))))
        return NULL;
    return r;
}

json_t *tool_read(const json_t *args, const struct tool_env *env)
{
    hutch_error err;
    const char *path = NULL;
    size_t path_len = 0;
    int64_t offset = 1, limit = 0;
    if (arg_string(args, "path", &path, &path_len, &err) < 0 ||
        arg_int(args, "offset", 1, INT64_MAX, &offset, &err) < 0 ||
        arg_int(args, "limit", 1, INT64_MAX, &limit, &err) < 0)
        return tool_fail("read: %s", err.message);
    if (!path)
        return tool_fail("read needs a path");

    struct tool_path p __attribute__((cleanup(path_release))) = {.rootfd = -1};
    if (path_resolve(&env->roots, path, path_len, PATH_READ, &p, &err) < 0)
        return tool_fail_error(&err);
    struct stat st;
    autoclose int fd = open_regular(&p, &st, &err);
    if (fd < 0)
        return tool_fail_error(&err);

    unsigned char head[SNIFF_BYTES];
    ssize_t n = TEMP_FAILURE_RETRY(pread(fd, head, sizeof head, 0));
    if (n < 0)
        return tool_fail("cannot read %s: %s", path, strerror(errno));
    const char *mime = image_type(head, (size_t)n);
    if (mime)
        return read_image(fd, &st, mime, path);
    if (memchr(head, '\0', (size_t)n))
        return tool_fail("%s is a binary file: read shows text only; use bash (file, xxd, "
                         "strings) to look into it",
                         path);

    struct slice s;
    if (file_slice(fd, (uint64_t)offset, (uint64_t)limit, &s) < 0)
        return errno == ENOMEM ? NULL : tool_fail("cannot read %s: %s", path, strerror(errno));
    autofree char *text = s.text;
    if (s.total == 0 && offset == 1) {
        const char *empty = "[The file is empty.]";
        json_t *r = tool_ok(empty, strlen(empty));
        if (!tool_set(r, "path", tool_string(path, path_len)) ||
            !tool_set(r, "total_lines", json_integer(0)) ||
            !tool_set(r, "truncated", json_false()))
            return NULL;
        return r;
    }
    if ((uint64_t)offset > s.total)
        return tool_fail("offset %" PRId64 " is past the end of %s, which has %" PRIu64
                         " line%s",
                         offset, path, s.total, s.total == 1 ? "" : "s");
    if (s.long_line)
        return tool_fail("line %" PRId64 " of %s is %" PRIu64 " bytes long, over the %d KiB "
                         "that read shows: use bash, e.g. sed -n '%" PRId64 "p' FILE | head -c %d",
                         offset, path, s.long_line, TOOL_MAX_BYTES / 1024, offset, TOOL_MAX_BYTES);

    /* The text, then a notice when the file goes on. */
    char notice[256] = "";
    bool more = s.last < s.total;
    if (more)
        fmt_trunc(notice, sizeof notice,
                  "%s[Showing lines %" PRIu64 "-%" PRIu64 " of %" PRIu64 "%s. Use offset=%" PRIu64
                  " to continue.]",
                  s.len && text[s.len - 1] != '\n' ? "\n\n" : "\n", s.first, s.last, s.total,
                  s.cut_bytes ? " (50 KiB limit)" : "", s.last + 1);
    size_t notice_len = strlen(notice);
    char *all = realloc(text, s.len + notice_len + 1);
    if (!all)
        return NULL;
    text = all;
    memcpy(text + s.len, notice, notice_len + 1);

    json_t *r = tool_ok(text, s.len + notice_len);
    if (!tool_set(r, "path", tool_string(path, path_len)) ||
        !tool_set(r, "offset", json_integer((json_int_t)s.first)) ||
        !tool_set(r, "lines", json_integer((json_int_t)(s.last + 1 - s.first))) ||
        !tool_set(r, "total_lines", json_integer((json_int_t)s.total)) ||
        !tool_set(r, "truncated", json_boolean(more)))
        return NULL;
    if (more && !tool_set(r, "next_offset", json_integer((json_int_t)(s.last + 1))))
        return NULL;
    return r;
}
