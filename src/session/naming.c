#include "session/naming.h"

#include <stdio.h>
#include <string.h>

uint64_t hash64_more(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t hash64(const void *data, size_t len)
{
    return hash64_more(0xcbf29ce484222325ULL, data, len);
}

int session_key_check(const char *key, hutch_error *err)
{
    size_t len = key ? strlen(key) : 0;
    if (len == 0)
        return error_set(err, HUTCH_E_INVALID, "the session key is empty: give a name like "
                                               "chat-42");
    if (len > SESSION_KEY_MAX)
        return error_set(err, HUTCH_E_INVALID,
                         "the session key is %zu bytes long; at most %d are allowed", len,
                         SESSION_KEY_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c < 0x20 || c == 0x7f)
            return error_set(err, HUTCH_E_INVALID,
                             "the session key contains a control character (byte %zu): use "
                             "printable text",
                             i + 1);
    }
    return 0;
}

/* Lower-case [a-z0-9._-], runs of anything else as one '-', no '-' or '.'
 * at either end (a name never starts with a dot). */
static void slug(const char *key, size_t max, char *out)
{
    size_t n = 0;
    bool dash = false;
    for (const unsigned char *p = (const unsigned char *)key; *p && n < max; p++) {
        unsigned char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        bool keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                    (c == '.' && n > 0) || (c == '-' && n > 0);
        if (keep) {
            out[n++] = (char)c;
            dash = c == '-';
        } else if (n > 0 && !dash) {
            out[n++] = '-';
            dash = true;
        }
    }
    while (n > 0 && (out[n - 1] == '-' || out[n - 1] == '.'))
        n--;
    if (n == 0)
        out[n++] = 's';
    out[n] = '\0';
}

void session_name(const char *key, char *out, size_t len)
{
    char s[SESSION_SLUG_MAX + 1];
    slug(key, SESSION_SLUG_MAX, s);
    /* SESSION_NAME_MAX + 1 bytes hold it: never cut, "" otherwise. */
    (void)!fmt_fits(out, len, "%s-%08x", s, (unsigned)(hash64(key, strlen(key)) & 0xffffffffu));
}

void session_container_name(const char *prefix, const char *key, const char *scope, char *out,
                            size_t len)
{
    size_t room = CONTAINER_NAME_MAX - strlen(prefix) - 9;
    if (room > SESSION_SLUG_MAX)
        room = SESSION_SLUG_MAX;
    if ((ssize_t)room < 1)
        room = 1;
    char s[SESSION_SLUG_MAX + 1];
    slug(key, room, s);
    /* CONTAINER_NAME_MAX + 1 bytes hold it (prefixes are at most 40): never
     * cut, "" otherwise. */
    /* The key and the state directory: the same key under two state
     * directories (two users, two test runs) names two containers. */
    uint64_t h = hash64(key, strlen(key)) ^ (scope ? hash64(scope, strlen(scope)) * 31 : 0);
    (void)!fmt_fits(out, len, "%s%s-%08x", prefix, s, (unsigned)(h & 0xffffffffu));
}
