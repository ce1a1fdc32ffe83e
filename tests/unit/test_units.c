#include "tap.h"
#include "policy/units.h"

static void size_ok(const char *text, uint64_t want)
{
    uint64_t got = 0;
    int r = parse_size(text, &got);
    CHECK(r == 0 && got == want, "size \"%s\" = %llu (got %llu, r=%d)", text,
          (unsigned long long)want, (unsigned long long)got, r);
}

static void size_bad(const char *text)
{
    uint64_t got;
    CHECK(parse_size(text, &got) < 0, "size \"%s\" is refused", text);
}

static void duration_ok(const char *text, uint64_t want)
{
    uint64_t got = 0;
    int r = parse_duration_ms(text, &got);
    CHECK(r == 0 && got == want, "duration \"%s\" = %llums (got %llu)", text,
          (unsigned long long)want, (unsigned long long)got);
}

static void duration_bad(const char *text)
{
    uint64_t got;
    CHECK(parse_duration_ms(text, &got) < 0, "duration \"%s\" is refused", text);
}

int main(void)
{
    size_ok("0", 0);
    size_ok("100", 100);
    size_ok("1k", 1024);
    size_ok("1K", 1024);
    size_ok("1KiB", 1024);
    size_ok("2MB", 2 * 1024 * 1024);
    size_ok("512m", 536870912);
    size_ok("1g", 1073741824);
    size_ok("1.5g", 1610612736);
    size_ok("4t", 4398046511104ULL);
    size_ok("0.5k", 512);
    size_ok("18446744073709551615", UINT64_MAX);
    size_bad("12q");
    size_bad("");
    size_bad("-1");
    size_bad("1.5");
    size_bad("m");
    size_bad("1..5m");
    size_bad(" 1m");
    size_bad("1m ");
    size_bad("1.m");
    size_bad("18446744073709551616");
    size_bad("16777216t");
    size_bad("1e6");

    duration_ok("30", 30000);
    duration_ok("30s", 30000);
    duration_ok("500ms", 500);
    duration_ok("1.5s", 1500);
    duration_ok("2m", 120000);
    duration_ok("1h", 3600000);
    duration_ok("0", 0);
    duration_ok(".5", 500);
    duration_bad("5x");
    duration_bad("");
    duration_bad("-5");
    duration_bad("s");
    duration_bad("5 s");

    double cpus = -1;
    CHECK(parse_cpus("0.5", &cpus) == 0 && cpus == 0.5, "cpus 0.5");
    CHECK(parse_cpus("2", &cpus) == 0 && cpus == 2, "cpus 2");
    CHECK(parse_cpus("1024", &cpus) == 0, "cpus 1024 is the maximum");
    CHECK(parse_cpus("1025", &cpus) < 0, "cpus 1025 is refused");
    CHECK(parse_cpus("-1", &cpus) < 0, "cpus -1 is refused");
    CHECK(parse_cpus("half", &cpus) < 0, "cpus half is refused");
    CHECK(parse_cpus("1c", &cpus) < 0, "cpus with a suffix is refused");

    uint64_t count = 0;
    CHECK(parse_count("256", &count) == 0 && count == 256, "count 256");
    CHECK(parse_count("0", &count) == 0 && count == 0, "count 0");
    CHECK(parse_count("1.5", &count) < 0, "count 1.5 is refused");
    CHECK(parse_count("1.0", &count) < 0, "count 1.0 is refused");
    CHECK(parse_count("1e3", &count) < 0, "count 1e3 is refused");
    CHECK(parse_count("12k", &count) < 0, "count 12k is refused");

    uint64_t ms;
    CHECK(seconds_to_ms(1.5, &ms) == 0 && ms == 1500, "1.5 seconds = 1500ms");
    CHECK(seconds_to_ms(-1, &ms) < 0, "negative seconds are refused");

    char buf[32];
    format_size(536870912, buf, sizeof buf);
    CHECK_STR(buf, "512m", "format 512m");
    format_size(1000, buf, sizeof buf);
    CHECK_STR(buf, "1000", "format 1000");
    format_size(0, buf, sizeof buf);
    CHECK_STR(buf, "0", "format 0");
    format_size(1536, buf, sizeof buf);
    CHECK_STR(buf, "1536", "format 1536 stays exact");
    format_duration(1800000, buf, sizeof buf);
    CHECK_STR(buf, "30m", "format 30m");
    format_duration(1500, buf, sizeof buf);
    CHECK_STR(buf, "1500ms", "format 1500ms");
    char small[4];
    CHECK(!format_size(536870912, small, sizeof small) && small[0] == '\0',
          "a size that does not fit is refused, never cut");
    CHECK(!format_duration(1500, small, sizeof small) && small[0] == '\0',
          "a duration that does not fit is refused, never cut");
    CHECK(format_size(UINT64_MAX, buf, UNITS_TEXT_MAX) &&
              format_duration(UINT64_MAX, buf, UNITS_TEXT_MAX),
          "UNITS_TEXT_MAX holds the longest");
    return tap_done();
}
