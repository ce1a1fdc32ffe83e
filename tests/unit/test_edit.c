/* The edit tool's matcher (edit_apply) and the unified diff it returns
 * (src/tools/edit.c). */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "tools/tools.h"

/* Applies one pair given as C strings; returns the result or NULL (err filled). */
static char *apply1(const char *text, const char *old, const char *new, hutch_error *err)
{
    struct edit_pair p = {old, strlen(old), new, strlen(new)};
    char *out = NULL;
    size_t len = 0;
    hutch_error_clear(err);
    if (edit_apply(text, strlen(text), &p, 1, &out, &len, err) < 0)
        return NULL;
    if (strlen(out) != len) {
        free(out);
        return strdup("(length mismatch)");
    }
    return out;
}

static void test_exactly_once(void)
{
    hutch_error err;
    char *out = apply1("one\ntwo\nthree\n", "two", "2", &err);
    CHECK_STR(out, "one\n2\nthree\n", "a unique match is replaced");
    free(out);

    out = apply1("one\ntwo\n", "four", "4", &err);
    CHECK(out == NULL, "no match fails");
    CHECK_CONTAINS(err.message, "oldText not found", "and says not found");
    CHECK_CONTAINS(err.message, "exactly", "and how to fix it");

    out = apply1("x = 1\nx = 1\nx = 1\n", "x = 1", "x = 2", &err);
    CHECK(out == NULL, "several matches fail");
    CHECK_CONTAINS(err.message, "oldText found 3 times", "with the count");
    CHECK_CONTAINS(err.message, "add surrounding lines", "and how to fix it");

    out = apply1("aaa", "aa", "b", &err);
    CHECK(out == NULL && strstr(err.message, "found 2 times"), "overlapping occurrences count: %s",
          err.message);

    out = apply1("abc", "", "x", &err);
    CHECK(out == NULL && strstr(err.message, "oldText is empty"), "an empty oldText is refused: %s",
          err.message);

    out = apply1("same\n", "same", "same", &err);
    CHECK(out == NULL && strstr(err.message, "changes nothing"),
          "an edit that changes nothing fails: %s", err.message);

    out = apply1("let a = f(a);\n", "f(a)", "f(f(a))", &err);
    CHECK_STR(out, "let a = f(f(a));\n", "a replacement may contain its oldText");
    free(out);

    out = apply1("start middle end", "start ", "", &err);
    CHECK_STR(out, "middle end", "newText may be empty (a deletion)");
    free(out);
}

static void test_several(void)
{
    hutch_error err;
    const char *text = "alpha\nbeta\ngamma\ndelta\n";
    struct edit_pair p[] = {
        {"delta", 5, "DELTA", 5},
        {"alpha", 5, "ALPHA", 5},
        {"gamma\n", 6, "", 0},
    };
    char *out = NULL;
    size_t len;
    CHECK(edit_apply(text, strlen(text), p, 3, &out, &len, &err) == 0,
          "several edits apply, in any order");
    CHECK_STR(out, "ALPHA\nbeta\nDELTA\n", "each in its place, against the original");
    free(out);

    struct edit_pair q[] = {
        {"alpha", 5, "A", 1},
        {"nope", 4, "N", 1},
    };
    CHECK(edit_apply(text, strlen(text), q, 2, &out, &len, &err) < 0 && !out,
          "one missing edit fails them all");
    CHECK_CONTAINS(err.message, "oldText #2 not found", "and is named by its number");

    struct edit_pair r[] = {
        {"beta", 4, "B", 1},
        {"a\nbeta\ng", 8, "x", 1},
    };
    CHECK(edit_apply(text, strlen(text), r, 2, &out, &len, &err) < 0,
          "overlapping edits are refused");
    CHECK_CONTAINS(err.message, "oldText #1 and #2 overlap", "naming both");

    struct edit_pair s[] = {
        {"alpha\n", 6, "1\n", 2},
        {"beta\n", 5, "2\n", 2},
    };
    CHECK(edit_apply(text, strlen(text), s, 2, &out, &len, &err) == 0,
          "adjacent edits do not overlap");
    CHECK_STR(out, "1\n2\ngamma\ndelta\n", "and both apply");
    free(out);

    struct edit_pair t[] = {
        {"x", 1, "y", 1},
        {"z", 1, "w", 1},
    };
    const char *xs = "x z x";
    CHECK(edit_apply(xs, strlen(xs), t, 2, &out, &len, &err) < 0 &&
              strstr(err.message, "oldText #1 found 2 times"),
          "the count names the edit: %s", err.message);

    CHECK(edit_apply(text, strlen(text), p, 0, &out, &len, &err) < 0,
          "no edits at all fails");
}

static void test_line_endings(void)
{
    hutch_error err;
    char *out = apply1("one\r\ntwo\r\nthree\r\n", "one\ntwo\n", "1\n2\n", &err);
    CHECK_STR(out, "1\r\n2\r\nthree\r\n", "CRLF file: LF oldText matches, newText gets CRLF");
    free(out);

    out = apply1("one\r\ntwo\r\n", "one\r\ntwo", "uno\r\ndos", &err);
    CHECK_STR(out, "uno\r\ndos\r\n", "CRLF file: CRLF in oldText and newText stays as it is");
    free(out);

    out = apply1("one\ntwo\n", "one\ntwo", "1\n2", &err);
    CHECK_STR(out, "1\n2\n", "LF file: LF stays LF");
    free(out);

    out = apply1("one\ntwo\r\n", "one\ntwo", "1\n2", &err);
    CHECK_STR(out, "1\n2\r\n", "a file whose first line ends in LF counts as LF");
    free(out);

    out = apply1("\xEF\xBB\xBFhello\nworld\n", "hello", "bye", &err);
    CHECK_STR(out, "\xEF\xBB\xBF" "bye\nworld\n", "a leading BOM is kept");
    free(out);

    out = apply1("\xEF\xBB\xBFhello\n", "\xEF\xBB\xBFhello", "\xEF\xBB\xBF" "bye", &err);
    CHECK_STR(out, "\xEF\xBB\xBF" "bye\n", "a BOM in oldText/newText is not doubled");
    free(out);

    out = apply1("\xEF\xBB\xBFone\r\ntwo\r\n", "two\n", "2\n", &err);
    CHECK_STR(out, "\xEF\xBB\xBFone\r\n2\r\n", "BOM and CRLF together");
    free(out);
}

static void test_diff(void)
{
    char *d = unified_diff("f.txt", "a\nb\nc\n", 6, "a\nB\nc\n", 6);
    CHECK_STR(d,
              "--- f.txt\n+++ f.txt\n"
              "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n",
              "one changed line, with context");
    free(d);

    d = unified_diff("f", "x\n", 2, "x\n", 2);
    CHECK_STR(d, "", "no difference: an empty diff");
    free(d);

    d = unified_diff("f", "", 0, "new\n", 4);
    CHECK_STR(d, "--- f\n+++ f\n@@ -0,0 +1 @@\n+new\n", "from empty: -0,0 and a count of 1 left out");
    free(d);

    d = unified_diff("f", "a\nb", 3, "a\nc", 3);
    CHECK_STR(d,
              "--- f\n+++ f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n"
              "\\ No newline at end of file\n",
              "a last line without a newline is marked");
    free(d);

    /* 20 lines, changes at 2 and 19: two hunks with 3 lines of context. */
    char a[256] = "", b[256] = "";
    for (int i = 1; i <= 20; i++) {
        char line[16];
        snprintf(line, sizeof line, "%d\n", i);
        strcat(a, line);
        if (i == 2)
            strcat(b, "two\n");
        else if (i == 19)
            strcat(b, "nineteen\n");
        else
            strcat(b, line);
    }
    d = unified_diff("n", a, strlen(a), b, strlen(b));
    CHECK_STR(d,
              "--- n\n+++ n\n"
              "@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n 4\n 5\n"
              "@@ -16,5 +16,5 @@\n 16\n 17\n 18\n-19\n+nineteen\n 20\n",
              "changes far apart make two hunks");
    free(d);

    /* Changes 6 lines apart share a hunk. */
    d = unified_diff("n", "1\n2\n3\n4\n5\n6\n7\n8\n", 16, "X\n2\n3\n4\n5\n6\n7\nY\n", 16);
    CHECK_STR(d,
              "--- n\n+++ n\n@@ -1,8 +1,8 @@\n-1\n+X\n 2\n 3\n 4\n 5\n 6\n 7\n-8\n+Y\n",
              "changes close together share a hunk");
    free(d);

    d = unified_diff("n", "a\nb\nc\nd\n", 8, "a\nd\n", 4);
    CHECK_STR(d, "--- n\n+++ n\n@@ -1,4 +1,2 @@\n a\n-b\n-c\n d\n", "a pure removal");
    free(d);

    d = unified_diff("n", "a\nd\n", 4, "a\nb\nc\nd\n", 8);
    CHECK_STR(d, "--- n\n+++ n\n@@ -1,2 +1,4 @@\n a\n+b\n+c\n d\n", "a pure insertion");
    free(d);

    /* A big file with a small change: quick, and just that change. */
    size_t n = 200000;
    char *big = malloc(n * 8 + 1), *big2 = malloc(n * 8 + 1);
    size_t la = 0, lb = 0;
    for (size_t i = 0; i < n; i++) {
        la += (size_t)sprintf(big + la, "%07zu\n", i);
        lb += (size_t)sprintf(big2 + lb, "%07zu\n", i == 100000 ? 9999999 : i);
    }
    d = unified_diff("big", big, la, big2, lb);
    CHECK_STR(d,
              "--- big\n+++ big\n@@ -99998,7 +99998,7 @@\n 0099997\n 0099998\n 0099999\n"
              "-0100000\n+9999999\n 0100001\n 0100002\n 0100003\n",
              "a small change in a 200000-line file");
    free(d);

    /* Every line different: past the search bounds, still a correct diff. */
    for (size_t i = 0; i < la; i++)
        if (big2[i] != '\n')
            big2[i] = 'x';
    d = unified_diff("big", big, la, big2, la);
    const char *whole = "--- big\n+++ big\n@@ -1,200000 +1,200000 @@\n-0000000\n";
    CHECK(d && strncmp(d, whole, strlen(whole)) == 0,
          "a complete rewrite is one hunk");
    free(d);
    free(big);
    free(big2);
}

/* The diff of an edit, read back: every removed line was in the old text
 * and every added line is in the new. */
static void test_diff_of_edit(void)
{
    hutch_error err;
    const char *text = "int main(void)\n{\n    return 0;\n}\n";
    char *out = apply1(text, "    return 0;", "    puts(\"hi\");\n    return 1;", &err);
    char *d = unified_diff("main.c", text, strlen(text), out, strlen(out));
    CHECK_STR(d,
              "--- main.c\n+++ main.c\n@@ -1,4 +1,5 @@\n int main(void)\n {\n-    return 0;\n"
              "+    puts(\"hi\");\n+    return 1;\n }\n",
              "the diff of an edit");
    free(d);
    free(out);
}

int main(void)
{
    test_exactly_once();
    test_several();
    test_line_endings();
    test_diff();
    test_diff_of_edit();
    return tap_done();
}
