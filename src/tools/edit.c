/* edit {path, oldText, newText | edits, dryRun}: exact, exactly-once text
 * replacement, and the unified diff that shows it. edit_apply() and
 * unified_diff() are pure (and fuzzed); tool_edit() does the I/O. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "tools/internal.h"

#define BOM "\xEF\xBB\xBF"
/* Context lines around each change of a diff. */
#define DIFF_CONTEXT 3
/* Bounds of the diff search: past them, the changed middle is shown as one
 * block removed and added (still a correct diff, just not the smallest). */
#define DIFF_MAX_D 1000
#define DIFF_MAX_WORK (20u * 1000 * 1000)

/* ---- a growable string --------------------------------------------------------------- */

/* Stops at the first failure to grow, which sb_finish reports. */
struct sbuf {
    struct bytebuf text;
    bool failed;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (!b->failed && !bytebuf_append(&b->text, s, n))
        b->failed = true;
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static PRINTF_LIKE(2, 3) void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    size_t n = vfmt_trunc(tmp, sizeof tmp, fmt, ap); /* one line of a summary: cut on purpose */
    va_end(ap);
    sb_add(b, tmp, n);
}

/* The text, or NULL (freed) when something failed; "" for nothing added. */
static char *sb_finish(struct sbuf *b)
{
    if (b->failed) {
        free(b->text.data);
        return NULL;
    }
    if (!b->text.data)
        return strdup("");
    return b->text.data;
}

/* ---- edit_apply ------------------------------------------------------------------------ */

/* s with every LF that has no CR before it turned into CRLF. */
static char *to_crlf(const char *s, size_t len, size_t *out_len)
{
    size_t extra = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
            extra++;
    char *out = malloc(len + extra + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
            out[o++] = '\r';
        out[o++] = s[i];
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

/* Occurrences of needle in hay, overlapping ones included (each is a place
 * the edit could mean); *first is the first. */
static size_t count_matches(const char *hay, size_t hlen, const char *needle, size_t nlen,
                            size_t *first)
{
    size_t count = 0;
    const char *p = hay, *end = hay + hlen;
    while ((size_t)(end - p) >= nlen) {
        const char *m = memmem(p, (size_t)(end - p), needle, nlen);
        if (!m)
            break;
        if (count++ == 0)
            *first = (size_t)(m - hay);
        p = m + 1;
    }
    return count;
}

struct located {
    size_t at, old_len, index;
    const char *new_text;
    size_t new_len;
};

static int by_position(const void *a, const void *b)
{
    const struct located *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at ? 1 : 0;
}

/* "oldText" or "oldText #3", as the caller numbered them. */
static void which(char *buf, size_t size, size_t i, size_t n)
{
    /* For messages: cut, were buf too small. */
    if (n == 1)
        fmt_trunc(buf, size, "oldText");
    else
        fmt_trunc(buf, size, "oldText #%zu", i + 1);
}

/* edit_apply's work, with its scratch arrays (freed by the caller). */
static int apply(const char *text, size_t len, const struct edit_pair *pairs, size_t n,
                 struct located *loc, char **owned, char **out, size_t *out_len,
                 hutch_error *err)
{
    size_t bom = len >= 3 && memcmp(text, BOM, 3) == 0 ? 3 : 0;
    const char *body = text + bom;
    size_t blen = len - bom;
    /* A file's first line ending says which it uses. */
    const char *first_nl = memchr(body, '\n', blen);
    bool crlf = first_nl && first_nl > body && first_nl[-1] == '\r';

    for (size_t i = 0; i < n; i++) {
        char name[32];
        which(name, sizeof name, i, n);
        const char *old = pairs[i].old_text ? pairs[i].old_text : "";
        size_t old_len = pairs[i].old_text ? pairs[i].old_len : 0;
        const char *new = pairs[i].new_text ? pairs[i].new_text : "";
        size_t new_len = pairs[i].new_text ? pairs[i].new_len : 0;
        /* A BOM belongs to the file, not to the text being matched. */
        if (bom && old_len >= 3 && memcmp(old, BOM, 3) == 0) {
            old += 3;
            old_len -= 3;
        }
        if (bom && new_len >= 3 && memcmp(new, BOM, 3) == 0) {
            new += 3;
            new_len -= 3;
        }
        if (old_len == 0)
            return error_set(err, HUTCH_E_INVALID,
                             "%s is empty: give the exact text to replace (to write a whole "
                             "file, use write)", name);
        if (crlf) {
            owned[2 * i] = to_crlf(old, old_len, &old_len);
            owned[2 * i + 1] = to_crlf(new, new_len, &new_len);
            if (!owned[2 * i] || !owned[2 * i + 1])
                return error_set(err, HUTCH_E_SYSTEM, "out of memory");
            old = owned[2 * i];
            new = owned[2 * i + 1];
        }
        size_t at = 0;
        size_t count = count_matches(body, blen, old, old_len, &at);
        if (count == 0)
            return error_set(err, HUTCH_E_INVALID,
                             "%s not found: it must match the file exactly, including whitespace, "
                             "indentation and line breaks; read the file again and copy the text",
                             name);
        if (count > 1)
            return error_set(err, HUTCH_E_INVALID,
                             "%s found %zu times: add surrounding lines to make it unique", name,
                             count);
        loc[i] = (struct located){
            .at = at, .old_len = old_len, .index = i, .new_text = new, .new_len = new_len};
    }
    qsort(loc, n, sizeof *loc, by_position);
    for (size_t i = 1; i < n; i++) {
        if (loc[i].at < loc[i - 1].at + loc[i - 1].old_len) {
            size_t a = loc[i - 1].index, b = loc[i].index;
            return error_set(err, HUTCH_E_INVALID,
                             "oldText #%zu and #%zu overlap: merge them into one edit",
                             (a < b ? a : b) + 1, (a < b ? b : a) + 1);
        }
    }

    size_t total = bom, prev = 0;
    for (size_t i = 0; i < n; i++) {
        total += loc[i].at - prev + loc[i].new_len;
        prev = loc[i].at + loc[i].old_len;
    }
    total += blen - prev;
    char *o = malloc(total + 1);
    if (!o)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    memcpy(o, text, bom);
    size_t w = bom;
    prev = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(o + w, body + prev, loc[i].at - prev);
        w += loc[i].at - prev;
        memcpy(o + w, loc[i].new_text, loc[i].new_len);
        w += loc[i].new_len;
        prev = loc[i].at + loc[i].old_len;
    }
    memcpy(o + w, body + prev, blen - prev);
    w += blen - prev;
    o[w] = '\0';
    if (w == len && memcmp(o, text, len) == 0) {
        free(o);
        return error_set(err, HUTCH_E_INVALID,
                         "the edit changes nothing: newText is the same as oldText");
    }
    *out = o;
    *out_len = w;
    return 0;
}

int edit_apply(const char *text, size_t len, const struct edit_pair *pairs, size_t n, char **out,
               size_t *out_len, hutch_error *err)
{
    *out = NULL;
    *out_len = 0;
    if (n == 0 || !pairs)
        return error_set(err, HUTCH_E_INVALID, "no edits were given: pass oldText and newText");
    if (!text) {
        text = "";
        len = 0;
    }
    struct located *loc = calloc(n, sizeof *loc);
    char **owned = calloc(n, 2 * sizeof *owned);
    int r = loc && owned ? apply(text, len, pairs, n, loc, owned, out, out_len, err)
                         : error_set(err, HUTCH_E_SYSTEM, "out of memory");
    if (owned)
        for (size_t i = 0; i < 2 * n; i++)
            free(owned[i]);
    free(owned);
    free(loc);
    return r;
}

/* ---- unified_diff ------------------------------------------------------------------------ */

struct line {
    size_t at, len; /* len includes the newline, when there is one */
    uint32_t hash;
};

struct lines {
    const char *text;
    struct line *v;
    size_t n;
};

static int split_lines(const char *text, size_t len, struct lines *l)
{
    l->text = text;
    l->n = 0;
    size_t count = 0;
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        count++;
        p = nl ? nl + 1 : end;
    }
    l->v = malloc((count ? count : 1) * sizeof *l->v);
    if (!l->v)
        return -1;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) + 1 : len - at;
        uint32_t h = 2166136261u; /* FNV-1a */
        for (size_t i = 0; i < n; i++)
            h = (h ^ (unsigned char)text[at + i]) * 16777619u;
        l->v[l->n++] = (struct line){.at = at, .len = n, .hash = h};
        at += n;
    }
    return 0;
}

static bool same_line(const struct lines *a, size_t i, const struct lines *b, size_t j)
{
    const struct line *x = &a->v[i], *y = &b->v[j];
    return x->hash == y->hash && x->len == y->len &&
           memcmp(a->text + x->at, b->text + y->at, x->len) == 0;
}

enum op { OP_EQ, OP_DEL, OP_INS };

/* The edit script, one entry per line of a (EQ, DEL) or of b (INS). */
struct script {
    unsigned char *ops;
    size_t n, cap;
};

static int push_op(struct script *s, enum op op)
{
    if (!array_reserve(&s->ops, &s->cap, s->n, sizeof *s->ops, 256))
        return -1;
    s->ops[s->n++] = (unsigned char)op;
    return 0;
}

/* Myers' O(ND) greedy search over a[a0..a1) and b[b0..b1), with the trace
 * kept for the way back. Pushes the middle's script in REVERSE order.
 * 1 done, 0 over the bounds (nothing pushed), -1 out of memory. */
static int myers(const struct lines *a, size_t a0, size_t a1, const struct lines *b, size_t b0,
                 size_t b1, struct script *rev)
{
    long N = (long)(a1 - a0), M = (long)(b1 - b0);
    long max_d = N + M < DIFF_MAX_D ? N + M : DIFF_MAX_D;
    /* trace[d] holds V[-d..d] after round d, at offset d*d; it grows with d,
     * so that a small change to a big file costs little. */
    long *trace = NULL;
    size_t cap = 0;
    size_t work = 0;
    long D = -1;
    for (long d = 0; d <= max_d && D < 0 && work <= DIFF_MAX_WORK; d++) {
        size_t need = (size_t)(d + 1) * (size_t)(d + 1);
        if (need > cap) {
            size_t ncap = cap * 2 > need ? cap * 2 : need;
            long *t = realloc(trace, ncap * sizeof *t);
            if (!t) {
                free(trace);
                return -1;
            }
            trace = t;
            cap = ncap;
        }
        long *v = trace + d * d; /* v[k + d], k in -d..d */
        long *pv = trace + (d > 0 ? (d - 1) * (d - 1) : 0); /* pv[k + d - 1] */
        for (long k = -d; k <= d; k += 2) {
            long x;
            if (d == 0)
                x = 0;
            else if (k == -d || (k != d && pv[k - 1 + d - 1] < pv[k + 1 + d - 1]))
                x = pv[k + 1 + d - 1]; /* down: an insertion */
            else
                x = pv[k - 1 + d - 1] + 1; /* right: a deletion */
            long y = x - k;
            while (x < N && y < M && same_line(a, a0 + (size_t)x, b, b0 + (size_t)y)) {
                x++;
                y++;
                work++;
            }
            v[k + d] = x;
            work++;
            if (x >= N && y >= M) {
                D = d;
                break;
            }
        }
        /* Slots of k of the other parity are never read. */
    }
    if (D < 0) {
        free(trace);
        return 0;
    }
    long x = N, y = M;
    for (long d = D; d > 0; d--) {
        long *pv = trace + (d - 1) * (d - 1);
        long k = x - y;
        long pk = (k == -d || (k != d && pv[k - 1 + d - 1] < pv[k + 1 + d - 1])) ? k + 1 : k - 1;
        long px = pv[pk + d - 1], py = px - pk;
        while (x > px && y > py) {
            if (push_op(rev, OP_EQ) < 0)
                goto oom;
            x--;
            y--;
        }
        if (push_op(rev, x == px ? OP_INS : OP_DEL) < 0)
            goto oom;
        x = px;
        y = py;
    }
    while (x > 0 && y > 0) {
        if (push_op(rev, OP_EQ) < 0)
            goto oom;
        x--;
        y--;
    }
    free(trace);
    return 1;
oom:
    free(trace);
    return -1;
}

/* The whole script: common head, the middle, common tail. */
static int diff_script(const struct lines *a, const struct lines *b, struct script *s)
{
    size_t head = 0;
    while (head < a->n && head < b->n && same_line(a, head, b, head))
        head++;
    size_t tail = 0;
    while (tail < a->n - head && tail < b->n - head &&
           same_line(a, a->n - 1 - tail, b, b->n - 1 - tail))
        tail++;
    for (size_t i = 0; i < head; i++)
        if (push_op(s, OP_EQ) < 0)
            return -1;
    struct script rev = {0};
    int r = myers(a, head, a->n - tail, b, head, b->n - tail, &rev);
    if (r < 0) {
        free(rev.ops);
        return -1;
    }
    if (r == 1) {
        for (size_t i = rev.n; i > 0; i--)
            if (push_op(s, (enum op)rev.ops[i - 1]) < 0) {
                free(rev.ops);
                return -1;
            }
    } else {
        for (size_t i = head; i < a->n - tail; i++)
            if (push_op(s, OP_DEL) < 0)
                return -1;
        for (size_t i = head; i < b->n - tail; i++)
            if (push_op(s, OP_INS) < 0)
                return -1;
    }
    free(rev.ops);
    for (size_t i = 0; i < tail; i++)
        if (push_op(s, OP_EQ) < 0)
            return -1;
    return 0;
}

static void emit_line(struct sbuf *out, char mark, const struct lines *l, size_t i)
{
    const struct line *ln = &l->v[i];
    sb_add(out, &mark, 1);
    sb_add(out, l->text + ln->at, ln->len);
    if (ln->len == 0 || l->text[ln->at + ln->len - 1] != '\n')
        sb_str(out, "\n\\ No newline at end of file\n");
}

/* "-3,2": GNU diff's way, where a count of 1 is left out and an empty
 * range names the line before it. */
static void range(struct sbuf *out, char sign, size_t start, size_t count)
{
    if (count == 1)
        sb_printf(out, "%c%zu", sign, start + 1);
    else
        sb_printf(out, "%c%zu,%zu", sign, count ? start + 1 : start, count);
}

/* The hunks of script s over a and b. */
static void write_hunks(const struct lines *la, const struct lines *lb, const struct script *s,
                        struct sbuf *out)
{
    /* A hunk is changes no more than 2*DIFF_CONTEXT equal lines apart,
     * with DIFF_CONTEXT lines around. */
    size_t i = 0, ia = 0, ib = 0;
    while (i < s->n) {
        if (s->ops[i] == OP_EQ) {
            i++;
            ia++;
            ib++;
            continue;
        }
        /* A change starts at i: find where its hunk ends. */
        size_t end = i, ea = ia, eb = ib; /* just after the hunk's last change */
        size_t j = i, ja = ia, jb = ib;
        while (j < s->n) {
            if (s->ops[j] != OP_EQ) {
                if (s->ops[j] == OP_DEL)
                    ja++;
                else
                    jb++;
                j++;
                end = j;
                ea = ja;
                eb = jb;
                continue;
            }
            size_t run = 0;
            while (j + run < s->n && s->ops[j + run] == OP_EQ)
                run++;
            if (j + run == s->n || run > 2 * DIFF_CONTEXT)
                break;
            j += run;
            ja += run;
            jb += run;
        }
        size_t before = ia < DIFF_CONTEXT ? ia : DIFF_CONTEXT;
        before = ib < before ? ib : before;
        size_t after = la->n - ea < DIFF_CONTEXT ? la->n - ea : DIFF_CONTEXT;
        after = lb->n - eb < after ? lb->n - eb : after;
        size_t ha = ia - before, hb = ib - before;
        sb_str(out, "@@ ");
        range(out, '-', ha, ea + after - ha);
        sb_str(out, " ");
        range(out, '+', hb, eb + after - hb);
        sb_str(out, " @@\n");
        for (size_t k = 0; k < before; k++)
            emit_line(out, ' ', la, ha + k);
        /* Each run of changes: its removals, then its additions. */
        while (i < end) {
            if (s->ops[i] == OP_EQ) {
                emit_line(out, ' ', la, ia);
                i++;
                ia++;
                ib++;
                continue;
            }
            size_t da = ia, db = ib;
            while (i < end && s->ops[i] != OP_EQ) {
                if (s->ops[i] == OP_DEL)
                    ia++;
                else
                    ib++;
                i++;
            }
            for (size_t x = da; x < ia; x++)
                emit_line(out, '-', la, x);
            for (size_t x = db; x < ib; x++)
                emit_line(out, '+', lb, x);
        }
        for (size_t k = 0; k < after; k++)
            emit_line(out, ' ', la, ea + k);
    }
}

char *unified_diff(const char *path, const char *a, size_t a_len, const char *b, size_t b_len)
{
    if (!a) {
        a = "";
        a_len = 0;
    }
    if (!b) {
        b = "";
        b_len = 0;
    }
    if (a_len == b_len && memcmp(a, b, a_len) == 0)
        return strdup("");
    struct lines la = {0}, lb = {0};
    struct script s = {0};
    struct sbuf out = {0};
    if (split_lines(a, a_len, &la) < 0 || split_lines(b, b_len, &lb) < 0 ||
        diff_script(&la, &lb, &s) < 0) {
        out.failed = true;
    } else {
        sb_printf(&out, "--- %s\n+++ %s\n", path ? path : "a", path ? path : "b");
        write_hunks(&la, &lb, &s, &out);
    }
    free(la.v);
    free(lb.v);
    free(s.ops);
    return sb_finish(&out);
}

/* ---- the tool ------------------------------------------------------------------------------ */

/* Collects the pairs of args: oldText/newText, then edits[]. */
static int collect_pairs(const json_t *args, struct edit_pair **pairs, size_t *n, hutch_error *err)
{
    *pairs = NULL;
    *n = 0;
    const char *old = NULL, *new = NULL;
    size_t old_len = 0, new_len = 0;
    if (arg_bytes(args, "oldText", &old, &old_len, err) < 0 ||
        arg_bytes(args, "newText", &new, &new_len, err) < 0)
        return -1;
    json_t *edits = json_object_get(args, "edits");
    if (edits && !json_is_null(edits) && !json_is_array(edits)) {
        error_set(err, HUTCH_E_INVALID, "edits must be an array of {oldText, newText}");
        return -1;
    }
    if ((old == NULL) != (new == NULL)) {
        error_set(err, HUTCH_E_INVALID, "%s is missing: give oldText and newText together",
                  old ? "newText" : "oldText");
        return -1;
    }
    size_t count = (old ? 1 : 0) + (json_is_array(edits) ? json_array_size(edits) : 0);
    if (count == 0) {
        error_set(err, HUTCH_E_INVALID,
                  "edit needs oldText and newText, or edits: [{\"oldText\": ..., "
                  "\"newText\": ...}]");
        return -1;
    }
    struct edit_pair *p = calloc(count, sizeof *p);
    if (!p) {
        error_set(err, HUTCH_E_SYSTEM, "out of memory");
        return -1;
    }
    size_t k = 0;
    if (old)
        p[k++] = (struct edit_pair){old, old_len, new, new_len};
    size_t i;
    json_t *e;
    json_array_foreach(edits, i, e)
    {
        const char *eo = NULL, *en = NULL;
        size_t eol = 0, enl = 0;
        if (!json_is_object(e) || arg_bytes(e, "oldText", &eo, &eol, err) < 0 ||
            arg_bytes(e, "newText", &en, &enl, err) < 0 || !eo || !en) {
            error_set(err, HUTCH_E_INVALID,
                      "edits[%zu] must be an object with oldText and newText strings", i);
            free(p);
            return -1;
        }
        p[k++] = (struct edit_pair){eo, eol, en, enl};
    }
    *pairs = p;
    *n = k;
    return 0;
}

/* Reads the whole (regular, bounded) file dirfd/name, never through a
 * symlink or into a FIFO. */
static int load(int dirfd, const char *name, const char *shown, struct stat *st, char **text,
                hutch_error *err)
{
    if (fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            error_set(err, HUTCH_E_INVALID, "%s does not exist: use write to create a file", shown);
        else
            error_sys(err, errno, "cannot edit %s", shown);
        return -1;
    }
    if (S_ISLNK(st->st_mode)) {
        char target[512];
        ssize_t n = readlinkat(dirfd, name, target, sizeof target - 1);
        target[n < 0 ? 0 : n] = '\0';
        error_set(err, HUTCH_E_INVALID,
                  "%s is a symlink (to %s): edit the file it points to instead", shown, target);
        return -1;
    }
    if (S_ISDIR(st->st_mode)) {
        error_set(err, HUTCH_E_INVALID, "%s is a directory: edit changes files", shown);
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        error_set(err, HUTCH_E_INVALID, "%s is not a regular file: edit changes regular files only",
                  shown);
        return -1;
    }
    if (st->st_size > TOOL_EDIT_MAX_BYTES) {
        char size[32];
        tool_size_text((uint64_t)st->st_size, size, sizeof size);
        error_set(err, HUTCH_E_INVALID,
                  "%s is %s: edit handles files up to %d MiB; use write, or bash (sed, a script)",
                  shown, size, TOOL_EDIT_MAX_BYTES / (1024 * 1024));
        return -1;
    }
    autoclose int fd = TEMP_FAILURE_RETRY(
        openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    struct stat again;
    if (fd < 0 || fstat(fd, &again) < 0) {
        error_sys(err, errno, "cannot read %s", shown);
        return -1;
    }
    if (again.st_dev != st->st_dev || again.st_ino != st->st_ino || !S_ISREG(again.st_mode)) {
        error_set(err, HUTCH_E_INVALID, "%s changed while it was opened: try again", shown);
        return -1;
    }
    *st = again;
    size_t len = (size_t)st->st_size;
    if (st->st_size > TOOL_EDIT_MAX_BYTES) {
        error_set(err, HUTCH_E_INVALID, "%s grew over %d MiB while it was opened", shown,
                  TOOL_EDIT_MAX_BYTES / (1024 * 1024));
        return -1;
    }
    autofree char *buf = malloc(len + 1);
    if (!buf) {
        error_set(err, HUTCH_E_SYSTEM, "out of memory for %s", shown);
        return -1;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t n = TEMP_FAILURE_RETRY(read(fd, buf + got, len - got));
        if (n < 0) {
            error_sys(err, errno, "cannot read %s", shown);
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got != len) {
        error_set(err, HUTCH_E_INVALID, "%s changed while it was read: try again", shown);
        return -1;
    }
    buf[len] = '\0';
    if (memchr(buf, '\0', len)) {
        error_set(err, HUTCH_E_INVALID, "%s is a binary file: edit changes text files only", shown);
        return -1;
    }
    *text = steal_pointer(&buf);
    return 0;
}

/* The diff for a result: whole lines, at most TOOL_MAX_BYTES of them. */
static json_t *bounded_diff(const char *diff, bool *cut)
{
    size_t len = strlen(diff);
    *cut = false;
    if (len > TOOL_MAX_BYTES) {
        const char *nl = memrchr(diff, '\n', TOOL_MAX_BYTES);
        size_t keep = nl ? (size_t)(nl - diff) + 1 : TOOL_MAX_BYTES;
        char note[96];
        size_t nn = fmt_bounded(note, "[diff cut: %zu more bytes]\n", len - keep);
        autofree char *s = malloc(keep + nn + 1);
        if (!s)
            return NULL;
        memcpy(s, diff, keep);
        memcpy(s + keep, note, nn + 1);
        *cut = true;
        return tool_string(s, keep + nn);
    }
    return tool_string(diff, len);
}

/* The first line that differs, 1-based. */
static size_t first_changed_line(const char *a, size_t a_len, const char *b, size_t b_len)
{
    size_t i = 0, line = 1;
    while (i < a_len && i < b_len && a[i] == b[i]) {
        if (a[i] == '\n')
            line++;
        i++;
    }
    return line;
}

/* "+3 -1": lines added and removed, from the diff. */
static void count_changes(const char *diff, size_t *added, size_t *removed)
{
    *added = *removed = 0;
    for (const char *p = diff; *p;) {
        if (p[0] == '+' && strncmp(p, "+++ ", 4) != 0)
            (*added)++;
        else if (p[0] == '-' && strncmp(p, "--- ", 4) != 0)
            (*removed)++;
        const char *nl = strchr(p, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
}

json_t *tool_edit(const json_t *args, const struct tool_env *env)
{
    hutch_error err;
    const char *path = NULL;
    size_t path_len = 0;
    bool dry_run = false;
    if (arg_string(args, "path", &path, &path_len, &err) < 0 ||
        arg_bool(args, "dryRun", &dry_run, &err) < 0)
        return tool_fail("edit: %s", err.message);
    if (!path)
        return tool_fail("edit needs a path");
    autofree struct edit_pair *pairs = NULL;
    size_t n = 0;
    if (collect_pairs(args, &pairs, &n, &err) < 0)
        return tool_fail("edit: %s", err.message);

    struct tool_path p __attribute__((cleanup(path_release))) = {.rootfd = -1};
    if (path_resolve(&env->roots, path, path_len, dry_run ? PATH_READ : PATH_WRITE, &p, &err) < 0)
        return tool_fail_error(&err);
    const char *name;
    autoclose int dirfd = path_parent(&p, false, &name, &err);
    if (dirfd < 0)
        return tool_fail_error(&err);
    struct stat st;
    autofree char *text = NULL;
    if (load(dirfd, name, path, &st, &text, &err) < 0)
        return tool_fail_error(&err);
    size_t len = (size_t)st.st_size;

    autofree char *edited = NULL;
    size_t edited_len;
    if (edit_apply(text, len, pairs, n, &edited, &edited_len, &err) < 0)
        return tool_fail("%s: %s", path, err.message);
    autofree char *diff = unified_diff(path, text, len, edited, edited_len);
    if (!diff)
        return NULL;

    if (!dry_run) {
        struct replace_source src = {.data = edited, .len = edited_len, .fd = -1,
                                     .cancel_fd = env->cancel_fd};
        uint64_t written;
        bool created;
        if (replace_file(dirfd, name, path, &src, &st, &written, &created, &err) < 0)
            return tool_fail_error(&err);
    }

    size_t added, removed;
    count_changes(diff, &added, &removed);
    bool cut;
    json_t *diff_json = bounded_diff(diff, &cut);
    if (!diff_json)
        return NULL;
    struct sbuf text_out = {0};
    sb_printf(&text_out, "%s %s: %zu edit%s, +%zu -%zu lines", dry_run ? "Would edit" : "Edited",
              path, n, n == 1 ? "" : "s", added, removed);
    if (dry_run) {
        /* A dry run is for looking: the diff goes in the text too. */
        sb_str(&text_out, " (dry run: nothing written)\n\n");
        sb_add(&text_out, json_string_value(diff_json), json_string_length(diff_json));
    }
    autofree char *t = sb_finish(&text_out);
    if (!t) {
        json_decref(diff_json);
        return NULL;
    }
    json_t *r = tool_ok(t, strlen(t));
    if (!tool_set(r, "path", tool_string(path, path_len)) || !tool_set(r, "diff", diff_json) ||
        !tool_set(r, "dryRun", json_boolean(dry_run)) ||
        !tool_set(r, "edits", json_integer((json_int_t)n)) ||
        !tool_set(r, "first_changed_line",
                  json_integer((json_int_t)first_changed_line(text, len, edited, edited_len))))
        return NULL;
    if (cut && !tool_set(r, "diff_truncated", json_true()))
        return NULL;
    return r;
}
