/* Session keys and the names derived from them. A key is whatever the
 * harness uses (a chat id, "slack:C123/T9", a branch name); everything on
 * disk and in the engine is named from a slug of it plus a short hash, so
 * that two keys never share a name and no key can name a path. Pure. */
#ifndef HUTCH_SESSION_NAMING_H
#define HUTCH_SESSION_NAMING_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define SESSION_KEY_MAX 256
/* slug (at most SESSION_SLUG_MAX) + "-" + 8 hex digits */
#define SESSION_SLUG_MAX 40
#define SESSION_NAME_MAX (SESSION_SLUG_MAX + 9)
#define CONTAINER_NAME_MAX 63

/* 64-bit FNV-1a: names and config fingerprints, not security. */
uint64_t hash64(const void *data, size_t len);
/* hash64 of a text given in pieces: h is hash64(NULL, 0) or what the
 * previous piece gave. */
uint64_t hash64_more(uint64_t h, const void *data, size_t len);

/* A key is 1..SESSION_KEY_MAX bytes of printable text (UTF-8 allowed), no
 * control characters. */
int session_key_check(const char *key, hutch_error *err);

/* "<slug>-<hash8>": lower-case letters, digits, '.', '_' and '-' only. */
void session_name(const char *key, char *out, size_t len);

/* "<prefix><slug>-<hash8>" cut to at most CONTAINER_NAME_MAX characters by
 * shortening the slug; the hash covers the key and scope (the session's
 * state directory), so that sessions of one key under two state
 * directories get two containers. */
void session_container_name(const char *prefix, const char *key, const char *scope, char *out,
                            size_t len);

#endif
