/* Formatting into fixed buffers (src/base/util.h: fmt_fits, str_join_fits, fmt_append,
 * fmt_trunc, fmt_bounded, fmt_mark_cut; src/base/error.h: fmt_checked) and how
 * hutch_error messages behave when they do not fit (error_set, error_sys,
 * error_prefix); the growing buffer (bytebuf_append). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "tap.h"
#include "base/util.h"

/* A string of n copies of c (n < 4096). */
static const char *repeat(char c, size_t n)
{
    static char buf[4096];
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

static void test_fits(void)
{
    char buf[8];
    CHECK(fmt_fits(buf, sizeof buf, "%s-%d", "ab", 42), "\"ab-42\" fits in 8");
    CHECK_STR(buf, "ab-42", "and is all there");
    CHECK(fmt_fits(buf, sizeof buf, "%s", "1234567"), "7 bytes and the NUL fit in 8");
    CHECK_STR(buf, "1234567", "exactly");
    CHECK(!fmt_fits(buf, sizeof buf, "%s", "12345678"), "8 bytes do not fit in 8");
    CHECK_STR(buf, "", "and nothing cut is left behind");
    CHECK(!fmt_fits(buf, sizeof buf, "/etc/%s", "passwd-of-someone-else"), "a long path fails");
    CHECK(buf[0] == '\0', "a path that does not fit is never half there");
    char one[1];
    CHECK(fmt_fits(one, sizeof one, "%s", ""), "\"\" fits in 1");
    CHECK(!fmt_fits(one, sizeof one, "x"), "\"x\" does not");
    CHECK(!fmt_fits(NULL, 0, "x"), "nothing fits in 0 bytes");
}

static void test_join(void)
{
    char buf[8];
    CHECK(str_join_fits(buf, sizeof buf, "/a", "/bc", "", "d", NULL), "\"/a/bcd\" fits in 8");
    CHECK_STR(buf, "/a/bcd", "joined in order");
    CHECK(str_join_fits(buf, sizeof buf, "1234", "567", NULL), "7 bytes and the NUL fit in 8");
    CHECK_STR(buf, "1234567", "exactly");
    CHECK(!str_join_fits(buf, sizeof buf, "1234", "5678", NULL), "8 bytes do not fit in 8");
    CHECK_STR(buf, "", "and nothing cut is left behind");
    CHECK(str_join_fits(buf, sizeof buf, NULL), "no parts: the empty string");
    CHECK_STR(buf, "", "empty");
    CHECK(!str_join_fits(NULL, 0, "x", NULL), "nothing fits in 0 bytes");
    char *joined = str_join("/newroot", "", "/etc/ssl/private", NULL);
    CHECK(joined && strcmp(joined, "/newroot/etc/ssl/private") == 0, "str_join allocates the join");
    free(joined);
    joined = str_join(repeat('y', 3000), repeat('y', 3000), NULL);
    CHECK(joined && strlen(joined) == 6000, "of any length");
    free(joined);

    hutch_error err = {0};
    char path[16];
    CHECK(str_join_checked(&err, path, sizeof path, "/tmp/", "a", NULL) == 0 &&
              err.status == HUTCH_OK,
          "str_join_checked: 0 when it fits, err untouched");
    CHECK(str_join_checked(&err, path, sizeof path, "/tmp/", "a-long-name-x", NULL) == -1 &&
              err.status == HUTCH_E_INVALID,
          "-1 and HUTCH_E_INVALID when not");
    CHECK_STR(err.message, "too long (18 bytes, the limit is 15): /tmp/a-long-name-x...",
              "the message says how long, the limit and the start, as fmt_checked does");
    CHECK(path[0] == '\0', "the buffer holds nothing cut");
}

static void test_append(void)
{
    char buf[12] = "";
    size_t used = 0;
    CHECK(fmt_append(buf, sizeof buf, &used, "%s", "alpha") && used == 5, "append alpha");
    CHECK(fmt_append(buf, sizeof buf, &used, ", %s", "beta") && used == 11,
          "append \", beta\": 11 of 12 bytes");
    CHECK_STR(buf, "alpha, beta", "both there");
    CHECK(!fmt_append(buf, sizeof buf, &used, ", %s", "gamma"), "\", gamma\" does not fit");
    CHECK(used == 11, "used stays where it was");
    CHECK_STR(buf, "alpha, beta", "and no part of gamma is left");
    CHECK(!fmt_append(buf, sizeof buf, &used, "%s", "x"), "nor does one more byte");
    size_t past = sizeof buf;
    CHECK(!fmt_append(buf, sizeof buf, &past, "%s", ""), "used at the end refuses");
}

static void test_trunc(void)
{
    char buf[8];
    CHECK(fmt_trunc(buf, sizeof buf, "%d", 12) == 2, "short text: its length");
    CHECK(fmt_trunc(buf, sizeof buf, "%s", "abcdefghij") == 7, "long text: cut to 7 bytes");
    CHECK_STR(buf, "abcdefg", "the start is kept");
    /* "abcde" then U+00E9 (2 bytes) then more: 7 bytes would split it. */
    CHECK(fmt_trunc(buf, sizeof buf, "%s", "abcdef\xc3\xa9xyz") == 6,
          "a cut never splits a UTF-8 character");
    CHECK_STR(buf, "abcdef", "the partial character is dropped");
    CHECK(fmt_trunc(buf, sizeof buf, "%s", "ab\xe2\x82\xac" "cdef") == 7,
          "a character that fits whole is kept");
    CHECK_STR(buf, "ab\xe2\x82\xac" "cd", "U+20AC kept");
    char small[4];
    CHECK(fmt_trunc(small, sizeof small, "%s", "\xf0\x9f\x98\x80") == 0,
          "a 4-byte character in 3 bytes: nothing");
    CHECK(fmt_trunc(NULL, 0, "x") == 0, "0 bytes: 0");
    /* Appending with the returned length stays inside the buffer. */
    char line[10];
    size_t used = 0;
    for (int i = 0; i < 10; i++)
        used += fmt_trunc(line + used, sizeof line - used, "%d;", i);
    CHECK(used == 9 && strlen(line) == 9, "used += fmt_trunc() stops at the end (%zu)", used);
    CHECK_STR(line, "0;1;2;3;4", "with what fit");
}

static void test_bounded(void)
{
    char id[16];
    CHECK(fmt_bounded(id, "p%u", 4294967295u) == 11, "fmt_bounded returns the length");
    CHECK_STR(id, "p4294967295", "of a number that fits by construction");
}

static void test_mark_cut(void)
{
    char buf[10] = "abcdefghi";
    fmt_mark_cut(buf, sizeof buf, "...");
    CHECK_STR(buf, "abcdef...", "a full buffer ends with the mark");
    char shorter[10] = "abc";
    fmt_mark_cut(shorter, sizeof shorter, "...");
    CHECK_STR(shorter, "abc...", "a short text gets the mark after it");
    char utf[10] = "abcde\xc3\xa9gh";
    fmt_mark_cut(utf, sizeof utf, "...");
    CHECK_STR(utf, "abcde...", "the mark does not split a character");
}

static void test_checked(void)
{
    hutch_error err = {0};
    char path[16];
    CHECK(fmt_checked(&err, path, sizeof path, "/tmp/%s", "a") == 0 && err.status == HUTCH_OK,
          "a path that fits: 0, err untouched");
    CHECK_STR(path, "/tmp/a", "the path");
    CHECK(fmt_checked(&err, path, sizeof path, "/tmp/%s", "a-long-name-x") == -1,
          "a path that does not fit: -1");
    CHECK(err.status == HUTCH_E_INVALID, "HUTCH_E_INVALID");
    CHECK_STR(err.message, "too long (18 bytes, the limit is 15): /tmp/a-long-nam...",
              "the message says how long, the limit and the start");
    CHECK(path[0] == '\0', "the buffer holds nothing cut");
    error_prefix(&err, "the workspace");
    CHECK_STR(err.message,
              "the workspace: too long (18 bytes, the limit is 15): /tmp/a-long-nam...",
              "callers say what it was");
    CHECK(fmt_checked(NULL, path, sizeof path, "%s", repeat('x', 40)) == -1,
          "without an err: still -1");
}

static void test_error_set(void)
{
    hutch_error err;
    CHECK(error_set(&err, HUTCH_E_INVALID, "a %s\nb\rc", "line") == -1, "error_set returns -1");
    CHECK_STR(err.message, "a line b c", "newlines become spaces");
    CHECK(err.status == HUTCH_E_INVALID && err.sys_errno == 0, "status set, no errno");
    CHECK(error_set(NULL, HUTCH_E_INVALID, "x") == -1, "a NULL err is fine");

    error_set(&err, HUTCH_E_INVALID, "%s", repeat('m', 2000));
    size_t len = strlen(err.message);
    CHECK(len == sizeof err.message - 1, "a long message fills the buffer (%zu)", len);
    CHECK(strcmp(err.message + len - 3, "...") == 0, "and ends with \"...\": the cut shows");
    CHECK(err.message[len - 4] == 'm', "after as much of the text as fits");

    /* Cut inside a character: the mark goes before the whole character. */
    char text[1100];
    memset(text, 'a', sizeof text);
    memcpy(text + 1018, "\xe2\x82\xac", 3);
    text[sizeof text - 1] = '\0';
    error_set(&err, HUTCH_E_INVALID, "%s", text);
    len = strlen(err.message);
    CHECK(strcmp(err.message + len - 3, "...") == 0 &&
              (unsigned char)err.message[len - 4] == 'a',
          "the mark never follows part of a UTF-8 character");

    error_set(&err, HUTCH_E_INVALID, "%s", repeat('n', sizeof err.message - 1));
    CHECK(strcmp(err.message, repeat('n', sizeof err.message - 1)) == 0,
          "a message that just fits is whole, without a mark");
}

static void test_error_sys(void)
{
    hutch_error err;
    CHECK(error_sys(&err, ENOENT, "cannot open %s", "/x") == -1, "error_sys returns -1");
    CHECK_STR(err.message, "cannot open /x: No such file or directory", "\": strerror\" appended");
    CHECK(err.status == HUTCH_E_SYSTEM && err.sys_errno == ENOENT, "HUTCH_E_SYSTEM and errno");

    error_sys(&err, EACCES, "cannot open %s", repeat('p', 3000));
    const char *tail = "...: Permission denied";
    size_t len = strlen(err.message), tl = strlen(tail);
    CHECK(len < sizeof err.message && len > tl && strcmp(err.message + len - tl, tail) == 0,
          "a long message is cut before the system's reason, which stays whole");
    CHECK(strncmp(err.message, "cannot open ppp", 15) == 0, "and its start is kept");
}

static void test_error_prefix(void)
{
    hutch_error err;
    error_set(&err, HUTCH_E_INVALID, "bad value");
    error_prefix(&err, "key %s", "limits.memory");
    CHECK_STR(err.message, "key limits.memory: bad value", "the context goes in front");
    error_prefix(&err, "config");
    CHECK_STR(err.message, "config: key limits.memory: bad value", "again");
    error_prefix(NULL, "x");
    CHECK(1, "a NULL err is fine");

    /* A long message: its end goes, marked. */
    error_set(&err, HUTCH_E_INVALID, "%s", repeat('q', sizeof err.message - 1));
    error_prefix(&err, "ctx");
    size_t len = strlen(err.message);
    CHECK(len == sizeof err.message - 1 && strncmp(err.message, "ctx: qqq", 8) == 0 &&
              strcmp(err.message + len - 3, "...") == 0,
          "prefixing a full message keeps the prefix and marks the cut end");
    CHECK(err.status == HUTCH_E_INVALID, "the status stays");

    /* A long context: cut at half the room (marked), some of the message stays. */
    error_set(&err, HUTCH_E_SYSTEM, "the reason");
    error_prefix(&err, "%s", repeat('c', 3000));
    CHECK(strstr(err.message, "...: the reason") != NULL,
          "a context longer than half the room is cut; the message is kept");
    CHECK(strlen(err.message) < sizeof err.message, "and all of it stays in the buffer");
    error_set(&err, HUTCH_E_SYSTEM, "x");
    error_prefix(&err, "line\none");
    CHECK_STR(err.message, "line one: x", "a context is one line too");
}

static void test_bytebuf(void)
{
    struct bytebuf b = {0};
    CHECK(bytebuf_append(&b, "", 0) && b.len == 0 && b.data && b.data[0] == '\0',
          "appending nothing to an empty buffer leaves an empty string");
    CHECK(bytebuf_append(&b, "ab\0cd", 5) && b.len == 5 && memcmp(b.data, "ab\0cd", 6) == 0,
          "bytes are kept as they are, a NUL included, and terminated");
    size_t total = 5;
    bool ok = true;
    for (int i = 0; i < 1000; i++) {
        ok = ok && bytebuf_append(&b, repeat('x', 100), 100);
        total += 100;
    }
    CHECK(ok && b.len == total && b.cap > b.len && b.data[b.len] == '\0',
          "it grows past many doublings, still terminated");
    CHECK(b.data[5] == 'x' && b.data[b.len - 1] == 'x' && memcmp(b.data, "ab", 2) == 0,
          "and what came first is still there");
    char *before = b.data;
    size_t len = b.len, cap = b.cap;
    CHECK(!bytebuf_append(&b, "x", SIZE_MAX - len), "a size that would overflow is refused");
    CHECK(b.data == before && b.len == len && b.cap == cap, "and the buffer is as it was");
    bytebuf_clear(&b);
    CHECK(!b.data && b.len == 0 && b.cap == 0, "clear frees it and makes it empty");
    bytebuf_clear(&b);
    CHECK(!b.data, "clearing an empty buffer is harmless");
}

/* read_file_bounded: whole files of any size up to the bound, and /proc
 * files (which say they are empty). */
static void test_read_file(void)
{
    char dir[] = "/tmp/hutch-test-read-XXXXXX";
    if (!mkdtemp(dir))
        return;
    static const size_t sizes[] = {0, 1, 511, 4095, 4096, 4097, 70000, 100000};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char path[64];
        snprintf(path, sizeof path, "%s/f", dir);
        FILE *f = fopen(path, "w");
        for (size_t k = 0; f && k < sizes[i]; k++)
            fputc('a' + (int)(k % 26), f);
        if (f)
            fclose(f);
        char *text = NULL;
        size_t len = 0;
        int r = read_file_bounded(path, 100000, &text, &len);
        bool same = r == 0 && len == sizes[i] && strlen(text) == len;
        for (size_t k = 0; same && k < len; k++)
            same = text[k] == 'a' + (int)(k % 26);
        CHECK(same, "a file of %zu bytes is read whole", sizes[i]);
        free(text);
        text = NULL;
        if (sizes[i])
            CHECK(read_file_bounded(path, sizes[i] - 1, &text, &len) == -1 && errno == EFBIG &&
                      !text,
                  "%zu bytes against a bound one smaller: EFBIG", sizes[i]);
        unlink(path);
    }
    char *status = NULL;
    size_t len = 0;
    CHECK(read_file_bounded("/proc/self/status", 1 << 20, &status, &len) == 0 && len > 100 &&
              strstr(status, "VmRSS") != NULL,
          "a /proc file (size 0) is read whole: %zu bytes", len);
    free(status);
    rmdir(dir);
}

int main(void)
{
    test_fits();
    test_join();
    test_append();
    test_trunc();
    test_bounded();
    test_mark_cut();
    test_checked();
    test_error_set();
    test_error_sys();
    test_error_prefix();
    test_bytebuf();
    test_read_file();
    return tap_done();
}
