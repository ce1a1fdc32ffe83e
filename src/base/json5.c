/* A recursive-descent JSON5 reader into jansson values (json5.h). Numbers are
 * rewritten into JSON number text and read by jansson, so that integer or
 * real, range errors and the locale are exactly as for JSON files. */
#include "base/json5.h"

#include <stdint.h>

#include "base/util.h"

struct reader {
    const unsigned char *s;
    size_t len, pos;
    int line, column; /* of s[pos] */
    int depth;
    char path[JSON5_PATH_MAX];
    size_t path_len;
    struct json5_options *opts;
    struct json5_error *err;
};

#define END (-1)     /* no more text */
#define INVALID (-2) /* bytes that are not UTF-8 */

/* The code point at pos and its length in bytes. */
static int32_t peek_at(const struct reader *r, size_t pos, size_t *n)
{
    *n = 0;
    if (pos >= r->len)
        return END;
    const unsigned char *p = r->s + pos;
    size_t left = r->len - pos;
    unsigned char c = p[0];
    int32_t cp;
    size_t need;
    if (c < 0x80) {
        *n = 1;
        return c;
    } else if (c >= 0xc2 && c <= 0xdf) {
        cp = c & 0x1f;
        need = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        cp = c & 0x0f;
        need = 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
        cp = c & 0x07;
        need = 4;
    } else {
        return INVALID;
    }
    if (left < need)
        return INVALID;
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return INVALID;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    /* Overlong forms, surrogates and code points past U+10FFFF. */
    if ((need == 3 && cp < 0x800) || (need == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return INVALID;
    *n = need;
    return cp;
}

static int32_t peek(const struct reader *r)
{
    size_t n;
    return peek_at(r, r->pos, &n);
}

static bool is_line_terminator(int32_t c)
{
    return c == '\n' || c == '\r' || c == 0x2028 || c == 0x2029;
}

static bool is_space(int32_t c)
{
    return c == '\t' || c == '\v' || c == '\f' || c == ' ' || c == 0xa0 || c == 0xfeff ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x202f || c == 0x205f ||
           c == 0x3000 || is_line_terminator(c);
}

static void advance(struct reader *r)
{
    size_t n;
    int32_t c = peek_at(r, r->pos, &n);
    if (c < 0)
        return;
    r->pos += n;
    /* CR LF is one line end: the LF counts it. */
    size_t next_n;
    if (is_line_terminator(c) && !(c == '\r' && peek_at(r, r->pos, &next_n) == '\n')) {
        r->line++;
        r->column = 1;
    } else {
        r->column++;
    }
}

static void describe(int32_t c, char *buf, size_t len)
{
    /* For a message: cut on purpose. */
    if (c == END)
        fmt_trunc(buf, len, "the end of the file");
    else if (c == INVALID)
        fmt_trunc(buf, len, "bytes that are not UTF-8");
    else if (c > 0x20 && c < 0x7f)
        fmt_trunc(buf, len, "'%c'", (char)c);
    else
        fmt_trunc(buf, len, "U+%04X", (unsigned)c);
}

static PRINTF_LIKE(4, 5) void *fail_at(struct reader *r, int line, int column, const char *fmt,
                                        ...)
{
    struct json5_error *e = r->err;
    e->at.line = line;
    e->at.column = column;
    fmt_trunc(e->at.path, sizeof e->at.path, "%s", r->path); /* for messages */
    va_list ap;
    va_start(ap, fmt);
    vfmt_trunc(e->text, sizeof e->text, fmt, ap); /* a message: cut on purpose */
    va_end(ap);
    return NULL;
}

#define fail(r, ...) fail_at((r), (r)->line, (r)->column, __VA_ARGS__)

static void *fail_found(struct reader *r, const char *expected)
{
    char found[32];
    int32_t c = peek(r);
    describe(c, found, sizeof found);
    if (c == INVALID)
        return fail(r, "the file is not UTF-8 here");
    return fail(r, "expected %s, found %s", expected, found);
}

/* ---- white space and comments -------------------------------------------- */

static int skip_space(struct reader *r)
{
    for (;;) {
        int32_t c = peek(r);
        if (is_space(c)) {
            advance(r);
            continue;
        }
        if (c != '/')
            return 0;
        size_t n;
        int32_t next = peek_at(r, r->pos + 1, &n);
        if (next == '/') {
            while ((c = peek(r)) >= 0 && !is_line_terminator(c))
                advance(r);
            if (c == INVALID)
                return fail(r, "the file is not UTF-8 here"), -1;
            continue;
        }
        if (next != '*') {
            fail(r, "a lone '/': comments start with // or /*");
            return -1;
        }
        int line = r->line, column = r->column;
        advance(r);
        advance(r);
        for (;;) {
            c = peek(r);
            if (c == END) {
                fail_at(r, line, column, "this /* comment is never closed with */");
                return -1;
            }
            if (c == INVALID) {
                fail(r, "the file is not UTF-8 here");
                return -1;
            }
            advance(r);
            if (c == '*' && peek(r) == '/') {
                advance(r);
                break;
            }
        }
    }
}

/* ---- the key path, for messages ------------------------------------------ */

static size_t path_push(struct reader *r, const char *fmt, ...) PRINTF_LIKE(2, 3);
static size_t path_push(struct reader *r, const char *fmt, ...)
{
    size_t saved = r->path_len;
    va_list ap;
    va_start(ap, fmt);
    /* For messages: a cut path still says where. */
    size_t n = vfmt_trunc(r->path + r->path_len, sizeof r->path - r->path_len, fmt, ap);
    va_end(ap);
    r->path_len += n;
    return saved;
}

static void path_pop(struct reader *r, size_t saved)
{
    r->path_len = saved;
    r->path[saved] = '\0';
}

/* ---- strings and names ---------------------------------------------------- */

/* Appends the UTF-8 encoding of cp. */
static bool buf_add_cp(struct bytebuf *b, int32_t cp)
{
    char out[4];
    size_t n;
    if (cp < 0x80) {
        out[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        out[0] = (char)(0xf0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return bytebuf_append(b, out, n);
}

static int hex_value(int32_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* n hex digits at pos; -1 when they are not there. */
static int32_t read_hex(struct reader *r, int n)
{
    int32_t v = 0;
    for (int i = 0; i < n; i++) {
        int d = hex_value(peek(r));
        if (d < 0)
            return -1;
        v = v * 16 + d;
        advance(r);
    }
    return v;
}

/* \uXXXX, with the pair of a surrogate: the backslash and 'u' are read. */
static int32_t read_unicode_escape(struct reader *r, int line, int column)
{
    int32_t cp = read_hex(r, 4);
    if (cp < 0)
        return fail(r, "\\u needs four hex digits, like \\u00e9"), -1;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return fail_at(r, line, column, "\\u%04X is half of a surrogate pair, without its first half",
                       (unsigned)cp), -1;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        size_t n;
        int32_t low = -1;
        if (peek(r) == '\\' && peek_at(r, r->pos + 1, &n) == 'u') {
            advance(r);
            advance(r);
            low = read_hex(r, 4);
        }
        if (low < 0xdc00 || low > 0xdfff)
            return fail_at(r, line, column,
                           "\\u%04X is half of a surrogate pair: follow it with \\uDC00 to \\uDFFF",
                           (unsigned)cp), -1;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    return cp;
}

static json_t *out_of_memory(struct reader *r, struct bytebuf *b)
{
    free(b->data);
    return fail(r, "out of memory");
}

static json_t *read_string(struct reader *r, char **key_out)
{
    int32_t quote = peek(r);
    int line = r->line, column = r->column;
    advance(r);
    struct bytebuf b = {0};
    for (;;) {
        size_t n;
        int32_t c = peek_at(r, r->pos, &n);
        if (c == END) {
            free(b.data);
            return fail_at(r, line, column, "this string is never closed with %c", (char)quote);
        }
        if (c == INVALID) {
            free(b.data);
            return fail(r, "the file is not UTF-8 here");
        }
        if (c == quote) {
            advance(r);
            break;
        }
        if (c == '\n' || c == '\r') {
            free(b.data);
            return fail(r, "a string cannot go on past the end of a line: write \\n, or end "
                           "the line with \\ to continue the string");
        }
        if (c != '\\') {
            if (!bytebuf_append(&b, (const char *)r->s + r->pos, n))
                return out_of_memory(r, &b);
            advance(r);
            continue;
        }
        int eline = r->line, ecolumn = r->column;
        advance(r);
        int32_t e = peek(r);
        int32_t out = -1;
        switch (e) {
        case 'b': out = '\b'; break;
        case 'f': out = '\f'; break;
        case 'n': out = '\n'; break;
        case 'r': out = '\r'; break;
        case 't': out = '\t'; break;
        case 'v': out = '\v'; break;
        case '0': {
            size_t m;
            int32_t after = peek_at(r, r->pos + 1, &m);
            if (after >= '0' && after <= '9') {
                free(b.data);
                return fail_at(r, eline, ecolumn, "\\0 followed by a digit is not an escape "
                                                  "(no octal escapes in JSON5): use \\u");
            }
            out = 0;
            break;
        }
        case 'x':
            advance(r);
            out = read_hex(r, 2);
            if (out < 0) {
                free(b.data);
                return fail(r, "\\x needs two hex digits, like \\x41");
            }
            if (!buf_add_cp(&b, out))
                return out_of_memory(r, &b);
            continue;
        case 'u':
            advance(r);
            out = read_unicode_escape(r, eline, ecolumn);
            if (out < 0) {
                free(b.data);
                return NULL;
            }
            if (!buf_add_cp(&b, out))
                return out_of_memory(r, &b);
            continue;
        case '\r':
        case '\n':
        case 0x2028:
        case 0x2029:
            advance(r); /* a line continuation: nothing */
            if (e == '\r' && peek(r) == '\n')
                advance(r);
            continue;
        case END:
            free(b.data);
            return fail_at(r, line, column, "this string is never closed with %c", (char)quote);
        case INVALID:
            free(b.data);
            return fail(r, "the file is not UTF-8 here");
        default:
            if (e >= '1' && e <= '9') {
                free(b.data);
                return fail_at(r, eline, ecolumn, "\\%c is not an escape (no octal escapes in "
                                                  "JSON5)", (char)e);
            }
            out = e; /* \" \' \\ \/ and any other character: itself */
            break;
        }
        advance(r);
        if (!buf_add_cp(&b, out))
            return out_of_memory(r, &b);
    }
    if (key_out) {
        if (b.data && strlen(b.data) != b.len) {
            free(b.data);
            return fail_at(r, line, column, "a key cannot contain U+0000");
        }
        *key_out = b.data ? b.data : strdup("");
        return *key_out ? json_null() : fail(r, "out of memory");
    }
    json_t *v = json_stringn_nocheck(b.data ? b.data : "", b.len);
    free(b.data);
    return v ? v : fail(r, "out of memory");
}

/* ECMAScript 5 identifier characters, without Unicode tables: ASCII letters,
 * '$' and '_' (and digits after the first), and any code point past ASCII
 * that is not white space. */
static bool ident_char(int32_t c, bool first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '$' || c == '_')
        return true;
    if (c >= '0' && c <= '9')
        return !first;
    return c >= 0x80 && !is_space(c);
}

/* An unquoted key (IdentifierName), \u escapes included. */
static int read_name(struct reader *r, struct bytebuf *b)
{
    for (bool first = true;; first = false) {
        int32_t c = peek(r);
        if (c == '\\') {
            int line = r->line, column = r->column;
            advance(r);
            if (peek(r) != 'u')
                return fail(r, "only \\u escapes may appear in a key without quotes"), -1;
            advance(r);
            c = read_unicode_escape(r, line, column);
            if (c < 0)
                return -1;
            if (!ident_char(c, first))
                return fail_at(r, line, column, "\\u%04X cannot be part of a key without quotes",
                               (unsigned)c), -1;
        } else if (c >= 0 && ident_char(c, first)) {
            advance(r);
        } else {
            return 0;
        }
        if (!buf_add_cp(b, c))
            return fail(r, "out of memory"), -1;
    }
}

/* ---- numbers and words ----------------------------------------------------- */

static bool is_digit(int32_t c)
{
    return c >= '0' && c <= '9';
}

static json_t *nonfinite(struct reader *r, const char *text, int line, int column)
{
    if (!r->opts || !r->opts->nonfinite)
        return fail_at(r, line, column, "%s is not a finite number, and no setting takes one",
                       text);
    struct json5_options *o = r->opts;
    struct json5_nonfinite *grown = realloc(o->found, (o->found_count + 1) * sizeof *grown);
    if (!grown)
        return fail(r, "out of memory");
    o->found = grown;
    struct json5_nonfinite *nf = &o->found[o->found_count++];
    nf->at.line = line;
    nf->at.column = column;
    fmt_trunc(nf->at.path, sizeof nf->at.path, "%s", r->path); /* for messages */
    fmt_trunc(nf->text, sizeof nf->text, "%s", text);
    return json_null();
}

static bool match_word(struct reader *r, const char *word)
{
    size_t n = strlen(word);
    if (r->len - r->pos < n || memcmp(r->s + r->pos, word, n) != 0)
        return false;
    size_t m;
    int32_t after = peek_at(r, r->pos + n, &m);
    if (after >= 0 && ident_char(after, false))
        return false;
    for (size_t i = 0; i < n; i++)
        advance(r);
    return true;
}

/* The bytes from the reader on that a decimal number could take: digits,
 * '.', exponent letters and signs. What read_number copies is a prefix. */
static size_t number_extent(const struct reader *r)
{
    size_t n = 0;
    while (r->pos + n < r->len && (is_digit(r->s[r->pos + n]) || r->s[r->pos + n] == '.' ||
                                   r->s[r->pos + n] == 'e' || r->s[r->pos + n] == 'E' ||
                                   r->s[r->pos + n] == '+' || r->s[r->pos + n] == '-'))
        n++;
    return n;
}

/* Appends the decimal digits at the reader to text at *used (sized by
 * number_extent): *digits when there was one. */
static void take_digits(struct reader *r, char *text, size_t *used, bool *digits)
{
    int32_t c;
    while (is_digit(c = peek(r))) {
        text[(*used)++] = (char)c;
        advance(r);
        *digits = true;
    }
}

static json_t *read_number(struct reader *r)
{
    int line = r->line, column = r->column;
    bool negative = false;
    int32_t c = peek(r);
    if (c == '+' || c == '-') {
        negative = c == '-';
        advance(r);
        c = peek(r);
    }
    if (c == 'I' || c == 'N') {
        if (match_word(r, "Infinity"))
            return nonfinite(r, negative ? "-Infinity" : "Infinity", line, column);
        if (match_word(r, "NaN"))
            return nonfinite(r, "NaN", line, column);
        return fail_found(r, "a number");
    }

    size_t m;
    if (c == '0' && (peek_at(r, r->pos + 1, &m) == 'x' || peek_at(r, r->pos + 1, &m) == 'X')) {
        advance(r);
        advance(r);
        uint64_t v = 0;
        int digits = 0;
        for (int d; (d = hex_value(peek(r))) >= 0; digits++) {
            if (v > (UINT64_MAX >> 4))
                return fail_at(r, line, column, "this number is too big");
            v = v * 16 + (uint64_t)d;
            advance(r);
        }
        if (digits == 0)
            return fail_found(r, "hex digits after 0x");
        if (v > (uint64_t)INT64_MAX + (negative ? 1 : 0))
            return fail_at(r, line, column, "this number is too big");
        c = peek(r);
        if (c >= 0 && (ident_char(c, false) || c == '.'))
            return fail_found(r, "the end of the hex number");
        json_int_t iv = negative ? (json_int_t)(0 - v) : (json_int_t)v;
        json_t *out = json_integer(iv);
        return out ? out : fail(r, "out of memory");
    }

    /* JSON number text for jansson: no '+', a 0 before a leading '.', one
     * after a trailing one. Plain JSON sets no limit on a number's length,
     * so neither does this reader: a number longer than any written by hand
     * is copied on the heap. The copy takes at most the extent and three
     * bytes more (the '-' and the two 0s). */
    char small[64];
    autofree char *big = NULL;
    size_t extent = number_extent(r);
    char *text = small;
    if (extent + 3 > sizeof small && !(text = big = malloc(extent + 3)))
        return fail(r, "out of memory");
    size_t used = 0;
    if (negative)
        text[used++] = '-';
    bool int_digits = false, frac_digits = false;
    if (c == '0') {
        text[used++] = '0';
        advance(r);
        int_digits = true;
        if (is_digit(peek(r)))
            return fail(r, "a number cannot have a leading zero (write 10, or 0x10 for hex)");
    } else {
        take_digits(r, text, &used, &int_digits);
    }
    c = peek(r);
    if (c == '.') {
        advance(r);
        if (!int_digits)
            text[used++] = '0';
        text[used++] = '.';
        take_digits(r, text, &used, &frac_digits);
        if (!frac_digits)
            text[used++] = '0';
    }
    if (!int_digits && !frac_digits)
        return fail_found(r, "a number");
    c = peek(r);
    if (c == 'e' || c == 'E') {
        text[used++] = 'e';
        advance(r);
        c = peek(r);
        if (c == '+' || c == '-') {
            text[used++] = (char)c;
            advance(r);
        }
        bool exp_digits = false;
        take_digits(r, text, &used, &exp_digits);
        if (!exp_digits)
            return fail_found(r, "the digits of an exponent");
    }
    c = peek(r);
    if (c >= 0 && (ident_char(c, false) || c == '.'))
        return fail_found(r, "the end of the number");
    json_error_t jerr;
    json_t *out = json_loadb(text, used, JSON_DECODE_ANY, &jerr);
    if (!out)
        return fail_at(r, line, column, "%.*s is out of range", (int)(used > 40 ? 40 : used),
                       text);
    return out;
}

/* ---- values ------------------------------------------------------------------ */

static json_t *read_value(struct reader *r);

/* After a member of an object or list: ',' (another may follow, or close
 * after a trailing comma) or close. 0 after ',', 1 after close, -1 with the
 * reader failed on anything else (expected says what was wanted). */
static int after_member(struct reader *r, int32_t close, const char *expected)
{
    if (skip_space(r) < 0)
        return -1;
    int32_t c = peek(r);
    if (c != ',' && c != close) {
        fail_found(r, expected);
        return -1;
    }
    advance(r);
    return c == close;
}

/* An object's key, up to and past its ':': 0 with *key set, -1 with the
 * reader failed (no key, a key seen before in obj, no ':'). */
static int read_key(struct reader *r, const json_t *obj, char **key)
{
    int line = r->line, column = r->column;
    int32_t c = peek(r);
    if (c == '"' || c == '\'') {
        if (!read_string(r, key))
            return -1;
    } else {
        struct bytebuf b = {0};
        if (read_name(r, &b) < 0) {
            free(b.data);
            return -1;
        }
        *key = b.data;
        if (!*key) {
            fail_found(r, json_object_size(obj) ? "a key or '}' after ','" : "a key or '}'");
            return -1;
        }
    }
    if (json_object_get(obj, *key)) {
        char shown[80];
        fmt_trunc(shown, sizeof shown, "%s", *key); /* for messages */
        fail_at(r, line, column, "the key \"%s\" appears twice in this object", shown);
        return -1;
    }
    if (skip_space(r) < 0)
        return -1;
    if (peek(r) != ':') {
        fail_found(r, "':' after the key");
        return -1;
    }
    advance(r);
    return 0;
}

/* An object ({ key: value, ... }) or a list ([ value, ... ]), a trailing
 * comma allowed; each value's path (.key or [i]) is the reader's while it
 * is read, for messages. */
static json_t *read_container(struct reader *r, bool object)
{
    advance(r); /* { or [ */
    int32_t close = object ? '}' : ']';
    json_t *out = object ? json_object() : json_array();
    if (!out)
        return fail(r, "out of memory");
    for (size_t i = 0;; i++) {
        if (skip_space(r) < 0)
            goto bad;
        if (peek(r) == close) {
            advance(r);
            return out;
        }
        autofree char *key = NULL;
        if (object && read_key(r, out, &key) < 0)
            goto bad;
        size_t saved = object ? path_push(r, "%s%s", r->path_len ? "." : "", key)
                              : path_push(r, "[%zu]", i);
        json_t *value = read_value(r);
        if (!value)
            goto bad;
        path_pop(r, saved);
        if ((object ? json_object_set_new_nocheck(out, key, value)
                    : json_array_append_new(out, value)) < 0) {
            fail(r, "out of memory");
            goto bad;
        }
        int end = after_member(r, close,
                               object ? "',' or '}' after a value in this object"
                                      : "',' or ']' after a value in this list");
        if (end < 0)
            goto bad;
        if (end)
            return out;
    }
bad:
    json_decref(out);
    return NULL;
}

static json_t *read_value(struct reader *r)
{
    if (skip_space(r) < 0)
        return NULL;
    int32_t c = peek(r);
    if (c == '{' || c == '[') {
        if (r->depth >= JSON5_MAX_DEPTH)
            return fail(r, "nested deeper than %d levels", JSON5_MAX_DEPTH);
        r->depth++;
        json_t *v = read_container(r, c == '{');
        r->depth--;
        return v;
    }
    if (c == '"' || c == '\'')
        return read_string(r, NULL);
    bool word_number =
        (c == 'I' && r->len - r->pos >= 8 && memcmp(r->s + r->pos, "Infinity", 8) == 0) ||
        (c == 'N' && r->len - r->pos >= 3 && memcmp(r->s + r->pos, "NaN", 3) == 0);
    if (is_digit(c) || c == '-' || c == '+' || c == '.' || word_number)
        return read_number(r);
    if (match_word(r, "true"))
        return json_true();
    if (match_word(r, "false"))
        return json_false();
    if (match_word(r, "null"))
        return json_null();
    if (c >= 0 && ident_char(c, true)) {
        /* A word without quotes: name it. */
        struct bytebuf b = {0};
        int line = r->line, column = r->column;
        if (read_name(r, &b) < 0) {
            free(b.data);
            return NULL;
        }
        char shown[64];
        fmt_trunc(shown, sizeof shown, "%s", b.data ? b.data : ""); /* for messages */
        free(b.data);
        return fail_at(r, line, column, "%s is not a value: put text in quotes, like \"%s\"",
                       shown, shown);
    }
    return fail_found(r, "a value");
}

json_t *json5_loadb(const char *text, size_t len, struct json5_options *opts,
                    struct json5_error *err)
{
    struct json5_error scratch;
    struct reader r = {
        .s = (const unsigned char *)text,
        .len = len,
        .line = 1,
        .column = 1,
        .opts = opts,
        .err = err ? err : &scratch,
    };
    if (opts) {
        opts->found = NULL;
        opts->found_count = 0;
    }
    if (skip_space(&r) < 0)
        return NULL;
    if (peek(&r) == END)
        return fail(&r, "the file holds no value: write {} for an empty one");
    json_t *root = read_value(&r);
    if (!root)
        goto bad;
    if (skip_space(&r) < 0)
        goto bad;
    if (peek(&r) != END) {
        fail_found(&r, "the end of the file after the value");
        goto bad;
    }
    return root;
bad:
    json_decref(root);
    if (opts) {
        free(opts->found);
        opts->found = NULL;
        opts->found_count = 0;
    }
    return NULL;
}
