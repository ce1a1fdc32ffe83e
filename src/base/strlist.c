#include "base/strlist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

int strlist_push_owned(struct strlist *list, char *s)
{
    if (!s)
        return -1;
    /* Room for s and the NULL after it. */
    if (!array_reserve(&list->items, &list->cap, list->len + 1, sizeof *list->items, 8)) {
        free(s);
        return -1;
    }
    list->items[list->len++] = s;
    list->items[list->len] = NULL;
    return 0;
}

int strlist_push(struct strlist *list, const char *s)
{
    return strlist_push_owned(list, strdup(s));
}

int strlist_copy(struct strlist *dst, const struct strlist *src)
{
    for (size_t i = 0; i < src->len; i++)
        if (strlist_push(dst, src->items[i]) < 0)
            return -1;
    return 0;
}

bool strlist_contains(const struct strlist *list, const char *s)
{
    for (size_t i = 0; i < list->len; i++)
        if (strcmp(list->items[i], s) == 0)
            return true;
    return false;
}

void strlist_clear(struct strlist *list)
{
    for (size_t i = 0; i < list->len; i++)
        free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->len = list->cap = 0;
}

long strlist_find_env(const struct strlist *list, const char *name, size_t name_len)
{
    for (size_t i = 0; i < list->len; i++)
        if (strncmp(list->items[i], name, name_len) == 0 && list->items[i][name_len] == '=')
            return (long)i;
    return -1;
}

int strlist_set_env(struct strlist *list, const char *name, size_t name_len, const char *value)
{
    char *entry;
    if (asprintf(&entry, "%.*s=%s", (int)name_len, name, value) < 0)
        return -1;
    long at = strlist_find_env(list, name, name_len);
    if (at >= 0) {
        free(list->items[at]);
        list->items[at] = entry;
        return 0;
    }
    return strlist_push_owned(list, entry);
}
