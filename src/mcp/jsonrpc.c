#include "mcp/jsonrpc.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"
#include "base/util.h"

const char *const mcp_versions[] = {MCP_LATEST_VERSION, "2025-06-18", "2025-03-26", NULL};

static const char *const log_levels[] = {"debug", "info",     "notice", "warning",
                                         "error", "critical", "alert",  "emergency"};

static int bad(struct jsonrpc_msg *m, int code, const char *fmt, ...) PRINTF_LIKE(3, 4);
static int bad(struct jsonrpc_msg *m, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(&m->err, HUTCH_E_INVALID, fmt, ap);
    va_end(ap);
    m->kind = JSONRPC_BAD;
    m->code = code;
    m->method = NULL;
    m->params = NULL;
    return -1;
}

/* MCP narrows JSON-RPC: an id is a string or an integer, never null. */
static bool usable_id(const json_t *id)
{
    return json_is_string(id) || json_is_integer(id);
}

/* Strings are compared with their length: a \u0000 inside must not make
 * "2.0\u0000x" pass for "2.0". */
static bool string_is(const json_t *s, const char *text)
{
    size_t n = strlen(text);
    return json_is_string(s) && json_string_length(s) == n &&
           memcmp(json_string_value(s), text, n) == 0;
}

static bool has_nul(const json_t *s)
{
    return json_is_string(s) && memchr(json_string_value(s), '\0', json_string_length(s)) != NULL;
}

/* Any value parses, so that `42` is an invalid request rather than a parse
 * error; duplicate keys are refused so that no two readers of the same
 * message can disagree on it; NUL characters (\u0000) in strings are data,
 * and each place that takes a string decides what it makes of them. */
#define PARSE_FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

/* What kind of message m->root is; NULL, or why it is not a request a
 * server could answer (an invalid request). */
static const char *classify_or_why(struct jsonrpc_msg *m)
{
    json_t *root = m->root;
    if (json_is_array(root))
        return "invalid request: batches are not supported (MCP removed them in 2025-06-18); "
               "send one message at a time";
    if (!json_is_object(root))
        return "invalid request: a message must be a JSON object";
    json_t *id = json_object_get(root, "id");
    if (usable_id(id))
        m->id = id;
    json_t *method = json_object_get(root, "method");
    /* Whatever looks like a response is never answered, however broken:
     * two peers must not trade errors about errors forever. */
    if (!method && (json_object_get(root, "result") || json_object_get(root, "error"))) {
        m->kind = JSONRPC_RESPONSE;
        return NULL;
    }
    if (!string_is(json_object_get(root, "jsonrpc"), "2.0"))
        return "invalid request: \"jsonrpc\" must be \"2.0\"";
    if (!method)
        return "invalid request: a message needs a \"method\" (a request or a notification) or "
               "a \"result\" or \"error\" (a response)";
    if (!json_is_string(method))
        return "invalid request: \"method\" must be a string";
    /* Methods are compared as C strings: "ping\u0000x" must not be ping. */
    if (has_nul(method))
        return "invalid request: \"method\" must not contain a NUL character (\\u0000)";
    if (id && !m->id)
        return "invalid request: \"id\" must be a string or an integer";
    json_t *params = json_object_get(root, "params");
    if (params && !json_is_object(params) && !json_is_array(params))
        return "invalid request: \"params\" must be an object";
    m->method = json_string_value(method);
    m->params = params;
    m->kind = m->id ? JSONRPC_REQUEST : JSONRPC_NOTIFICATION;
    return NULL;
}

static void classify(struct jsonrpc_msg *m)
{
    const char *why = classify_or_why(m);
    if (why)
        bad(m, JSONRPC_INVALID_REQUEST, "%s", why);
}

/* ---- reading again what jansson cannot hold ---------------------------------
 *
 * JSON that jansson refuses though the message's id can be read — an
 * integer outside the 64-bit range, a real beyond ±1.8e308, an object key
 * with \u0000, an unpaired surrogate (\ud800), bytes that are not UTF-8
 * inside a string, a key twice in one object, nesting deeper than jansson
 * goes — must not cost a request its id: the client would wait forever for
 * an answer. One pass over the text
 * finds each such value and where it is (in the id, in params, elsewhere),
 * and puts a stand-in of the same length in a copy (`0` for a number or a
 * subtree too deep, "???" for a string), which jansson then reads without
 * refusing duplicates. The copy only tells the id and the kind of message:
 * the message itself is refused, never served. A copy that still does not
 * parse (the text is not JSON) leaves the parse error as it was. */

/* Nesting deeper than this is cut out of the copy (jansson stops at 2048). */
#define REREAD_MAX_DEPTH 1000

/* The top-level members that matter; anything else is M_OTHER. */
enum member { M_NONE = -1, M_JSONRPC, M_ID, M_METHOD, M_PARAMS, M_RESULT, M_ERROR, M_OTHER };
static const char *const member_names[] = {"jsonrpc", "id", "method", "params", "result", "error"};

struct reread {
    const char *in;
    size_t len;
    char *copy; /* in, with stand-ins */
    size_t problems;
    size_t first_at; /* the byte of the first problem, and what it is */
    const char *first_what;
    bool outside_params; /* a problem that is not inside the params value */
    bool in_id;          /* a problem inside the id value */
    bool root_object;
    int seen[M_OTHER]; /* top-level keys, by name */
    size_t params_from, params_to;
    int depth;
    enum member key;    /* the top-level key just read, until its ':' */
    enum member member; /* the top-level member whose value is being read */
};

static void note(struct reread *r, size_t at, const char *what)
{
    if (r->problems++ == 0 || at < r->first_at) {
        r->first_at = at;
        r->first_what = what;
    }
    if (r->member == M_ID)
        r->in_id = true;
    if (r->member != M_PARAMS)
        r->outside_params = true;
}

static bool hex4(const char *s, size_t len, size_t i, unsigned *v)
{
    *v = 0;
    for (size_t k = 0; k < 4; k++) {
        if (i + k >= len)
            return false;
        char c = s[i + k];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return false;
        *v = *v << 4 | (unsigned)d;
    }
    return true;
}

/* The length of the UTF-8 sequence at s, or 0 when it is not one jansson
 * takes (overlong, a surrogate, beyond U+10FFFF, cut short). */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    size_t n = s[0] >= 0xC2 && s[0] <= 0xDF   ? 2
               : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
               : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4
                                              : 0;
    if (!n || n > len)
        return 0;
    unsigned v = s[0] & (0xFFu >> (n + 1));
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (s[k] & 0x3F);
    }
    if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || (v >= 0xD800 && v <= 0xDFFF) ||
        v > 0x10FFFF)
        return 0;
    return n;
}

struct string_scan {
    bool nul;      /* has \u0000 */
    bool lone;     /* has an unpaired surrogate escape */
    bool not_utf8; /* has bytes that are not UTF-8 */
    bool broken;   /* not a JSON string at all: left for jansson to refuse */
};

/* Scans the string whose opening quote is s[i]; returns the index after its
 * closing quote (len when it has none). */
static size_t scan_string(const char *s, size_t len, size_t i, struct string_scan *f)
{
    memset(f, 0, sizeof *f);
    for (i++; i < len;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"')
            return i + 1;
        if (c == '\\') {
            char e = i + 1 < len ? s[i + 1] : '\0';
            unsigned cu, lo;
            if (e != 'u') {
                if (!e || !strchr("\"\\/bfnrt", e))
                    f->broken = true;
                i += 2;
            } else if (!hex4(s, len, i + 2, &cu)) {
                f->broken = true;
                i += 2;
            } else if (cu >= 0xD800 && cu <= 0xDBFF && i + 12 <= len && s[i + 6] == '\\' &&
                       s[i + 7] == 'u' && hex4(s, len, i + 8, &lo) && lo >= 0xDC00 &&
                       lo <= 0xDFFF) {
                i += 12; /* a pair */
            } else {
                f->nul |= cu == 0;
                f->lone |= cu >= 0xD800 && cu <= 0xDFFF;
                i += 6;
            }
        } else if (c < 0x20) {
            f->broken = true;
            i++;
        } else if (c < 0x80) {
            i++;
        } else {
            size_t n = utf8_seq((const unsigned char *)s + i, len - i);
            f->not_utf8 |= n == 0;
            i += n ? n : 1;
        }
    }
    f->broken = true;
    return len;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The member a top-level key s[from..to) (quotes included) names. */
static enum member member_of(const char *s, size_t from, size_t to)
{
    const char *raw = s + from + 1;
    size_t n = to - from - 2;
    if (!memchr(raw, '\\', n)) {
        for (int k = 0; k < M_OTHER; k++)
            if (strlen(member_names[k]) == n && memcmp(raw, member_names[k], n) == 0)
                return (enum member)k;
        return M_OTHER;
    }
    if (n > 64) /* none of the names, however escaped, is that long */
        return M_OTHER;
    json_t *key = json_loadb(s + from, to - from, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    enum member found = M_OTHER;
    for (int k = 0; k < M_OTHER && found == M_OTHER; k++)
        if (string_is(key, member_names[k]))
            found = (enum member)k;
    json_decref(key);
    return found;
}

/* Whether s[from..to) is a number by JSON's grammar that jansson cannot
 * hold: an integer outside int64, or a real that overflows a double. */
static bool number_out_of_range(const char *s, size_t from, size_t to)
{
    size_t i = from;
    bool negative = i < to && s[i] == '-';
    i += negative;
    size_t int_from = i;
    if (i < to && s[i] == '0')
        i++;
    else if (i < to && s[i] >= '1' && s[i] <= '9')
        while (i < to && s[i] >= '0' && s[i] <= '9')
            i++;
    else
        return false;
    size_t int_len = i - int_from;
    bool real = false;
    if (i < to && s[i] == '.') {
        real = true;
        size_t d = ++i;
        while (i < to && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    if (i < to && (s[i] == 'e' || s[i] == 'E')) {
        real = true;
        i++;
        if (i < to && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < to && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    if (i != to)
        return false;
    if (!real) {
        const char *limit = negative ? "9223372036854775808" : "9223372036854775807";
        return int_len > 19 || (int_len == 19 && memcmp(s + int_from, limit, 19) > 0);
    }
    /* As jansson decides: strtod overflows (hutch keeps the C locale). */
    char small[64];
    autofree char *big = to - from >= sizeof small ? malloc(to - from + 1) : NULL;
    char *text = to - from >= sizeof small ? big : small;
    if (!text)
        return false; /* out of memory: jansson's refusal stands */
    memcpy(text, s + from, to - from);
    text[to - from] = '\0';
    errno = 0;
    double v = strtod(text, NULL);
    return errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL);
}

/* Where the subtree that opens at s[i] closes: the index after it, or 0. */
static size_t subtree_end(const char *s, size_t len, size_t i)
{
    size_t depth = 0;
    while (i < len) {
        char c = s[i];
        if (c == '"') {
            struct string_scan f;
            i = scan_string(s, len, i, &f);
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return 0;
}

static void stand_in(struct reread *r, size_t from, size_t to, char first, char rest)
{
    r->copy[from] = first;
    memset(r->copy + from + 1, rest, to - from - 1);
}

/* false when the text cannot be JSON (a subtree that never closes): the
 * parse error stands, and the scan stops there rather than look for the
 * end of every subtree that opens after it. */
static bool scan(struct reread *r)
{
    const char *s = r->in;
    size_t len = r->len, i = 0;
    while (i < len && is_space(s[i]))
        i++;
    r->root_object = i < len && s[i] == '{';
    while (i < len) {
        char c = s[i];
        if (c == '"') {
            struct string_scan f;
            size_t end = scan_string(s, len, i, &f);
            size_t next = end;
            while (next < len && is_space(s[next]))
                next++;
            bool key = next < len && s[next] == ':';
            if (key && r->root_object && r->depth == 1 && !f.broken) {
                r->key = member_of(s, i, end);
                if (r->key != M_OTHER)
                    r->seen[r->key]++;
            }
            if (!f.broken && (f.lone || f.not_utf8 || (key && f.nul))) {
                note(r, i,
                     f.lone       ? "a string with an unpaired UTF-16 surrogate (\\ud800-\\udfff)"
                     : f.not_utf8 ? "a string that is not UTF-8"
                                  : "an object key with a NUL character (\\u0000)");
                stand_in(r, i, end, '"', '?');
                r->copy[end - 1] = '"';
            }
            i = end;
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t end = i;
            while (end < len && s[end] && strchr("+-0123456789.eE", s[end]))
                end++;
            if (number_out_of_range(s, i, end)) {
                note(r, i, "a number out of range (an integer beyond 64 bits, or a real beyond "
                           "1.8e308)");
                stand_in(r, i, end, '0', ' ');
            }
            i = end;
            continue;
        }
        if (c == '{' || c == '[') {
            if (r->depth >= REREAD_MAX_DEPTH) {
                size_t end = subtree_end(s, len, i);
                if (!end)
                    return false;
                note(r, i, "nesting deeper than 1000 levels");
                stand_in(r, i, end, '0', ' ');
                i = end;
                continue;
            }
            r->depth++;
        } else if (c == '}' || c == ']') {
            if (r->depth == 1 && r->member == M_PARAMS)
                r->params_to = i;
            if (r->depth == 1)
                r->member = M_NONE;
            r->depth--;
        } else if (c == ':' && r->root_object && r->depth == 1) {
            r->member = r->key;
            r->key = M_NONE;
            if (r->member == M_PARAMS)
                r->params_from = i + 1;
        } else if (c == ',' && r->root_object && r->depth == 1) {
            if (r->member == M_PARAMS)
                r->params_to = i;
            r->member = M_NONE;
        }
        i++;
    }
    return true;
}

/* The second reading of a message jansson refused with jerr. 0 when it
 * filled m (a refusal, with the id when the id itself can be read), -1
 * when the parse error stands. */
static int reread(const char *buf, size_t len, const json_error_t *jerr, struct jsonrpc_msg *m)
{
    bool duplicate = json_error_code(jerr) == json_error_duplicate_key;
    autofree char *copy = malloc(len ? len : 1);
    if (!copy)
        return -1;
    memcpy(copy, buf, len);
    struct reread r = {.in = buf, .len = len, .copy = copy, .key = M_NONE, .member = M_NONE};
    if (!scan(&r) || (!r.problems && !duplicate))
        return -1;
    for (int k = 0; k < M_OTHER; k++)
        if (r.seen[k] > 1) {
            bad(m, JSONRPC_PARSE_ERROR,
                "parse error: the key \"%s\" appears twice, so the message can be read two ways",
                member_names[k]);
            return 0;
        }
    if (duplicate) {
        /* jansson points just past the second key. */
        size_t at = jerr->position > 0 ? (size_t)jerr->position : 0;
        enum member was = r.member;
        r.member = at > r.params_from && at <= r.params_to ? M_PARAMS : M_OTHER;
        note(&r, at, "a key that appears twice in one object");
        r.member = was;
    }
    m->root = json_loadb(copy, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!m->root)
        return -1;
    classify(m);
    if (m->kind == JSONRPC_RESPONSE)
        return 0;
    if (r.in_id) {
        m->id = NULL;
        bad(m, JSONRPC_INVALID_REQUEST,
            "invalid request: the \"id\" cannot be read: %s (at byte %zu)", r.first_what,
            r.first_at);
        return 0;
    }
    if (m->kind == JSONRPC_BAD)
        return 0;
    bool in_params = !r.outside_params;
    bad(m, in_params ? JSONRPC_INVALID_PARAMS : JSONRPC_INVALID_REQUEST,
        "%s: hutch cannot read %s (at byte %zu)",
        in_params ? "invalid params" : "invalid request", r.first_what, r.first_at);
    return 0;
}

void jsonrpc_parse(const char *buf, size_t len, struct jsonrpc_msg *m)
{
    memset(m, 0, sizeof *m);
    json_error_t jerr;
    m->root = json_loadb(buf, len, PARSE_FLAGS, &jerr);
    if (m->root) {
        classify(m);
        return;
    }
    if (reread(buf, len, &jerr, m) == 0)
        return;
    json_decref(m->root);
    memset(m, 0, sizeof *m);
    bad(m, JSONRPC_PARSE_ERROR, "parse error: %s (at byte %d)", jerr.text, jerr.position);
}

void jsonrpc_msg_clear(struct jsonrpc_msg *m)
{
    json_decref(m->root);
    memset(m, 0, sizeof *m);
}

static json_t *reply(const json_t *id)
{
    json_t *msg = json_object();
    if (!msg)
        return NULL;
    json_t *copy = id ? json_copy((json_t *)id) : json_null();
    if (json_object_set_new(msg, "jsonrpc", json_string("2.0")) < 0 ||
        json_object_set_new(msg, "id", copy) < 0) {
        json_decref(msg);
        return NULL;
    }
    return msg;
}

json_t *jsonrpc_result(const json_t *id, json_t *result)
{
    json_t *msg = result ? reply(id) : NULL;
    if (!msg || json_object_set_new(msg, "result", result) < 0) {
        if (!msg)
            json_decref(result);
        json_decref(msg);
        return NULL;
    }
    return msg;
}

json_t *jsonrpc_error(const json_t *id, int code, const char *message)
{
    json_t *msg = reply(id);
    if (!msg)
        return NULL;
    /* Messages come from hutch, which writes UTF-8, but a path or a name
     * the client sent may not be: never lose the error over it. */
    json_t *text = json_string(message);
    if (!text)
        text = json_string("(the error message is not valid UTF-8)");
    if (json_object_set_new(msg, "error", json_pack("{s:i,s:o*}", "code", code, "message", text)) <
        0) {
        json_decref(msg);
        return NULL;
    }
    return msg;
}

json_t *jsonrpc_notification(const char *method, json_t *params)
{
    json_t *msg = json_pack("{s:s,s:s,s:o*}", "jsonrpc", "2.0", "method", method, "params", params);
    return msg;
}

json_t *jsonrpc_request(const json_t *id, const char *method, json_t *params)
{
    return json_pack("{s:s,s:O,s:s,s:o}", "jsonrpc", "2.0", "id", id, "method", method, "params",
                     params);
}

char *jsonrpc_dump(const json_t *msg, size_t *len)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    if (text && len)
        *len = strlen(text);
    return text;
}

/* ---- params ------------------------------------------------------------------ */

bool mcp_version_served(const char *version)
{
    for (size_t i = 0; version && mcp_versions[i]; i++)
        if (strcmp(version, mcp_versions[i]) == 0)
            return true;
    return false;
}

const char *mcp_negotiate_version(const char *requested)
{
    for (size_t i = 0; requested && mcp_versions[i]; i++)
        if (strcmp(requested, mcp_versions[i]) == 0)
            return mcp_versions[i];
    return MCP_LATEST_VERSION;
}

int mcp_check_object_params(const json_t *params, hutch_error *err)
{
    if (params && !json_is_object(params)) {
        error_set(err, HUTCH_E_INVALID, "invalid params: \"params\" must be an object");
        return -1;
    }
    return 0;
}

int mcp_check_initialize(const json_t *params, const char **version, hutch_error *err)
{
    if (!json_is_object(params)) {
        error_set(err, HUTCH_E_INVALID,
                  "invalid params: initialize needs params {\"protocolVersion\", "
                  "\"capabilities\", \"clientInfo\"}");
        return -1;
    }
    json_t *v = json_object_get(params, "protocolVersion");
    if (!json_is_string(v)) {
        error_set(err, HUTCH_E_INVALID,
                  "invalid params: \"protocolVersion\" must be a string such as \"%s\"",
                  MCP_LATEST_VERSION);
        return -1;
    }
    if (!json_is_object(json_object_get(params, "capabilities"))) {
        error_set(err, HUTCH_E_INVALID, "invalid params: \"capabilities\" must be an object");
        return -1;
    }
    json_t *info = json_object_get(params, "clientInfo");
    if (!json_is_object(info) || !json_is_string(json_object_get(info, "name")) ||
        !json_is_string(json_object_get(info, "version"))) {
        error_set(err, HUTCH_E_INVALID,
                  "invalid params: \"clientInfo\" must be an object with the strings "
                  "\"name\" and \"version\"");
        return -1;
    }
    /* A version with a NUL in it is no version hutch serves: the latest is offered. */
    *version = has_nul(v) ? "" : json_string_value(v);
    return 0;
}

int mcp_check_tool_call(const json_t *params, struct mcp_tool_call *call, hutch_error *err)
{
    memset(call, 0, sizeof *call);
    if (!json_is_object(params)) {
        error_set(err, HUTCH_E_INVALID,
                  "invalid params: tools/call needs params {\"name\", \"arguments\"}");
        return -1;
    }
    json_t *name = json_object_get(params, "name");
    if (!json_is_string(name)) {
        error_set(err, HUTCH_E_INVALID,
                  "invalid params: \"name\" must be the name of a tool (a string)");
        return -1;
    }
    /* The name goes on as a C string: "bash\u0000x" must not become bash. */
    if (has_nul(name)) {
        error_set(err, HUTCH_E_INVALID,
                  "invalid params: \"name\" must not contain a NUL character (\\u0000): no tool "
                  "has one");
        return -1;
    }
    json_t *args = json_object_get(params, "arguments");
    if (args && !json_is_object(args)) {
        error_set(err, HUTCH_E_INVALID, "invalid params: \"arguments\" must be an object");
        return -1;
    }
    json_t *meta = json_object_get(params, "_meta");
    if (meta && !json_is_object(meta)) {
        error_set(err, HUTCH_E_INVALID, "invalid params: \"_meta\" must be an object");
        return -1;
    }
    json_t *token = json_object_get(meta, "progressToken");
    if (token && !json_is_string(token) && !json_is_number(token)) {
        error_set(err, HUTCH_E_INVALID,
                  "invalid params: \"_meta.progressToken\" must be a string or a number");
        return -1;
    }
    call->name = json_string_value(name);
    call->arguments = args;
    call->progress_token = token;
    return 0;
}

const json_t *mcp_cancelled_request(const json_t *params)
{
    json_t *id = json_object_get(params, "requestId");
    return usable_id(id) ? id : NULL;
}

int mcp_log_level(const char *name)
{
    for (size_t i = 0; name && i < ARRAY_SIZE(log_levels); i++)
        if (strcmp(name, log_levels[i]) == 0)
            return (int)i;
    return -1;
}

const char *mcp_log_level_name(int level)
{
    return level >= 0 && (size_t)level < ARRAY_SIZE(log_levels) ? log_levels[level] : "info";
}

int mcp_check_set_level(const json_t *params, int *level, hutch_error *err)
{
    json_t *name = json_object_get(params, "level");
    int l = json_is_object(params) && !has_nul(name) ? mcp_log_level(json_string_value(name)) : -1;
    if (l < 0) {
        error_set(err, HUTCH_E_INVALID,
                  "invalid params: \"level\" must be one of debug, info, notice, "
                  "warning, error, critical, alert, emergency");
        return -1;
    }
    *level = l;
    return 0;
}

json_t *mcp_call_result(json_t *result)
{
    bool ok = json_is_true(json_object_get(result, "ok"));
    json_t *message = json_object_get(result, ok ? "text" : "error");
    const char *text = json_string_value(message);
    size_t text_len = json_string_length(message);
    if (!text) {
        text = ok ? "" : "the tool failed without saying why";
        text_len = strlen(text);
    }
    json_t *content = json_array();
    /* With its length: output with a NUL byte in it is not cut short there. */
    json_t *item = json_pack("{s:s,s:s%}", "type", "text", "text", text, text_len);
    if (!content || json_array_append_new(content, item) < 0) {
        json_decref(content);
        return NULL;
    }
    json_t *image = json_object_get(result, "image");
    json_t *mime = json_object_get(image, "mimeType");
    json_t *data = json_object_get(image, "data");
    if (json_is_string(mime) && json_is_string(data) &&
        json_array_append_new(content, json_pack("{s:s,s:O,s:O}", "type", "image", "data", data,
                                                 "mimeType", mime)) < 0) {
        json_decref(content);
        return NULL;
    }
    return json_pack("{s:o,s:O,s:b}", "content", content, "structuredContent", result, "isError",
                     !ok);
}

bool mcp_local_host(const char *host)
{
    static const char *const names[] = {"localhost", "127.0.0.1", "[::1]"};
    if (!host)
        return false;
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(names) && !n; i++)
        if (strncasecmp(host, names[i], strlen(names[i])) == 0)
            n = strlen(names[i]);
    if (!n)
        return false;
    const char *p = host + n;
    if (*p == '\0')
        return true;
    if (*p++ != ':')
        return false;
    size_t digits = strspn(p, "0123456789");
    return digits >= 1 && digits <= 5 && p[digits] == '\0';
}

bool mcp_local_origin(const char *origin)
{
    if (!origin)
        return false;
    if (strncasecmp(origin, "http://", 7) == 0)
        return mcp_local_host(origin + 7);
    if (strncasecmp(origin, "https://", 8) == 0)
        return mcp_local_host(origin + 8);
    return false;
}

bool mcp_same_id(const json_t *a, const json_t *b)
{
    if (json_is_string(a) && json_is_string(b))
        return json_equal((json_t *)a, (json_t *)b);
    if (json_is_integer(a) && json_is_integer(b))
        return json_integer_value(a) == json_integer_value(b);
    return false;
}

/* ---- approval through elicitation ---------------------------------------------- */

bool mcp_client_can_elicit(const json_t *params)
{
    json_t *e = json_object_get(json_object_get(params, "capabilities"), "elicitation");
    if (!json_is_object(e))
        return false;
    json_t *form = json_object_get(e, "form");
    return form ? json_is_object(form) : !json_object_get(e, "url");
}

json_t *mcp_approval_elicitation(const char *message, bool with_mode)
{
    json_t *params = json_pack(
        "{s:s,s:{s:s,s:{s:{s:s,s:s,s:s,s:b}},s:[s]}}", "message", message, "requestedSchema",
        "type", "object", "properties", "approve", "type", "boolean", "title", "Approve",
        "description", "Let this call run", "default", 0, "required", "approve");
    if (params && with_mode)
        json_object_set_new(params, "mode", json_string("form"));
    return params;
}

/* A client's words in a one-line reason: control characters become '?'. */
static void quote_for_reason(const char *said, char *out, size_t size)
{
    fmt_trunc(out, size, "\"%s\"", said); /* shown in a message: cut on purpose */
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
}

bool mcp_approval_answer(const json_t *response, char *reason, size_t len)
{
    json_t *error = json_object_get(response, "error");
    if (error) {
        const char *said = json_string_value(json_object_get(error, "message"));
        char shown[200];
        quote_for_reason(said ? said : "", shown, sizeof shown);
        fmt_trunc(reason, len, "the MCP client could not ask (its error: %s)", shown);
        return false;
    }
    json_t *result = json_object_get(response, "result");
    const char *action = json_string_value(json_object_get(result, "action"));
    json_t *approve = json_object_get(json_object_get(result, "content"), "approve");
    if (action && strcmp(action, "accept") == 0 && json_is_true(approve))
        return true;
    if (action && strcmp(action, "accept") == 0)
        fmt_trunc(reason, len, "the MCP client's form did not approve it (approve was not true)");
    else if (action && strcmp(action, "decline") == 0)
        fmt_trunc(reason, len, "declined in the MCP client");
    else if (action && strcmp(action, "cancel") == 0)
        fmt_trunc(reason, len, "dismissed in the MCP client");
    else
        fmt_trunc(reason, len, "the MCP client's answer has no action accept, decline or cancel");
    return false;
}
