/* The JSON5 reader (src/base/json5.c): each feature of the spec, plain JSON
 * read as jansson reads it, and errors at the right line and column. */
#include <stdlib.h>

#include "base/json5.h"
#include "tap.h"

static struct json5_error jerr;

static json_t *parse(const char *text)
{
    memset(&jerr, 0, sizeof jerr);
    return json5_loadb(text, strlen(text), NULL, &jerr);
}

/* text must read as the same value as json (strict JSON, read by jansson). */
static void same(const char *text, const char *json, const char *what)
{
    json_t *got = parse(text);
    json_t *want = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    CHECK(got && want && json_equal(got, want), "%s (%d:%d %s)", what, jerr.at.line,
          jerr.at.column, jerr.text);
    if (got && want && !json_equal(got, want)) {
        char *dumped = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
        printf("#   got: %s\n", dumped ? dumped : "?");
        free(dumped);
    }
    json_decref(got);
    json_decref(want);
}

static void fails(const char *text, int line, int column, const char *message, const char *what)
{
    json_t *got = parse(text);
    CHECK(got == NULL, "%s: refused", what);
    CHECK(jerr.at.line == line && jerr.at.column == column, "%s: at %d:%d (got %d:%d)", what, line,
          column, jerr.at.line, jerr.at.column);
    CHECK_STR(jerr.text, message, "%s: message", what);
    json_decref(got);
}

static void test_features(void)
{
    same("// a comment\n{a: 1, /* inline */ b: 2,}", "{\"a\": 1, \"b\": 2}",
         "comments, unquoted keys, a trailing comma");
    same("{$x_1: [1, 2, 3,], _: 'it\\'s'}", "{\"$x_1\": [1, 2, 3], \"_\": \"it's\"}",
         "identifier keys with $ and _");
    same("{'single': 'quo\"ted', \"double\": \"it's\"}",
         "{\"single\": \"quo\\\"ted\", \"double\": \"it's\"}", "single and double quotes");
    same("'line one \\\nline two'", "\"line one line two\"", "backslash-newline continues a string");
    same("'a\\\r\nb'", "\"ab\"", "backslash-CRLF continues a string");
    same("[0x1F, 0XfF, -0x10, +1, .5, 5., -.25, 1e3, 2E-2, +0.5e+1]",
         "[31, 255, -16, 1, 0.5, 5.0, -0.25, 1000.0, 0.02, 5.0]",
         "hex, leading and trailing points, plus signs, exponents");
    same("'\\x41\\u00e9\\ud83d\\ude00\\0\\v\\b\\f\\t\\r\\n\\/\\q'",
         "\"A\\u00e9\\ud83d\\ude00\\u0000\\u000b\\b\\f\\t\\r\\n/q\"", "escapes");
    same("{\\u0061b: 1}", "{\"ab\": 1}", "a \\u escape in an unquoted key");
    same("{café: 1}", "{\"caf\\u00e9\": 1}", "a key with a letter past ASCII");
    same("\xef\xbb\xbf{a:\xc2\xa0null}", "{\"a\": null}", "BOM and no-break space are white space");
    same("{\"sandbox\": {\"limits\": {\"memory\": \"1g\"}}}",
         "{\"sandbox\": {\"limits\": {\"memory\": \"1g\"}}}", "plain JSON");
    same("[true, false, null, \"\", [], {}]", "[true, false, null, \"\", [], {}]", "literals");
    same("9223372036854775807", "9223372036854775807", "the largest integer");
    same("{if: 1, null: 2, true: 3}", "{\"if\": 1, \"null\": 2, \"true\": 3}",
         "reserved words as keys");
    same("'tab\there'", "\"tab\\there\"", "a raw tab in a string");
    same("'\xe2\x80\xa8'", "\"\\u2028\"", "U+2028 in a string");
}

static void test_nonfinite(void)
{
    fails("{a: Infinity}", 1, 5, "Infinity is not a finite number, and no setting takes one",
          "Infinity refused by default");
    struct json5_options opts = {.nonfinite = true};
    const char *text = "{a: {b: [1, -Infinity]},\n c: NaN, d: +Infinity}";
    json_t *v = json5_loadb(text, strlen(text), &opts, &jerr);
    CHECK(v != NULL, "with nonfinite, Infinity and NaN read");
    CHECK(json_is_null(json_object_get(v, "c")), "NaN reads as null");
    CHECK(opts.found_count == 3, "three listed");
    if (opts.found_count == 3) {
        CHECK_STR(opts.found[0].at.path, "a.b[1]", "path of the first");
        CHECK_STR(opts.found[0].text, "-Infinity", "text of the first");
        CHECK(opts.found[1].at.line == 2 && opts.found[1].at.column == 5, "line and column of NaN");
        CHECK_STR(opts.found[2].text, "Infinity", "+Infinity is Infinity");
    }
    free(opts.found);
    json_decref(v);
}

static void test_errors(void)
{
    fails("{a: 1,,}", 1, 7, "expected a key or '}' after ',', found ','", "two commas");
    fails("[,]", 1, 2, "expected a value, found ','", "a lone comma");
    fails("{a: 1 b: 2}", 1, 7, "expected ',' or '}' after a value in this object, found 'b'",
          "missing comma");
    fails("{\n  a: 'x\n'}", 2, 8,
          "a string cannot go on past the end of a line: write \\n, or end the line with \\ to "
          "continue the string",
          "a newline in a string");
    fails("{a: 1} /* open", 1, 8, "this /* comment is never closed with */", "open comment");
    fails("{a: 'x}", 1, 5, "this string is never closed with '", "open string");
    fails("{a: 012}", 1, 6, "a number cannot have a leading zero (write 10, or 0x10 for hex)",
          "leading zero");
    fails("{a: 0x}", 1, 7, "expected hex digits after 0x, found '}'", "empty hex");
    fails("{a: 1e}", 1, 7, "expected the digits of an exponent, found '}'", "empty exponent");
    fails("{a: yes}", 1, 5, "yes is not a value: put text in quotes, like \"yes\"", "a bare word");
    fails("{a: 1, a: 2}", 1, 8, "the key \"a\" appears twice in this object", "duplicate key");
    fails("{a: '\\1'}", 1, 6, "\\1 is not an escape (no octal escapes in JSON5)", "octal escape");
    fails("{a: '\\ud800'}", 1, 6,
          "\\uD800 is half of a surrogate pair: follow it with \\uDC00 to \\uDFFF", "lone surrogate");
    fails("{a: 1} x", 1, 8, "expected the end of the file after the value, found 'x'",
          "text after the value");
    fails("", 1, 1, "the file holds no value: write {} for an empty one", "empty file");
    fails("{a: 1 / 2}", 1, 7, "a lone '/': comments start with // or /*", "a lone slash");
    fails("{a: '\xff'}", 1, 6, "the file is not UTF-8 here", "invalid UTF-8");
    fails("{a: 99999999999999999999}", 1, 5, "99999999999999999999 is out of range",
          "integer overflow");
    fails("{'a\\u0000': 1}", 1, 2, "a key cannot contain U+0000", "NUL in a key");
    fails("{\r\n\r\n  a 1}", 3, 5, "expected ':' after the key, found '1'", "CRLF counts one line");
    fails("[1 2]", 1, 4, "expected ',' or ']' after a value in this list, found '2'",
          "missing comma in a list");
    fails("{a: [{b: 1,}, [],], c: 1 d}", 1, 26,
          "expected ',' or '}' after a value in this object, found 'd'",
          "nested objects and lists with trailing commas, then a missing comma");
    /* Plain JSON sets no limit on a number's length: read as jansson
     * reads it (the fuzzer found the old 390-byte limit refusing JSON). */
    char longnum[600] = "{a: ", json[600] = "{\"a\": ";
    memset(longnum + 4, '7', 500);
    strcpy(longnum + 504, "}");
    fails(longnum, 1, 5, "7777777777777777777777777777777777777777 is out of range",
          "500 digits: too big for an integer, as jansson says");
    memcpy(longnum + 4, "1.", 2);
    memcpy(json + 6, longnum + 4, 501);
    same(longnum, json, "500 digits with a point, as jansson reads them");
    memcpy(longnum + 4, " .", 2);
    memcpy(json + 6, "0.", 2);
    memcpy(json + 8, longnum + 6, 499);
    same(longnum, json, "a leading point before 498 digits");
    memcpy(longnum + 4, "-1e", 3);
    fails(longnum, 1, 5, "-1e7777777777777777777777777777777777777 is out of range",
          "an exponent of 497 digits");
    memcpy(longnum + 4, "1e-", 3);
    same(longnum, "{\"a\": 0.0}", "a negative exponent of 497 digits");
    same("[1.5e+2, 0.25, 10]", "[150.0, 0.25, 10]", "fraction and exponent digits");
    char deep[600];
    memset(deep, '[', 300);
    deep[300] = '\0';
    json_t *v = parse(deep);
    CHECK(v == NULL && strstr(jerr.text, "nested deeper than 128 levels"), "depth limit");
}

int main(void)
{
    test_features();
    test_nonfinite();
    test_errors();
    return tap_done();
}
