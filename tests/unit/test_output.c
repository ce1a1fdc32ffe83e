#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/capture.h"
#include "hutch.h"
#include "base/result.h"
#include "tap.h"
#include "base/utf8.h"

static void sanitize_is(const char *in, size_t len, int cut, const char *want, const char *what)
{
    size_t out_len;
    char *out = utf8_sanitize(in, len, cut, &out_len);
    size_t want_len = strlen(want);
    if (want_len == 1 && len == 3 && in[1] == '\0')
        want_len = 3; /* the NUL case */
    CHECK(out && out_len == want_len && memcmp(out, want, out_len) == 0, "utf8: %s", what);
    free(out);
}

static void test_utf8(void)
{
    sanitize_is("plain", 5, 0, "plain", "ASCII unchanged");
    sanitize_is("caf\xc3\xa9", 5, 0, "caf\xc3\xa9", "valid 2-byte kept");
    sanitize_is("\xf0\x9f\x98\x80", 4, 0, "\xf0\x9f\x98\x80", "valid 4-byte kept");
    sanitize_is("a\xffz", 3, 0, "a\xef\xbf\xbdz", "invalid byte replaced");
    sanitize_is("\xed\xa0\x80", 3, 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "surrogate refused");
    sanitize_is("\xc0\xaf", 2, 0, "\xef\xbf\xbd\xef\xbf\xbd", "overlong refused");
    sanitize_is("ab\xe2\x82", 4, 1, "ab", "cut sequence at a limit dropped");
    sanitize_is("ab\xe2\x82", 4, 0, "ab\xef\xbf\xbd\xef\xbf\xbd", "cut sequence without limit replaced");
    sanitize_is("a\0b", 3, 0, "a\0b", "NUL kept (JSON escapes it)");
}

static void test_sink(void)
{
    int fds[2];
    if (pipe(fds) < 0)
        return;
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    char data[100];
    memset(data, 'x', sizeof data);
    (void)!write(fds[1], data, sizeof data);
    close(fds[1]);

    struct sink s;
    sink_init(&s, HUTCH_OUTPUT_CAPTURE, -1, 10);
    int devnull = -1; /* opened by the first pull past the limit */
    long n;
    while ((n = sink_pull(&s, fds[0], &devnull)) > 0)
        ;
    CHECK(devnull >= 0, "what is past the limit goes to /dev/null, opened when needed");
    hutch_output out = {0};
    sink_finish(&s, &out);
    CHECK(n == 0, "sink reads to end of file");
    CHECK(out.len == 10 && out.bytes == 100 && out.truncated, "sink keeps 10, counts 100");
    CHECK(out.data && out.data[10] == '\0', "sink output is NUL-terminated");
    free(out.data);
    close(fds[0]);

    /* Relay: copies up to the limit into another pipe. */
    int in[2], target[2];
    if (pipe(in) < 0 || pipe(target) < 0)
        return;
    (void)!write(in[1], data, 50);
    close(in[1]);
    sink_init(&s, HUTCH_OUTPUT_RELAY, target[1], 20);
    while (sink_pull(&s, in[0], &devnull) > 0)
        ;
    sink_finish(&s, &out);
    close(target[1]);
    char got[64];
    ssize_t relayed = read(target[0], got, sizeof got);
    CHECK(relayed == 20 && out.bytes == 50 && out.truncated, "relay copies 20 of 50");
    CHECK(out.data == NULL, "relay keeps nothing");
    close(in[0]);
    close(target[0]);
    close(devnull);
}

static void test_result_json(void)
{
    hutch_result r = {0};
    snprintf(r.backend, sizeof r.backend, "spawn");
    r.exit_code = 124;
    r.signal = 15;
    r.timed_out = true;
    r.duration_ms = 3.14159;
    r.out.data = strdup("a\xff");
    r.out.len = 2;
    r.out.bytes = 2;
    r.err.data = strdup("");
    char *text = hutch_result_to_json(&r);
    json_error_t jerr;
    json_t *obj = text ? json_loads(text, 0, &jerr) : NULL;
    CHECK(obj != NULL, "result JSON parses");
    const char *keys[] = {"backend", "isolated", "exit_code", "signal", "timed_out",
                          "oom_killed", "limits_via", "duration_ms", "stdout", "stderr", "stdout_truncated",
                          "stderr_truncated", "stdout_bytes", "stderr_bytes", "degraded", "error"};
    for (size_t i = 0; obj && i < sizeof keys / sizeof keys[0]; i++)
        CHECK(json_object_get(obj, keys[i]) != NULL, "result has %s", keys[i]);
    CHECK(obj && json_object_size(obj) == sizeof keys / sizeof keys[0], "result has no other keys");
    CHECK(obj && json_integer_value(json_object_get(obj, "signal")) == 15, "signal number");
    CHECK(obj && json_real_value(json_object_get(obj, "duration_ms")) == 3.142,
          "duration rounded to microseconds");
    CHECK(obj && strcmp(json_string_value(json_object_get(obj, "stdout")), "a\xef\xbf\xbd") == 0,
          "invalid UTF-8 in output becomes U+FFFD");
    CHECK(obj && json_is_null(json_object_get(obj, "error")), "no error is null");
    json_decref(obj);
    free(text);
    hutch_result_free(&r);
    CHECK(r.out.data == NULL, "result_free clears");

    struct supervise_outcome o = {.exited = false, .signal = 9};
    result_apply_outcome(&r, &o);
    CHECK(r.exit_code == 137 && r.signal == 9, "signal 9 is exit 137");
    o = (struct supervise_outcome){.exited = true, .code = 3};
    result_apply_outcome(&r, &o);
    CHECK(r.exit_code == 3 && r.signal == 0, "exit 3 is exit 3");
    o = (struct supervise_outcome){.exited = true, .code = 0, .timed_out = true};
    result_apply_outcome(&r, &o);
    CHECK(r.exit_code == 124 && r.timed_out, "a timeout is exit 124 whatever the command did");
    result_exec_failed(&r, "nope", 2);
    CHECK(r.exit_code == 127, "not found is 127");
    result_exec_failed(&r, "nope", 13);
    CHECK(r.exit_code == 126, "permission denied is 126");
    hutch_result_free(&r);
}

int main(void)
{
    test_utf8();
    test_sink();
    test_result_json();
    return tap_done();
}
