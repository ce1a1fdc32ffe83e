#include "agent/proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- encoding ---------------------------------------------------------------- */

static bool buf_reserve(struct agent_buf *b, size_t more)
{
    if (b->failed)
        return false;
    /* The body may not outgrow what a reader accepts. */
    if (b->len < AGENT_HEADER_SIZE || more > AGENT_MAX_BODY ||
        b->len - AGENT_HEADER_SIZE > AGENT_MAX_BODY - more) {
        b->failed = true;
        return false;
    }
    if (b->cap - b->len >= more)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < more)
        cap *= 2;
    uint8_t *data = realloc(b->data, cap);
    if (!data) {
        b->failed = true;
        return false;
    }
    b->data = data;
    b->cap = cap;
    return true;
}

void agent_msg_begin(struct agent_buf *b, enum agent_type type)
{
    b->len = 0;
    b->failed = false;
    if (b->cap < AGENT_HEADER_SIZE) {
        uint8_t *data = realloc(b->data, 256);
        if (!data) {
            b->failed = true;
            return;
        }
        b->data = data;
        b->cap = 256;
    }
    uint32_t magic = AGENT_MAGIC, length = 0;
    uint16_t version = AGENT_VERSION, t = (uint16_t)type;
    memcpy(b->data, &magic, 4);
    memcpy(b->data + 4, &version, 2);
    memcpy(b->data + 6, &t, 2);
    memcpy(b->data + 8, &length, 4);
    b->len = AGENT_HEADER_SIZE;
}

static void put_field(struct agent_buf *b, enum agent_tag tag, const void *data, size_t len)
{
    if (len > AGENT_MAX_BODY) {
        b->failed = true; /* never a message that silently lacks a field */
        return;
    }
    if (!buf_reserve(b, AGENT_FIELD_HEADER_SIZE + len))
        return;
    uint16_t t = (uint16_t)tag, reserved = 0;
    uint32_t l = (uint32_t)len;
    memcpy(b->data + b->len, &t, 2);
    memcpy(b->data + b->len + 2, &reserved, 2);
    memcpy(b->data + b->len + 4, &l, 4);
    if (len)
        memcpy(b->data + b->len + AGENT_FIELD_HEADER_SIZE, data, len);
    b->len += AGENT_FIELD_HEADER_SIZE + len;
}

void agent_put_u64(struct agent_buf *b, enum agent_tag tag, uint64_t v)
{
    put_field(b, tag, &v, sizeof v);
}

void agent_put_i64(struct agent_buf *b, enum agent_tag tag, int64_t v)
{
    put_field(b, tag, &v, sizeof v);
}

void agent_put_str(struct agent_buf *b, enum agent_tag tag, const char *s)
{
    if (!s) {
        b->failed = true;
        return;
    }
    put_field(b, tag, s, strlen(s));
}

void agent_put_strn(struct agent_buf *b, enum agent_tag tag, const char *s, size_t len)
{
    if ((!s && len) || (len && memchr(s, '\0', len))) {
        b->failed = true;
        return;
    }
    put_field(b, tag, s, len);
}

int agent_msg_end(struct agent_buf *b)
{
    if (b->failed || !b->data || b->len < AGENT_HEADER_SIZE)
        return -1;
    uint32_t length = (uint32_t)(b->len - AGENT_HEADER_SIZE);
    memcpy(b->data + 8, &length, 4);
    return 0;
}

void agent_buf_free(struct agent_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

/* ---- decoding ---------------------------------------------------------------- */

int agent_header_parse(const uint8_t *bytes, struct agent_header *h)
{
    memcpy(&h->magic, bytes, 4);
    memcpy(&h->version, bytes + 4, 2);
    memcpy(&h->type, bytes + 6, 2);
    memcpy(&h->length, bytes + 8, 4);
    if (h->magic != AGENT_MAGIC)
        return AE_MALFORMED;
    if (h->version != AGENT_VERSION)
        return AE_VERSION;
    if (h->length > AGENT_MAX_BODY)
        return AE_TOO_LARGE;
    return 0;
}

enum field_kind { FK_UNKNOWN, FK_STR, FK_U64, FK_I64 };

static enum field_kind kind_of(uint16_t tag)
{
    switch (tag) {
    case AF_ARG:
    case AF_ENV:
    case AF_CWD:
    case AF_FEATURES:
    case AF_MESSAGE:
    case AF_TOOL:
    case AF_ARGS:
    case AF_ROOT_READ:
    case AF_ROOT_WRITE:
    case AF_RESULT:
    case AF_OUTPUT_DIR:
        return FK_STR;
    case AF_TIMEOUT_MS:
    case AF_GRACE_MS:
    case AF_FILE_SIZE:
    case AF_TTY:
    case AF_PID:
    case AF_TIMED_OUT:
    case AF_VERSION:
    case AF_PIDS:
    case AF_MEMORY:
    case AF_CPU_USEC:
    case AF_ERROR_KIND:
    case AF_CONTENT_FD:
    case AF_MORE:
        return FK_U64;
    case AF_SIGNAL:
    case AF_CODE:
    case AF_ERRNO:
        return FK_I64;
    default:
        return FK_UNKNOWN;
    }
}

static bool known_type(uint16_t type)
{
    switch (type) {
    case AT_HELLO:
    case AT_RUN:
    case AT_SIGNAL:
    case AT_STATS:
    case AT_TOOL:
    case AT_HELLO_OK:
    case AT_STARTED:
    case AT_EXITED:
    case AT_STATS_OK:
    case AT_TOOL_RESULT:
    case AT_ERROR:
        return true;
    default:
        return false;
    }
}

struct field {
    uint16_t tag;
    const uint8_t *data;
    uint32_t len;
};

/* Reads the field at *off; false when it does not fit in the body. */
static bool next_field(const uint8_t *body, size_t len, size_t *off, struct field *f)
{
    if (len - *off < AGENT_FIELD_HEADER_SIZE)
        return false;
    memcpy(&f->tag, body + *off, 2);
    memcpy(&f->len, body + *off + 4, 4);
    *off += AGENT_FIELD_HEADER_SIZE;
    if (f->len > len - *off)
        return false;
    f->data = body + *off;
    *off += f->len;
    return true;
}

/* First pass: every field fits, known tags have the right shape, and the
 * repeated ones stay within their limits. Counts them for the second pass. */
struct counts {
    size_t args, env, roots_read, roots_write;
};

static int check_fields(const uint8_t *body, size_t len, struct counts *n)
{
    uint32_t seen = 0; /* bit per non-repeated tag, to refuse duplicates */
    size_t off = 0;
    memset(n, 0, sizeof *n);
    while (off < len) {
        struct field f;
        if (!next_field(body, len, &off, &f))
            return AE_MALFORMED;
        switch (kind_of(f.tag)) {
        case FK_UNKNOWN:
            continue; /* a newer peer's field */
        case FK_STR:
            if (f.len && memchr(f.data, '\0', f.len))
                return AE_MALFORMED;
            break;
        case FK_U64:
        case FK_I64:
            if (f.len != 8)
                return AE_MALFORMED;
            break;
        }
        if (f.tag == AF_ARG) {
            if (++n->args > AGENT_MAX_ARGS)
                return AE_MALFORMED;
        } else if (f.tag == AF_ENV) {
            if (++n->env > AGENT_MAX_ENV)
                return AE_MALFORMED;
        } else if (f.tag == AF_ROOT_READ) {
            if (++n->roots_read > AGENT_MAX_ROOTS)
                return AE_MALFORMED;
        } else if (f.tag == AF_ROOT_WRITE) {
            if (++n->roots_write > AGENT_MAX_ROOTS)
                return AE_MALFORMED;
        } else {
            uint32_t bit = 1u << f.tag; /* known tags are all below 32 */
            if (seen & bit)
                return AE_MALFORMED;
            seen |= bit;
        }
    }
    return 0;
}

static uint64_t get_u64(const struct field *f)
{
    uint64_t v;
    memcpy(&v, f->data, 8);
    return v;
}

static int64_t get_i64(const struct field *f)
{
    int64_t v;
    memcpy(&v, f->data, 8);
    return v;
}

static struct agent_str get_str(const struct field *f)
{
    return (struct agent_str){.s = (const char *)f->data, .len = f->len};
}

/* Second pass: the fields into msg. Booleans must be 0 or 1. */
static int fill_fields(const uint8_t *body, size_t len, struct agent_msg *msg, bool *has_kind)
{
    size_t off = 0;
    while (off < len) {
        struct field f;
        if (!next_field(body, len, &off, &f))
            return AE_MALFORMED;
        switch (f.tag) {
        case AF_ARG:
            msg->args[msg->nargs++] = get_str(&f);
            break;
        case AF_ENV:
            msg->env[msg->nenv++] = get_str(&f);
            break;
        case AF_CWD:
            msg->cwd = get_str(&f);
            break;
        case AF_TIMEOUT_MS:
            msg->timeout_ms = get_u64(&f);
            break;
        case AF_GRACE_MS:
            msg->grace_ms = get_u64(&f);
            break;
        case AF_FILE_SIZE:
            msg->file_size = get_u64(&f);
            break;
        case AF_TTY:
            if (get_u64(&f) > 1)
                return AE_MALFORMED;
            msg->tty = get_u64(&f) == 1;
            break;
        case AF_SIGNAL:
            msg->signal = get_i64(&f);
            msg->has_signal = true;
            break;
        case AF_PID:
            msg->pid = get_u64(&f);
            msg->has_pid = true;
            break;
        case AF_CODE:
            msg->code = get_i64(&f);
            msg->has_code = true;
            break;
        case AF_TIMED_OUT:
            if (get_u64(&f) > 1)
                return AE_MALFORMED;
            msg->timed_out = get_u64(&f);
            break;
        case AF_VERSION:
            msg->version = get_u64(&f);
            msg->has_version = true;
            break;
        case AF_FEATURES:
            msg->features = get_str(&f);
            break;
        case AF_PIDS:
            msg->pids = get_u64(&f);
            break;
        case AF_MEMORY:
            msg->memory = get_u64(&f);
            break;
        case AF_CPU_USEC:
            msg->cpu_usec = get_u64(&f);
            break;
        case AF_ERROR_KIND:
            msg->error_kind = get_u64(&f);
            *has_kind = true;
            break;
        case AF_ERRNO:
            msg->err_no = get_i64(&f);
            msg->has_errno = true;
            break;
        case AF_MESSAGE:
            msg->message = get_str(&f);
            break;
        case AF_TOOL:
            msg->tool = get_str(&f);
            break;
        case AF_ARGS:
            msg->tool_args = get_str(&f);
            break;
        case AF_ROOT_READ:
            msg->roots_read[msg->nroots_read++] = get_str(&f);
            break;
        case AF_ROOT_WRITE:
            msg->roots_write[msg->nroots_write++] = get_str(&f);
            break;
        case AF_CONTENT_FD:
            if (get_u64(&f) > 1)
                return AE_MALFORMED;
            msg->content_fd = get_u64(&f) == 1;
            break;
        case AF_RESULT:
            msg->result = get_str(&f);
            break;
        case AF_MORE:
            if (get_u64(&f) > 1)
                return AE_MALFORMED;
            msg->more = get_u64(&f) == 1;
            break;
        case AF_OUTPUT_DIR:
            msg->output_dir = get_str(&f);
            break;
        default:
            break;
        }
    }
    return 0;
}

static bool absolute(struct agent_str s)
{
    return s.len > 0 && s.s[0] == '/';
}

static bool env_entries_ok(const struct agent_msg *msg)
{
    for (size_t i = 0; i < msg->nenv; i++)
        if (!memchr(msg->env[i].s, '=', msg->env[i].len))
            return false;
    return true;
}

/* The fields each type cannot do without, and values that make no sense. */
static int check_required(const struct agent_msg *msg, bool has_kind)
{
    switch (msg->type) {
    case AT_TOOL:
        if (!msg->tool.s || msg->tool.len == 0 || !msg->tool_args.s || msg->nroots_read == 0)
            return AE_BAD_REQUEST;
        for (size_t i = 0; i < msg->nroots_read; i++)
            if (!absolute(msg->roots_read[i]))
                return AE_BAD_REQUEST;
        for (size_t i = 0; i < msg->nroots_write; i++)
            if (!absolute(msg->roots_write[i]))
                return AE_BAD_REQUEST;
        if (msg->output_dir.s && !absolute(msg->output_dir))
            return AE_BAD_REQUEST;
        return env_entries_ok(msg) ? 0 : AE_BAD_REQUEST;
    case AT_TOOL_RESULT:
        return msg->result.s ? 0 : AE_BAD_REQUEST;
    case AT_RUN:
        if (msg->nargs == 0)
            return AE_BAD_REQUEST;
        if (msg->cwd.s && !absolute(msg->cwd))
            return AE_BAD_REQUEST;
        return env_entries_ok(msg) ? 0 : AE_BAD_REQUEST;
    case AT_SIGNAL:
        if (!msg->has_signal || msg->signal < 1 || msg->signal > 64)
            return AE_BAD_REQUEST;
        return 0;
    case AT_HELLO_OK:
        return msg->has_version && msg->has_pid ? 0 : AE_BAD_REQUEST;
    case AT_STARTED:
        return msg->has_pid ? 0 : AE_BAD_REQUEST;
    case AT_EXITED:
        /* Exactly one of: an exit status, or the signal that killed it. */
        if (msg->has_code == msg->has_signal)
            return AE_BAD_REQUEST;
        if (msg->has_code && (msg->code < 0 || msg->code > 255))
            return AE_BAD_REQUEST;
        if (msg->has_signal && (msg->signal < 1 || msg->signal > 64))
            return AE_BAD_REQUEST;
        return 0;
    case AT_ERROR:
        return has_kind ? 0 : AE_BAD_REQUEST;
    default:
        return 0;
    }
}

int agent_msg_parse(uint16_t type, const uint8_t *body, size_t len, struct agent_msg *msg)
{
    memset(msg, 0, sizeof *msg);
    msg->type = type;
    msg->grace_ms = 2000;
    if (!known_type(type))
        return AE_UNKNOWN_TYPE;
    if (len > AGENT_MAX_BODY || (len && !body))
        return AE_TOO_LARGE;
    struct counts n;
    int r = check_fields(body, len, &n);
    if (r)
        return r;
    if (n.args && !(msg->args = calloc(n.args, sizeof *msg->args)))
        return AE_SYSTEM;
    if (n.env && !(msg->env = calloc(n.env, sizeof *msg->env)))
        return AE_SYSTEM;
    if (n.roots_read && !(msg->roots_read = calloc(n.roots_read, sizeof *msg->roots_read)))
        return AE_SYSTEM;
    if (n.roots_write && !(msg->roots_write = calloc(n.roots_write, sizeof *msg->roots_write)))
        return AE_SYSTEM;
    bool has_kind = false;
    r = fill_fields(body, len, msg, &has_kind);
    if (r)
        return r;
    return check_required(msg, has_kind);
}

int agent_sent(ssize_t n, size_t *off)
{
    if (n > 0) {
        *off += (size_t)n;
        return 1;
    }
    if (n < 0 && errno == EINTR)
        return 1;
    return n < 0 && errno != EAGAIN ? -1 : 0;
}

void agent_msg_free(struct agent_msg *msg)
{
    free(msg->args);
    free(msg->env);
    free(msg->roots_read);
    free(msg->roots_write);
    msg->args = msg->env = msg->roots_read = msg->roots_write = NULL;
    msg->nargs = msg->nenv = msg->nroots_read = msg->nroots_write = 0;
}

char *agent_str_dup(struct agent_str s)
{
    char *copy = malloc(s.len + 1);
    if (!copy)
        return NULL;
    if (s.len)
        memcpy(copy, s.s, s.len);
    copy[s.len] = '\0';
    return copy;
}

const char *agent_error_name(int kind)
{
    switch (kind) {
    case AE_MALFORMED:
        return "malformed";
    case AE_VERSION:
        return "version";
    case AE_TOO_LARGE:
        return "too large";
    case AE_UNKNOWN_TYPE:
        return "unknown type";
    case AE_BAD_REQUEST:
        return "bad request";
    case AE_FDS:
        return "descriptors";
    case AE_EXEC:
        return "exec";
    case AE_CWD:
        return "working directory";
    case AE_SYSTEM:
        return "system";
    case AE_BUSY:
        return "busy";
    default:
        return "unknown error";
    }
}
