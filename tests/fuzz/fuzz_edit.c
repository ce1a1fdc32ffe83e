/* libFuzzer target: the edit tool's matcher and diff (src/tools/edit.c),
 * which run on whatever a model sends and whatever a file holds. The input
 * is NUL-separated: text, then pairs of oldText and newText. Checked:
 * nothing crashes or leaks; a successful edit changes the text; and every
 * diff, applied back to its old text, gives exactly its new text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/tools.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PARTS 9

/* The line of text starting at *at (with its newline, if any). */
static size_t next_line(const char *text, size_t len, size_t at)
{
    const char *nl = memchr(text + at, '\n', len - at);
    return nl ? (size_t)(nl - text) + 1 : len;
}

/* Applies a unified diff made by unified_diff() to a; the result (malloc'ed)
 * or NULL when the diff does not fit a. */
static char *patch(const char *a, size_t a_len, const char *diff, size_t *out_len)
{
    size_t dlen = strlen(diff);
    char *out = malloc(a_len + dlen + 1);
    if (!out)
        abort();
    size_t o = 0, ia = 0, line_no = 0; /* ia: offset in a; line_no: lines of a consumed */
    size_t d = 0;
    /* The two header lines. */
    for (int i = 0; i < 2 && d < dlen; i++)
        d = next_line(diff, dlen, d);
    while (d < dlen) {
        size_t end = next_line(diff, dlen, d);
        const char *l = diff + d;
        size_t n = end - d;
        if (n > 3 && memcmp(l, "@@ -", 4) == 0) {
            unsigned long start = strtoul(l + 4, NULL, 10);
            /* Copy a up to the hunk: "-S,0" names the line before. */
            const char *comma = memchr(l, ',', n);
            const char *space = memchr(l + 4, ' ', n - 4);
            unsigned long count = comma && comma < space ? strtoul(comma + 1, NULL, 10) : 1;
            unsigned long first = count ? start - 1 : start;
            while (line_no < first) {
                if (ia >= a_len)
                    goto bad;
                size_t e = next_line(a, a_len, ia);
                memcpy(out + o, a + ia, e - ia);
                o += e - ia;
                ia = e;
                line_no++;
            }
        } else if (n > 0 && (l[0] == ' ' || l[0] == '-')) {
            /* Must be the next line of a (the "\ No newline" mark follows
             * when a's line has no newline). */
            size_t e = ia < a_len ? next_line(a, a_len, ia) : ia;
            size_t body = n - 1;
            bool marked = end < dlen && diff[end] == '\\';
            size_t want = marked ? body - 1 : body;
            if (ia >= a_len || e - ia != want || memcmp(a + ia, l + 1, want) != 0)
                goto bad;
            if (l[0] == ' ') {
                memcpy(out + o, a + ia, want);
                o += want;
            }
            ia = e;
            line_no++;
        } else if (n > 0 && l[0] == '+') {
            bool marked = end < dlen && diff[end] == '\\';
            size_t want = marked ? n - 2 : n - 1;
            memcpy(out + o, l + 1, want);
            o += want;
        } else if (n > 0 && l[0] == '\\') {
            /* handled with the line before */
        } else {
            goto bad;
        }
        d = end;
    }
    memcpy(out + o, a + ia, a_len - ia);
    o += a_len - ia;
    *out_len = o;
    return out;
bad:
    free(out);
    return NULL;
}

static void check_diff(const char *a, size_t a_len, const char *b, size_t b_len)
{
    char *d = unified_diff("f", a, a_len, b, b_len);
    if (!d)
        abort(); /* only out of memory may fail */
    if ((a_len == b_len && memcmp(a, b, a_len) == 0) != (d[0] == '\0'))
        abort(); /* empty exactly when equal */
    size_t got_len;
    char *got = patch(a, a_len, d, &got_len);
    if (!got || got_len != b_len || memcmp(got, b, b_len) != 0)
        abort();
    free(got);
    free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    const char *parts[MAX_PARTS];
    size_t lens[MAX_PARTS];
    size_t nparts = 0, start = 0;
    for (size_t i = 0; i <= size && nparts < MAX_PARTS; i++) {
        if (i == size || data[i] == '\0') {
            parts[nparts] = (const char *)data + start;
            lens[nparts] = i - start;
            nparts++;
            start = i + 1;
        }
    }
    const char *text = parts[0];
    size_t text_len = lens[0];
    size_t npairs = (nparts - 1) / 2;
    struct edit_pair pairs[MAX_PARTS / 2];
    for (size_t i = 0; i < npairs; i++)
        pairs[i] = (struct edit_pair){parts[1 + 2 * i], lens[1 + 2 * i], parts[2 + 2 * i],
                                      lens[2 + 2 * i]};
    hutch_error err = {0};
    char *out = NULL;
    size_t out_len = 0;
    if (edit_apply(text, text_len, pairs, npairs, &out, &out_len, &err) == 0) {
        if (!out || (out_len == text_len && memcmp(out, text, text_len) == 0))
            abort(); /* success means a change */
        check_diff(text, text_len, out, out_len);
        free(out);
    } else if (out || !err.message[0]) {
        abort(); /* a failure leaves nothing, and says why */
    }
    /* The diff on its own, between any two parts. */
    if (nparts >= 2)
        check_diff(parts[0], lens[0], parts[1], lens[1]);
    return 0;
}
