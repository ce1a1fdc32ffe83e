/* One parser for every quantity in flags and config: sizes (512m), durations
 * (30s, 500ms), CPU fractions (0.5) and counts (256). Each returns 0 or -1
 * without touching errno-style state; the caller words the message, using
 * the *_EXAMPLE strings so every error reads the same. */
#ifndef HUTCH_UNITS_H
#define HUTCH_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIZE_EXAMPLE "a size like 512m"
#define DURATION_EXAMPLE "a duration like 30s, 500ms or 5m"
#define CPUS_EXAMPLE "a CPU count like 0.5 or 2"
#define COUNT_EXAMPLE "a whole number like 256"
#define NUMBER_EXAMPLE "a number like 24 or 0.5"

/* Bytes. Suffixes k, m, g, t (optionally followed by b or ib), case-insensitive,
 * all binary (1k = 1024). A fraction needs a suffix: 1.5g. */
int parse_size(const char *text, uint64_t *bytes);

/* Milliseconds. Suffixes ms, s, m, h; a bare number is seconds. */
int parse_duration_ms(const char *text, uint64_t *ms);

/* Seconds as a JSON number may carry a fraction; converts to milliseconds. */
int seconds_to_ms(double seconds, uint64_t *ms);

/* A non-negative decimal up to 1024 (0 = no limit). */
int parse_cpus(const char *text, double *cpus);

/* A non-negative decimal integer. */
int parse_count(const char *text, uint64_t *count);

/* A non-negative decimal number (fractions allowed). */
int parse_number(const char *text, double *value);

/* Shortest exact text for a size: 536870912 -> "512m", 1000 -> "1000".
 * UNITS_TEXT_MAX bytes always hold it; false (buf "") when len is smaller
 * than it needs: never a cut number. */
#define UNITS_TEXT_MAX 24
bool format_size(uint64_t bytes, char *buf, size_t len);

/* Shortest exact text for a duration: 1800000 -> "30m", 1500 -> "1500ms". */
bool format_duration(uint64_t ms, char *buf, size_t len);

#endif
