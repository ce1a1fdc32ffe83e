#ifndef HUTCH_UTF8_H
#define HUTCH_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* A copy of in[0..len) that is valid UTF-8: invalid bytes become U+FFFD.
 * With cut_tail, an incomplete sequence at the very end (output cut at a
 * byte limit) is dropped instead. Returns malloc'ed text, NUL-terminated,
 * with its length in out_len; NULL when out of memory. */
char *utf8_sanitize(const char *in, size_t len, bool cut_tail, size_t *out_len);

#endif
