#include "policy/units.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"

struct decimal {
    uint64_t whole;
    uint64_t frac_num; /* fraction = frac_num / frac_den */
    uint64_t frac_den;
    const char *suffix;
};

/* Digits, an optional '.' and more digits; stops at the first other byte. */
static int parse_decimal(const char *s, struct decimal *d)
{
    d->whole = 0;
    d->frac_num = 0;
    d->frac_den = 1;
    bool any = false;
    while (isdigit((unsigned char)*s)) {
        if (__builtin_mul_overflow(d->whole, 10, &d->whole) ||
            __builtin_add_overflow(d->whole, (uint64_t)(*s - '0'), &d->whole))
            return -1;
        s++;
        any = true;
    }
    if (*s == '.') {
        s++;
        bool frac_any = false;
        while (isdigit((unsigned char)*s)) {
            /* Digits past 1e-18 cannot change any result we produce. */
            if (d->frac_den < 1000000000000000000ULL) {
                d->frac_num = d->frac_num * 10 + (uint64_t)(*s - '0');
                d->frac_den *= 10;
            }
            s++;
            frac_any = true;
        }
        if (!frac_any)
            return -1;
        any = true;
    }
    if (!any)
        return -1;
    d->suffix = s;
    return 0;
}

/* whole * mult + frac * mult, rounded down, with overflow checks. */
static int scale(const struct decimal *d, uint64_t mult, uint64_t *out)
{
    uint64_t v;
    if (__builtin_mul_overflow(d->whole, mult, &v))
        return -1;
    /* frac_num < frac_den <= 1e18 and mult <= 2^40: use 128-bit arithmetic. */
    unsigned __int128 frac = (unsigned __int128)d->frac_num * mult / d->frac_den;
    if (__builtin_add_overflow(v, (uint64_t)frac, &v))
        return -1;
    *out = v;
    return 0;
}

struct unit {
    const char *name;
    uint64_t mult;
};

static int lookup_unit(const struct unit *units, size_t n, const char *suffix, uint64_t *mult)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(units[i].name, suffix) == 0) {
            *mult = units[i].mult;
            return 0;
        }
    return -1;
}

#define KIB 1024ULL
static const struct unit size_units[] = {
    {"", 1},          {"b", 1},
    {"k", KIB},       {"kb", KIB},       {"kib", KIB},
    {"m", KIB * KIB}, {"mb", KIB * KIB}, {"mib", KIB * KIB},
    {"g", KIB * KIB * KIB}, {"gb", KIB * KIB * KIB}, {"gib", KIB * KIB * KIB},
    {"t", KIB * KIB * KIB * KIB}, {"tb", KIB * KIB * KIB * KIB}, {"tib", KIB * KIB * KIB * KIB},
};

int parse_size(const char *text, uint64_t *bytes)
{
    struct decimal d;
    uint64_t mult;
    if (!text || parse_decimal(text, &d) < 0 ||
        lookup_unit(size_units, sizeof size_units / sizeof size_units[0], d.suffix, &mult) < 0)
        return -1;
    if (mult == 1 && d.frac_num != 0)
        return -1;
    return scale(&d, mult, bytes);
}

static const struct unit duration_units[] = {
    {"", 1000}, {"s", 1000}, {"ms", 1}, {"m", 60000}, {"h", 3600000},
};

int parse_duration_ms(const char *text, uint64_t *ms)
{
    struct decimal d;
    uint64_t mult;
    if (!text || parse_decimal(text, &d) < 0 ||
        lookup_unit(duration_units, sizeof duration_units / sizeof duration_units[0], d.suffix,
                    &mult) < 0)
        return -1;
    return scale(&d, mult, ms);
}

int seconds_to_ms(double seconds, uint64_t *ms)
{
    if (!(seconds >= 0) || seconds > 1e12)
        return -1;
    *ms = (uint64_t)(seconds * 1000.0);
    return 0;
}

int parse_number(const char *text, double *value)
{
    struct decimal d;
    if (!text || parse_decimal(text, &d) < 0 || *d.suffix != '\0')
        return -1;
    *value = (double)d.whole + (double)d.frac_num / (double)d.frac_den;
    return 0;
}

int parse_cpus(const char *text, double *cpus)
{
    double v;
    if (parse_number(text, &v) < 0 || v > 1024)
        return -1;
    *cpus = v;
    return 0;
}

int parse_count(const char *text, uint64_t *count)
{
    struct decimal d;
    if (!text || parse_decimal(text, &d) < 0 || *d.suffix != '\0' || d.frac_den != 1 ||
        strchr(text, '.'))
        return -1;
    *count = d.whole;
    return 0;
}

bool format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char suffix[] = "kmgt";
    int unit = -1;
    while (bytes != 0 && bytes % 1024 == 0 && unit < 3) {
        bytes /= 1024;
        unit++;
    }
    if (unit < 0)
        return fmt_fits(buf, len, "%llu", (unsigned long long)bytes);
    return fmt_fits(buf, len, "%llu%c", (unsigned long long)bytes, suffix[unit]);
}

bool format_duration(uint64_t ms, char *buf, size_t len)
{
    if (ms == 0)
        return fmt_fits(buf, len, "0");
    if (ms % 3600000 == 0)
        return fmt_fits(buf, len, "%lluh", (unsigned long long)(ms / 3600000));
    if (ms % 60000 == 0)
        return fmt_fits(buf, len, "%llum", (unsigned long long)(ms / 60000));
    if (ms % 1000 == 0)
        return fmt_fits(buf, len, "%llus", (unsigned long long)(ms / 1000));
    return fmt_fits(buf, len, "%llums", (unsigned long long)ms);
}
