/* A strict JSON5 reader (https://spec.json5.org/) producing jansson values,
 * for config files: comments, unquoted keys, single-quoted and multi-line
 * strings, trailing commas, hex numbers, leading and trailing decimal
 * points, a plus sign, Infinity and NaN. Plain JSON reads as jansson reads
 * it. Errors give the line and column (1-based, in characters). No Debian
 * package offers a JSON5 library for C, hence this one. */
#ifndef HUTCH_JSON5_H
#define HUTCH_JSON5_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define JSON5_PATH_MAX 256
#define JSON5_MAX_DEPTH 128

/* Where a value sits: "agent.sandbox.docker", "tools.deny[2]"; "" at the top. */
struct json5_position {
    int line, column;
    char path[JSON5_PATH_MAX];
};

struct json5_error {
    struct json5_position at;
    char text[200];
};

/* Infinity and NaN, which jansson cannot hold: with json5_options.nonfinite
 * they are read as null and listed here, so that a caller can refuse those in
 * the parts of a document it reads and leave the others alone. */
struct json5_nonfinite {
    struct json5_position at;
    char text[12]; /* "-Infinity" */
};

struct json5_options {
    bool nonfinite; /* else Infinity and NaN are errors */
    struct json5_nonfinite *found; /* malloc'ed list, free() it */
    size_t found_count;
};

/* Parses len bytes of text, which must be one JSON5 value (any kind), with
 * no duplicate keys. NULL on error, with err filled. opts may be NULL. */
json_t *json5_loadb(const char *text, size_t len, struct json5_options *opts,
                    struct json5_error *err);

#endif
