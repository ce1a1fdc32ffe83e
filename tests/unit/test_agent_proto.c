/* The agent protocol's codec (src/agent/proto.c): every message type round
 * trips, and malformed bodies are refused with the right kind. */
#include <stdlib.h>
#include <string.h>

#include "agent/proto.h"
#include "tap.h"
#include "base/util.h"

/* Encodes b's message, then decodes its header and body into m. */
static int decode(struct agent_buf *b, struct agent_msg *m)
{
    if (agent_msg_end(b) < 0)
        return -100;
    struct agent_header h;
    int r = agent_header_parse(b->data, &h);
    if (r)
        return r;
    if (h.length != b->len - AGENT_HEADER_SIZE)
        return -101;
    return agent_msg_parse(h.type, b->data + AGENT_HEADER_SIZE, h.length, m);
}

static int str_is(struct agent_str s, const char *want)
{
    return s.s && s.len == strlen(want) && memcmp(s.s, want, s.len) == 0;
}

/* A body built field by field, with any length or content. */
struct raw {
    uint8_t data[4096];
    size_t len;
};

static void raw_field(struct raw *r, uint16_t tag, uint32_t len, const void *data, size_t n)
{
    uint16_t reserved = 0;
    memcpy(r->data + r->len, &tag, 2);
    memcpy(r->data + r->len + 2, &reserved, 2);
    memcpy(r->data + r->len + 4, &len, 4);
    memcpy(r->data + r->len + 8, data, n);
    r->len += 8 + n;
}

static void raw_str(struct raw *r, uint16_t tag, const char *s, size_t n)
{
    raw_field(r, tag, (uint32_t)n, s, n);
}

static void raw_u64(struct raw *r, uint16_t tag, uint64_t v)
{
    raw_field(r, tag, 8, &v, 8);
}

static int parse_raw(uint16_t type, const struct raw *r)
{
    struct agent_msg m;
    int kind = agent_msg_parse(type, r->data, r->len, &m);
    agent_msg_free(&m);
    return kind;
}

static void test_round_trips(void)
{
    struct agent_buf b = {0};
    struct agent_msg m;

    agent_msg_begin(&b, AT_HELLO);
    CHECK(decode(&b, &m) == 0 && m.type == AT_HELLO, "HELLO round trip");
    CHECK(b.len == AGENT_HEADER_SIZE, "HELLO is a bare header");
    agent_msg_free(&m);

    agent_msg_begin(&b, AT_STATS);
    CHECK(decode(&b, &m) == 0 && m.type == AT_STATS, "STATS round trip");
    agent_msg_free(&m);

    agent_msg_begin(&b, AT_RUN);
    agent_put_str(&b, AF_ARG, "sh");
    agent_put_str(&b, AF_ARG, "-c");
    agent_put_str(&b, AF_ARG, "");
    agent_put_str(&b, AF_ENV, "A=1");
    agent_put_str(&b, AF_ENV, "PATH=/bin");
    agent_put_str(&b, AF_CWD, "/workspace");
    agent_put_u64(&b, AF_TIMEOUT_MS, 1500);
    agent_put_u64(&b, AF_GRACE_MS, 0);
    agent_put_u64(&b, AF_FILE_SIZE, UINT64_MAX);
    agent_put_u64(&b, AF_TTY, 1);
    int r = decode(&b, &m);
    CHECK(r == 0, "RUN round trip (%d)", r);
    CHECK(m.nargs == 3 && str_is(m.args[0], "sh") && str_is(m.args[1], "-c") && m.args[2].len == 0,
          "RUN args in order, the empty one kept");
    CHECK(m.nenv == 2 && str_is(m.env[0], "A=1") && str_is(m.env[1], "PATH=/bin"),
          "RUN environment in order");
    CHECK(str_is(m.cwd, "/workspace"), "RUN cwd");
    CHECK(m.timeout_ms == 1500 && m.grace_ms == 0 && m.file_size == UINT64_MAX && m.tty,
          "RUN numbers, an explicit grace of 0 kept");
    agent_msg_free(&m);

    agent_msg_begin(&b, AT_RUN);
    agent_put_str(&b, AF_ARG, "true");
    CHECK(decode(&b, &m) == 0 && m.grace_ms == 2000 && !m.tty && !m.cwd.s && m.timeout_ms == 0,
          "RUN defaults: grace 2000 ms, no tty, no cwd, no timeout");
    agent_msg_free(&m);

    agent_msg_begin(&b, AT_SIGNAL);
    agent_put_i64(&b, AF_SIGNAL, 15);
    CHECK(decode(&b, &m) == 0 && m.has_signal && m.signal == 15, "SIGNAL round trip");
    agent_msg_free(&m);

    agent_msg_begin(&b, AT_HELLO_OK);
    agent_put_u64(&b, AF_VERSION, AGENT_VERSION);
    agent_put_u64(&b, AF_PID, 1);
    agent_put_str(&b, AF_FEATURES, "run signal stats");
    CHECK(decode(&b, &m) == 0 && m.has_version && m.version == AGENT_VERSION && m.has_pid &&
              m.pid == 1 && str_is(m.features, "run signal stats"),
          "HELLO_OK round trip");
    agent_msg_free(&m);

    agent_msg_begin(&b, AT_STARTED);
    agent_put_u64(&b, AF_PID, 4242);
    CHECK(decode(&b, &m) == 0 && m.has_pid && m.pid == 4242, "STARTED round trip");
    agent_msg_free(&m);

    agent_msg_begin(&b, AT_EXITED);
    agent_put_i64(&b, AF_CODE, 3);
    agent_put_u64(&b, AF_TIMED_OUT, 0);
    CHECK(decode(&b, &m) == 0 && m.has_code && m.code == 3 && !m.has_signal && !m.timed_out,
          "EXITED with a code");
    agent_msg_free(&m);

    agent_msg_begin(&b, AT_EXITED);
    agent_put_i64(&b, AF_SIGNAL, 9);
    agent_put_u64(&b, AF_TIMED_OUT, 1);
    CHECK(decode(&b, &m) == 0 && m.has_signal && m.signal == 9 && m.timed_out == 1,
          "EXITED by a signal, timed out");
    agent_msg_free(&m);

    agent_msg_begin(&b, AT_STATS_OK);
    agent_put_u64(&b, AF_PIDS, 7);
    agent_put_u64(&b, AF_MEMORY, 1ull << 40);
    agent_put_u64(&b, AF_CPU_USEC, 123456789);
    CHECK(decode(&b, &m) == 0 && m.pids == 7 && m.memory == 1ull << 40 && m.cpu_usec == 123456789,
          "STATS_OK round trip");
    agent_msg_free(&m);

    agent_msg_begin(&b, AT_ERROR);
    agent_put_u64(&b, AF_ERROR_KIND, AE_EXEC);
    agent_put_i64(&b, AF_ERRNO, 2);
    agent_put_str(&b, AF_MESSAGE, "cannot run x: No such file or directory");
    CHECK(decode(&b, &m) == 0 && m.error_kind == AE_EXEC && m.has_errno && m.err_no == 2 &&
              str_is(m.message, "cannot run x: No such file or directory"),
          "ERROR round trip");
    agent_msg_free(&m);

    agent_msg_begin(&b, AT_ERROR);
    agent_put_u64(&b, AF_ERROR_KIND, AE_VERSION);
    agent_put_u64(&b, AF_VERSION, 1);
    CHECK(decode(&b, &m) == 0 && m.has_version && m.version == 1, "ERROR with a version");
    agent_msg_free(&m);

    /* agent_str_dup terminates. */
    struct agent_str s = {.s = "abcdef", .len = 3};
    char *dup = agent_str_dup(s);
    CHECK_STR(dup, "abc", "agent_str_dup copies len bytes and terminates");
    free(dup);
    agent_buf_free(&b);
}

static void test_encoder_limits(void)
{
    struct agent_buf b = {0};
    agent_msg_begin(&b, AT_RUN);
    char *big = malloc(AGENT_MAX_BODY);
    memset(big, 'x', AGENT_MAX_BODY - 1);
    big[AGENT_MAX_BODY - 1] = '\0';
    agent_put_str(&b, AF_ARG, big); /* with its field header: 7 bytes over */
    CHECK(b.failed && agent_msg_end(&b) == -1, "a body over AGENT_MAX_BODY fails to encode");

    agent_msg_begin(&b, AT_RUN);
    CHECK(!b.failed, "agent_msg_begin resets the failure");
    big[AGENT_MAX_BODY - 8] = '\0';
    agent_put_str(&b, AF_ARG, big);
    CHECK(!b.failed && agent_msg_end(&b) == 0 && b.len == AGENT_HEADER_SIZE + AGENT_MAX_BODY,
          "a body of exactly AGENT_MAX_BODY encodes");
    struct agent_header h;
    CHECK(agent_header_parse(b.data, &h) == 0 && h.length == AGENT_MAX_BODY,
          "and its header is accepted");
    agent_put_u64(&b, AF_TTY, 1);
    CHECK(b.failed, "one field more is refused");

    agent_msg_begin(&b, AT_RUN);
    agent_put_str(&b, AF_ARG, NULL);
    CHECK(b.failed, "a NULL string fails the message");
    free(big);
    agent_buf_free(&b);
}

static void test_headers(void)
{
    struct agent_buf b = {0};
    struct agent_header h;
    agent_msg_begin(&b, AT_HELLO);
    agent_msg_end(&b);
    CHECK(agent_header_parse(b.data, &h) == 0 && h.magic == AGENT_MAGIC &&
              h.version == AGENT_VERSION && h.type == AT_HELLO && h.length == 0,
          "a header parses");
    CHECK(memcmp(b.data, "HTCH", 4) == 0, "the magic reads HTCH in memory");

    uint8_t bad[AGENT_HEADER_SIZE];
    memcpy(bad, b.data, sizeof bad);
    bad[0] ^= 1;
    CHECK(agent_header_parse(bad, &h) == AE_MALFORMED, "bad magic is AE_MALFORMED");

    memcpy(bad, b.data, sizeof bad);
    uint16_t v = 99;
    memcpy(bad + 4, &v, 2);
    CHECK(agent_header_parse(bad, &h) == AE_VERSION && h.version == 99,
          "version 99 is AE_VERSION, and says which");

    memcpy(bad, b.data, sizeof bad);
    uint32_t len = AGENT_MAX_BODY + 1;
    memcpy(bad + 8, &len, 4);
    CHECK(agent_header_parse(bad, &h) == AE_TOO_LARGE, "a length over the limit is AE_TOO_LARGE");
    len = 0x80000000u;
    memcpy(bad + 8, &len, 4);
    CHECK(agent_header_parse(bad, &h) == AE_TOO_LARGE, "2^31 is AE_TOO_LARGE");
    len = UINT32_MAX;
    memcpy(bad + 8, &len, 4);
    CHECK(agent_header_parse(bad, &h) == AE_TOO_LARGE, "2^32-1 is AE_TOO_LARGE");
    agent_buf_free(&b);
}

static void test_malformed(void)
{
    struct raw r = {0};
    raw_str(&r, AF_ARG, "echo", 4);
    CHECK(parse_raw(AT_RUN, &r) == 0, "a minimal RUN is fine");

    /* Truncated: the field header, then the data. */
    for (size_t cut = 1; cut < r.len; cut++) {
        struct agent_msg m;
        int kind = agent_msg_parse(AT_RUN, r.data, r.len - cut, &m);
        agent_msg_free(&m);
        if (kind != AE_MALFORMED) {
            CHECK(0, "a body cut by %zu bytes is AE_MALFORMED (got %d)", cut, kind);
            return;
        }
    }
    CHECK(1, "every truncation of a field is AE_MALFORMED");

    memset(&r, 0, sizeof r);
    raw_field(&r, AF_ARG, 100, "echo", 4);
    CHECK(parse_raw(AT_RUN, &r) == AE_MALFORMED, "a length past the body is AE_MALFORMED");
    memset(&r, 0, sizeof r);
    raw_field(&r, AF_ARG, UINT32_MAX, "echo", 4);
    CHECK(parse_raw(AT_RUN, &r) == AE_MALFORMED, "a length of 2^32-1 is AE_MALFORMED");

    memset(&r, 0, sizeof r);
    raw_str(&r, AF_ARG, "ec\0ho", 5);
    CHECK(parse_raw(AT_RUN, &r) == AE_MALFORMED, "NUL in an arg is AE_MALFORMED");
    memset(&r, 0, sizeof r);
    raw_str(&r, AF_ARG, "x", 1);
    raw_str(&r, AF_ENV, "A=\0", 3);
    CHECK(parse_raw(AT_RUN, &r) == AE_MALFORMED, "NUL in an env entry is AE_MALFORMED");
    memset(&r, 0, sizeof r);
    raw_u64(&r, AF_ERROR_KIND, AE_BUSY);
    raw_str(&r, AF_MESSAGE, "\0", 1);
    CHECK(parse_raw(AT_ERROR, &r) == AE_MALFORMED, "NUL in a message is AE_MALFORMED");

    uint32_t four = 4;
    memset(&r, 0, sizeof r);
    raw_str(&r, AF_ARG, "x", 1);
    raw_field(&r, AF_TIMEOUT_MS, 4, &four, 4);
    CHECK(parse_raw(AT_RUN, &r) == AE_MALFORMED, "a 4-byte integer is AE_MALFORMED");
    memset(&r, 0, sizeof r);
    raw_field(&r, AF_SIGNAL, 0, "", 0);
    CHECK(parse_raw(AT_SIGNAL, &r) == AE_MALFORMED, "an empty integer is AE_MALFORMED");
    uint8_t nine[9] = {15};
    memset(&r, 0, sizeof r);
    raw_field(&r, AF_SIGNAL, 9, nine, 9);
    CHECK(parse_raw(AT_SIGNAL, &r) == AE_MALFORMED, "a 9-byte integer is AE_MALFORMED");

    memset(&r, 0, sizeof r);
    raw_str(&r, AF_ARG, "x", 1);
    raw_u64(&r, AF_TTY, 2);
    CHECK(parse_raw(AT_RUN, &r) == AE_MALFORMED, "AF_TTY 2 is AE_MALFORMED");
    memset(&r, 0, sizeof r);
    raw_str(&r, AF_ARG, "x", 1);
    raw_str(&r, AF_CWD, "/a", 2);
    raw_str(&r, AF_CWD, "/b", 2);
    CHECK(parse_raw(AT_RUN, &r) == AE_MALFORMED, "a repeated AF_CWD is AE_MALFORMED");

    memset(&r, 0, sizeof r);
    raw_str(&r, AF_ENV, "A=1", 3);
    CHECK(parse_raw(AT_RUN, &r) == AE_BAD_REQUEST, "RUN without args is AE_BAD_REQUEST");
    memset(&r, 0, sizeof r);
    CHECK(parse_raw(AT_RUN, &r) == AE_BAD_REQUEST, "an empty RUN is AE_BAD_REQUEST");
    memset(&r, 0, sizeof r);
    raw_str(&r, AF_ARG, "x", 1);
    raw_str(&r, AF_CWD, "tmp", 3);
    CHECK(parse_raw(AT_RUN, &r) == AE_BAD_REQUEST, "a relative cwd is AE_BAD_REQUEST");
    memset(&r, 0, sizeof r);
    raw_str(&r, AF_ARG, "x", 1);
    raw_str(&r, AF_CWD, "", 0);
    CHECK(parse_raw(AT_RUN, &r) == AE_BAD_REQUEST, "an empty cwd is AE_BAD_REQUEST");
    memset(&r, 0, sizeof r);
    raw_str(&r, AF_ARG, "x", 1);
    raw_str(&r, AF_ENV, "NOEQUALS", 8);
    CHECK(parse_raw(AT_RUN, &r) == AE_BAD_REQUEST, "env without '=' is AE_BAD_REQUEST");

    int64_t sigs[] = {0, -1, 65, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
        memset(&r, 0, sizeof r);
        raw_field(&r, AF_SIGNAL, 8, &sigs[i], 8);
        CHECK(parse_raw(AT_SIGNAL, &r) == AE_BAD_REQUEST, "SIGNAL %lld is AE_BAD_REQUEST",
              (long long)sigs[i]);
    }
    memset(&r, 0, sizeof r);
    CHECK(parse_raw(AT_SIGNAL, &r) == AE_BAD_REQUEST, "SIGNAL without a number");

    memset(&r, 0, sizeof r);
    CHECK(parse_raw(AT_EXITED, &r) == AE_BAD_REQUEST, "EXITED with neither code nor signal");
    int64_t code = 300;
    memset(&r, 0, sizeof r);
    raw_field(&r, AF_CODE, 8, &code, 8);
    CHECK(parse_raw(AT_EXITED, &r) == AE_BAD_REQUEST, "EXITED with code 300");
    code = 1;
    int64_t sig = 9;
    memset(&r, 0, sizeof r);
    raw_field(&r, AF_CODE, 8, &code, 8);
    raw_field(&r, AF_SIGNAL, 8, &sig, 8);
    CHECK(parse_raw(AT_EXITED, &r) == AE_BAD_REQUEST, "EXITED with both code and signal");
    memset(&r, 0, sizeof r);
    CHECK(parse_raw(AT_STARTED, &r) == AE_BAD_REQUEST, "STARTED without a pid");
    CHECK(parse_raw(AT_ERROR, &r) == AE_BAD_REQUEST, "ERROR without a kind");
    CHECK(parse_raw(AT_HELLO_OK, &r) == AE_BAD_REQUEST, "HELLO_OK without a version");

    memset(&r, 0, sizeof r);
    CHECK(parse_raw(0, &r) == AE_UNKNOWN_TYPE && parse_raw(77, &r) == AE_UNKNOWN_TYPE &&
              parse_raw(UINT16_MAX, &r) == AE_UNKNOWN_TYPE,
          "unknown types are AE_UNKNOWN_TYPE");

    /* Unknown tags are skipped: newer peers may add fields. */
    memset(&r, 0, sizeof r);
    raw_str(&r, 999, "\0anything\0", 10);
    raw_field(&r, 20, 3, "abc", 3);
    raw_str(&r, AF_ARG, "x", 1);
    struct agent_msg m;
    int kind = agent_msg_parse(AT_RUN, r.data, r.len, &m);
    CHECK(kind == 0 && m.nargs == 1 && str_is(m.args[0], "x"), "unknown tags are skipped");
    agent_msg_free(&m);
    agent_msg_free(&m);
    CHECK(m.args == NULL && m.nargs == 0, "agent_msg_free is idempotent");

    CHECK(agent_msg_parse(AT_HELLO, NULL, 0, &m) == 0, "an empty body may be NULL");
    agent_msg_free(&m);
}

static void test_count_limits(void)
{
    size_t n = AGENT_MAX_ARGS + 1;
    uint8_t *body = calloc(n, AGENT_FIELD_HEADER_SIZE);
    for (size_t i = 0; i < n; i++) {
        uint16_t tag = AF_ARG;
        memcpy(body + i * AGENT_FIELD_HEADER_SIZE, &tag, 2);
    }
    struct agent_msg m;
    int kind = agent_msg_parse(AT_RUN, body, (n - 1) * AGENT_FIELD_HEADER_SIZE, &m);
    CHECK(kind == 0 && m.nargs == AGENT_MAX_ARGS, "AGENT_MAX_ARGS empty args are accepted");
    agent_msg_free(&m);
    kind = agent_msg_parse(AT_RUN, body, n * AGENT_FIELD_HEADER_SIZE, &m);
    CHECK(kind == AE_MALFORMED, "one arg more is AE_MALFORMED");
    agent_msg_free(&m);

    size_t env_n = AGENT_MAX_ENV + 1, each = AGENT_FIELD_HEADER_SIZE + 2;
    uint8_t *env = calloc(env_n + 1, each);
    size_t len = 0;
    for (size_t i = 0; i < env_n + 1; i++) {
        uint16_t tag = i == 0 ? AF_ARG : AF_ENV;
        uint32_t two = 2;
        memcpy(env + len, &tag, 2);
        memcpy(env + len + 4, &two, 4);
        memcpy(env + len + 8, "A=", 2);
        len += each;
    }
    kind = agent_msg_parse(AT_RUN, env, len - each, &m);
    CHECK(kind == 0 && m.nenv == AGENT_MAX_ENV, "AGENT_MAX_ENV entries are accepted");
    agent_msg_free(&m);
    kind = agent_msg_parse(AT_RUN, env, len, &m);
    CHECK(kind == AE_MALFORMED, "one env entry more is AE_MALFORMED");
    agent_msg_free(&m);
    free(env);
    free(body);

    CHECK(agent_msg_parse(AT_RUN, (const uint8_t *)"", AGENT_MAX_BODY + 1, &m) == AE_TOO_LARGE,
          "a body over the limit is refused before it is read");
    agent_msg_free(&m);
}

static void test_names(void)
{
    CHECK_STR(agent_error_name(AE_EXEC), "exec", "error names");
    CHECK_STR(agent_error_name(0), "unknown error", "no name for 0");
    CHECK_STR(agent_error_name(12345), "unknown error", "no name for a future kind");
}

int main(void)
{
    test_round_trips();
    test_encoder_limits();
    test_headers();
    test_malformed();
    test_count_limits();
    test_names();
    return tap_done();
}
