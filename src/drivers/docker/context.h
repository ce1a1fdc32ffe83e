/* Image build contexts: a directory tarred with libarchive, minus what its
 * .dockerignore excludes, plus a digest of what was sent (skills are rebuilt
 * only when it changes). Used by image and skill builds. */
#ifndef HUTCH_DOCKER_CONTEXT_H
#define HUTCH_DOCKER_CONTEXT_H

#include <stdbool.h>
#include <stdio.h>

#include "base/error.h"
#include "base/strlist.h"

/* .dockerignore as Docker reads it: one pattern a line, '#' comments, '!' to
 * re-include; '*' and '?' within a path segment, '**' across segments; a
 * pattern also covers everything below a directory it matches; the last
 * matching line wins. */
struct ignore_rules {
    struct strlist patterns; /* cleaned, without the leading '!' */
    struct strlist negated;  /* "1" where the line started with '!' */
};

int ignore_parse(const char *text, struct ignore_rules *rules);
bool ignore_excluded(const struct ignore_rules *rules, const char *relpath);
void ignore_free(struct ignore_rules *rules);

struct build_context {
    FILE *tar;          /* rewound, ready to upload */
    char digest[65];    /* hex SHA-256 of paths, modes and contents */
    size_t files;
};

/* Packs dir. The Dockerfile and .dockerignore always go in, as Docker does. */
int context_pack(const char *dir, const char *dockerfile, struct build_context *ctx,
                 hutch_error *err);
void context_close(struct build_context *ctx);

#endif
