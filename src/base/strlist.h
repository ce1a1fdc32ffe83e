/* A growable list of owned strings, always NULL-terminated so it can serve as
 * an argv or envp. */
#ifndef HUTCH_STRLIST_H
#define HUTCH_STRLIST_H

#include <stdbool.h>
#include <stddef.h>

struct strlist {
    char **items;
    size_t len;
    size_t cap;
};

int strlist_push(struct strlist *list, const char *s);
int strlist_push_owned(struct strlist *list, char *s);
int strlist_copy(struct strlist *dst, const struct strlist *src);
bool strlist_contains(const struct strlist *list, const char *s);
void strlist_clear(struct strlist *list);
#define autostrlist __attribute__((cleanup(strlist_clear)))

/* For environment lists of NAME=VALUE: the index of NAME, or -1. */
long strlist_find_env(const struct strlist *list, const char *name, size_t name_len);

/* Sets NAME=VALUE, replacing an existing NAME. */
int strlist_set_env(struct strlist *list, const char *name, size_t name_len, const char *value);

#endif
