#include "drivers/docker/dockerfile.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define STAGES_MAX 64
#define STAGE_NAME_MAX 128
/* Only an instruction's first words are read: a longer line is cut. */
#define LINE_MAX_READ 1024

struct stage {
    char name[STAGE_NAME_MAX]; /* "" when unnamed, or too long to be matched */
    struct dockerfile_sets sets;
};

struct scan {
    char escape;
    bool directives; /* parser directives are read until anything else comes */
    char line[LINE_MAX_READ];
    size_t len;
    bool continued;
    struct stage stages[STAGES_MAX];
    size_t n_stages;
    struct dockerfile_sets current;
};

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* The next word of *p (blank-separated) into word[size], cut to fit. */
static size_t next_word(const char **p, char *word, size_t size)
{
    const char *s = *p;
    while (*s && blank(*s))
        s++;
    size_t n = 0;
    for (; *s && !blank(*s); s++)
        if (n + 1 < size)
            word[n++] = *s;
    word[n] = '\0';
    *p = s;
    return n;
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static void from(struct scan *sc, const char *args)
{
    char image[STAGE_NAME_MAX + 1] = "", word[STAGE_NAME_MAX + 1];
    while (next_word(&args, word, sizeof word) && strncmp(word, "--", 2) == 0)
        ; /* --platform=... */
    memcpy(image, word, sizeof image);
    lower(image);
    struct dockerfile_sets inherited = {0};
    for (size_t i = 0; i < sc->n_stages; i++)
        if (sc->stages[i].name[0] && strcmp(sc->stages[i].name, image) == 0)
            inherited = sc->stages[i].sets;
    sc->current = inherited;
    if (sc->n_stages == STAGES_MAX)
        return;
    struct stage *st = &sc->stages[sc->n_stages++];
    st->sets = inherited;
    st->name[0] = '\0';
    char as[8];
    if (next_word(&args, as, sizeof as) && strcasecmp(as, "as") == 0 &&
        next_word(&args, word, sizeof word) < STAGE_NAME_MAX) {
        memcpy(st->name, word, sizeof st->name);
        lower(st->name);
    }
}

static void instruction(struct scan *sc)
{
    sc->line[sc->len] = '\0';
    const char *rest = sc->line;
    char keyword[16];
    next_word(&rest, keyword, sizeof keyword);
    if (strcasecmp(keyword, "from") == 0)
        from(sc, rest);
    else if (strcasecmp(keyword, "cmd") == 0)
        sc->current.cmd = true;
    else if (strcasecmp(keyword, "entrypoint") == 0)
        sc->current.entrypoint = true;
    /* ONBUILD CMD ... is for the images built FROM this one: its first
     * word is ONBUILD, so it is passed over with everything else. */
    if (sc->n_stages && sc->n_stages <= STAGES_MAX)
        sc->stages[sc->n_stages - 1].sets = sc->current;
    sc->len = 0;
}

static void append(struct scan *sc, const char *text, size_t n)
{
    size_t room = sizeof sc->line - 1 - sc->len;
    size_t take = n < room ? n : room;
    memcpy(sc->line + sc->len, text, take);
    sc->len += take;
}

/* "# escape=`": the only parser directive that changes how lines are read. */
static bool directive(struct scan *sc, const char *s, size_t n)
{
    char text[128];
    if (n >= sizeof text)
        return false;
    memcpy(text, s, n);
    text[n] = '\0';
    const char *p = text + 1; /* after '#' */
    char key[32];
    while (*p && blank(*p))
        p++;
    size_t k = 0;
    while ((isalnum((unsigned char)*p) || *p == '_') && k + 1 < sizeof key)
        key[k++] = *p++;
    key[k] = '\0';
    while (*p && blank(*p))
        p++;
    if (!k || *p != '=')
        return false;
    p++;
    while (*p && blank(*p))
        p++;
    if (strcasecmp(key, "escape") == 0 && (*p == '\\' || *p == '`'))
        sc->escape = *p;
    return true;
}

static void physical_line(struct scan *sc, const char *s, size_t n)
{
    while (n && blank(*s)) {
        s++;
        n--;
    }
    while (n && blank(s[n - 1]))
        n--;
    if (sc->directives) {
        if (n && s[0] == '#' && directive(sc, s, n))
            return;
        sc->directives = false;
    }
    /* Comments and empty lines, also between continued lines. */
    if (!n || s[0] == '#')
        return;
    if (s[n - 1] == sc->escape) {
        append(sc, s, n - 1);
        append(sc, " ", 1);
        sc->continued = true;
        return;
    }
    append(sc, s, n);
    sc->continued = false;
    instruction(sc);
}

void dockerfile_scan(const char *text, struct dockerfile_sets *out)
{
    struct scan sc = {.escape = '\\', .directives = true};
    const char *p = text ? text : "";
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        physical_line(&sc, p, n);
        p += n + (end ? 1 : 0);
    }
    if (sc.continued)
        instruction(&sc);
    *out = sc.current;
}
