#include "drivers/disk_limits.h"

#include <inttypes.h>
#include <stdint.h>
#include <unistd.h>

bool disk_limited(const struct hutch_policy *p)
{
    return p->limits.disk > 0 || p->limits.files > 0;
}

const char *disk_limit_names(const struct hutch_policy *p)
{
    if (p->limits.disk && p->limits.files)
        return "limits.disk (--disk) and limits.files (--files)";
    return p->limits.files && !p->limits.disk ? "limits.files (--files)" : "limits.disk (--disk)";
}

/* A tmpfs number: digits and an optional k, m, g, t, p or e (the kernel's
 * memparse). False for anything else, such as a percentage. */
static bool tmpfs_number(const char *text, size_t len, uint64_t *out)
{
    uint64_t n = 0;
    size_t i = 0;
    for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
        if (n > (UINT64_MAX - 9) / 10)
            return false;
        n = n * 10 + (uint64_t)(text[i] - '0');
    }
    if (i == 0)
        return false;
    int shift = 0;
    if (i < len) {
        const char *units = "kmgtpe";
        const char *u = strchr(units, text[i] | 0x20);
        if (!u || !*u || i + 1 != len)
            return false;
        shift = 10 * (int)(u - units + 1);
    }
    if (shift && n > (UINT64_MAX >> shift))
        return false;
    *out = n << shift;
    return true;
}

/* The value of option name= in the item, or NULL. */
static const char *option_value(const char *item, size_t len, const char *name, size_t *value_len)
{
    size_t n = strlen(name);
    if (len <= n || strncmp(item, name, n) != 0 || item[n] != '=')
        return NULL;
    *value_len = len - n - 1;
    return item + n + 1;
}

int disk_tmpfs_options(const struct hutch_policy *p, const char *options, uint64_t own_inodes,
                       char *out, size_t len, hutch_error *err)
{
    const uint64_t disk = p->limits.disk;
    const uint64_t inodes = p->limits.files ? p->limits.files + own_inodes : 0;
    const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    size_t used = 0;
    bool size_kept = false, inodes_kept = false;
    out[0] = '\0';
    for (const char *item = options ? options : ""; *item;) {
        const char *comma = strchr(item, ',');
        size_t item_len = comma ? (size_t)(comma - item) : strlen(item);
        const char *v;
        size_t v_len;
        uint64_t n;
        bool keep = item_len > 0;
        /* 0 means "unlimited" to tmpfs: never a way around the limit. */
        if (disk && (v = option_value(item, item_len, "size", &v_len)) != NULL) {
            keep = tmpfs_number(v, v_len, &n) && n > 0 && n <= disk;
            size_kept |= keep;
        } else if (disk && (v = option_value(item, item_len, "nr_blocks", &v_len)) != NULL) {
            keep = tmpfs_number(v, v_len, &n) && n > 0 && n <= disk / page;
            size_kept |= keep;
        } else if (inodes && (v = option_value(item, item_len, "nr_inodes", &v_len)) != NULL) {
            keep = tmpfs_number(v, v_len, &n) && n > 0 && n <= inodes;
            inodes_kept |= keep;
        }
        if (keep && !fmt_append(out, len, &used, "%s%.*s", used ? "," : "", (int)item_len, item))
            goto too_long;
        item += item_len + (comma ? 1 : 0);
    }
    if (disk && !size_kept &&
        !fmt_append(out, len, &used, "%ssize=%" PRIu64, used ? "," : "", disk))
        goto too_long;
    if (inodes && !inodes_kept &&
        !fmt_append(out, len, &used, "%snr_inodes=%" PRIu64, used ? "," : "", inodes))
        goto too_long;
    return 0;
too_long:
    return error_set(err, HUTCH_E_INVALID, "the tmpfs options %s are too long: shorten them",
                     options ? options : "");
}
