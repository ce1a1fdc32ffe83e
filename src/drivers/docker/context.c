#include "drivers/docker/context.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "drivers/docker/context_loader.h"

/* ---- .dockerignore ------------------------------------------------------------- */

/* "./a//b/" -> "a/b"; "/a" -> "a". */
static void clean_path(char *p)
{
    char *out = p;
    const char *in = p;
    while (*in) {
        while (*in == '/')
            in++;
        if (in[0] == '.' && (in[1] == '/' || in[1] == '\0')) {
            in++;
            continue;
        }
        const char *end = strchrnul(in, '/');
        if (end > in) {
            if (out != p)
                *out++ = '/';
            memmove(out, in, (size_t)(end - in));
            out += end - in;
        }
        in = end;
    }
    *out = '\0';
}

int ignore_parse(const char *text, struct ignore_rules *rules)
{
    memset(rules, 0, sizeof *rules);
    const char *line = text;
    while (line && *line) {
        const char *nl = strchrnul(line, '\n');
        char buf[PATH_MAX];
        size_t len = (size_t)(nl - line);
        if (len >= sizeof buf)
            len = sizeof buf - 1;
        memcpy(buf, line, len);
        buf[len] = '\0';
        /* Trailing whitespace (and \r) is not part of a pattern. */
        while (len && (buf[len - 1] == ' ' || buf[len - 1] == '\t' || buf[len - 1] == '\r'))
            buf[--len] = '\0';
        char *pattern = buf;
        while (*pattern == ' ' || *pattern == '\t')
            pattern++;
        if (*pattern && *pattern != '#') {
            bool negate = *pattern == '!';
            if (negate)
                pattern++;
            clean_path(pattern);
            if (*pattern && (strlist_push(&rules->patterns, pattern) < 0 ||
                             strlist_push(&rules->negated, negate ? "1" : "0") < 0))
                return -1;
        }
        line = *nl ? nl + 1 : NULL;
    }
    return 0;
}

void ignore_free(struct ignore_rules *rules)
{
    strlist_clear(&rules->patterns);
    strlist_clear(&rules->negated);
}

/* Matches segment lists: "**" stands for any number of segments. */
static bool match_segments(char **pat, size_t np, char **path, size_t npath)
{
    if (np == 0)
        return npath == 0;
    if (strcmp(pat[0], "**") == 0) {
        for (size_t skip = 0; skip <= npath; skip++)
            if (match_segments(pat + 1, np - 1, path + skip, npath - skip))
                return true;
        return false;
    }
    return npath > 0 && fnmatch(pat[0], path[0], 0) == 0 &&
           match_segments(pat + 1, np - 1, path + 1, npath - 1);
}

static size_t split(char *text, char **segs, size_t max)
{
    size_t n = 0;
    for (char *tok = strtok(text, "/"); tok && n < max; tok = strtok(NULL, "/"))
        segs[n++] = tok;
    return n;
}

/* A pattern matches the path itself, or the directory of the path that is
 * as deep as the pattern (so "node_modules" covers "node_modules/a/b"). */
static bool pattern_matches(const char *pattern, const char *relpath)
{
    char pbuf[PATH_MAX], fbuf[PATH_MAX];
    if (!fmt_fits(pbuf, sizeof pbuf, "%s", pattern) || !fmt_fits(fbuf, sizeof fbuf, "%s", relpath))
        return false; /* too long to be a path: matches nothing */
    char *pseg[128], *fseg[128];
    size_t np = split(pbuf, pseg, 128), nf = split(fbuf, fseg, 128);
    if (match_segments(pseg, np, fseg, nf))
        return true;
    bool has_globstar = false;
    for (size_t i = 0; i < np; i++)
        has_globstar |= strcmp(pseg[i], "**") == 0;
    return !has_globstar && np < nf && match_segments(pseg, np, fseg, np);
}

bool ignore_excluded(const struct ignore_rules *rules, const char *relpath)
{
    bool excluded = false;
    for (size_t i = 0; i < rules->patterns.len; i++)
        if (pattern_matches(rules->patterns.items[i], relpath))
            excluded = rules->negated.items[i][0] != '1';
    return excluded;
}

/* True when some '!' pattern could re-include something below dir, so an
 * excluded directory must still be walked. */
static bool has_exceptions_below(const struct ignore_rules *rules, const char *dir)
{
    size_t n = strlen(dir);
    for (size_t i = 0; i < rules->patterns.len; i++) {
        const char *p = rules->patterns.items[i];
        if (rules->negated.items[i][0] == '1' &&
            (strncmp(p, dir, n) == 0 || strchr(p, '*') || strchr(p, '?') || strchr(p, '[')))
            return true;
    }
    return false;
}

/* ---- packing ------------------------------------------------------------------------ */

struct packer {
    const struct archive_api *ar;
    const struct crypto_api *md;
    struct archive *tar;
    EVP_MD_CTX *digest;
    const struct ignore_rules *rules;
    const char *dockerfile;
    size_t files;
    hutch_error *err;
};

static void digest_add(struct packer *pk, const void *data, size_t len)
{
    pk->md->digest_update(pk->digest, data, len);
}

static int add_file(struct packer *pk, int dirfd, const char *name, const char *rel,
                    const struct stat *st)
{
    struct archive_entry *entry = pk->ar->entry_new();
    pk->ar->entry_copy_stat(entry, st);
    pk->ar->entry_set_pathname(entry, rel);
    pk->ar->entry_set_uid(entry, 0);
    pk->ar->entry_set_gid(entry, 0);
    char mode[32];
    fmt_bounded(mode, "%o", (unsigned)st->st_mode);
    digest_add(pk, rel, strlen(rel) + 1);
    digest_add(pk, mode, strlen(mode) + 1);
    int r = 0;
    if (S_ISLNK(st->st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(dirfd, name, target, sizeof target - 1);
        target[n < 0 ? 0 : n] = '\0';
        pk->ar->entry_set_symlink(entry, target);
        digest_add(pk, target, strlen(target) + 1);
        r = pk->ar->write_header(pk->tar, entry) == ARCHIVE_OK ? 0 : -1;
    } else if (S_ISREG(st->st_mode)) {
        int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
            pk->ar->entry_free(entry);
            return error_sys(pk->err, errno, "cannot read %s in the build context", rel);
        }
        r = pk->ar->write_header(pk->tar, entry) == ARCHIVE_OK ? 0 : -1;
        char buf[65536];
        ssize_t n;
        while (r == 0 && (n = TEMP_FAILURE_RETRY(read(fd, buf, sizeof buf))) > 0) {
            digest_add(pk, buf, (size_t)n);
            if (pk->ar->write_data(pk->tar, buf, (size_t)n) != n)
                r = -1;
        }
        close(fd);
        pk->files++;
    } else if (S_ISDIR(st->st_mode)) {
        r = pk->ar->write_header(pk->tar, entry) == ARCHIVE_OK ? 0 : -1;
    }
    pk->ar->entry_free(entry);
    if (r < 0 && !pk->err->message[0])
        error_set(pk->err, HUTCH_E_SYSTEM, "cannot write the build context: %s",
                  pk->ar->error_string(pk->tar));
    return r;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walks one directory in name order (a stable digest), never following a
 * symlink out of the context. */
static int walk(struct packer *pk, int parent, const char *prefix)
{
    int fd = dup(parent);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d)
        return error_sys(pk->err, errno, "cannot list the build context at %s",
                         *prefix ? prefix : ".");
    struct strlist names = {0};
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            strlist_push(&names, e->d_name);
    if (names.len)
        qsort(names.items, names.len, sizeof names.items[0], compare_names);
    int r = 0;
    for (size_t i = 0; r == 0 && i < names.len; i++) {
        const char *name = names.items[i];
        char rel[PATH_MAX];
        if (!fmt_fits(rel, sizeof rel, "%s%s%s", prefix, *prefix ? "/" : "", name)) {
            r = error_set(pk->err, HUTCH_E_INVALID,
                          "%.200s/%s: too long a path for a build context", prefix, name);
            continue;
        }
        struct stat st;
        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        bool always = strcmp(rel, pk->dockerfile) == 0 || strcmp(rel, ".dockerignore") == 0;
        bool excluded = !always && ignore_excluded(pk->rules, rel);
        if (S_ISDIR(st.st_mode)) {
            if (excluded && !has_exceptions_below(pk->rules, rel))
                continue;
            if (!excluded)
                r = add_file(pk, dirfd(d), name, rel, &st);
            int sub = r == 0 ? openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                                          O_CLOEXEC)
                             : -1;
            if (sub >= 0) {
                r = walk(pk, sub, rel);
                close(sub);
            }
        } else if (!excluded) {
            r = add_file(pk, dirfd(d), name, rel, &st);
        }
    }
    strlist_clear(&names);
    closedir(d);
    return r;
}

int context_pack(const char *dir, const char *dockerfile, struct build_context *ctx,
                 hutch_error *err)
{
    memset(ctx, 0, sizeof *ctx);
    autoclose int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return error_sys(err, errno, "build context %s", dir);
    struct stat st;
    if (fstatat(root, dockerfile, &st, 0) < 0 || !S_ISREG(st.st_mode))
        return error_set(err, HUTCH_E_INVALID,
                         "%s/%s: no Dockerfile there (name another with -f FILE)", dir,
                         dockerfile);
    struct ignore_rules rules = {0};
    autofree char *ignore_text = NULL;
    char ignore_path[PATH_MAX];
    if (fmt_checked(err, ignore_path, sizeof ignore_path, "%s/.dockerignore", dir) < 0)
        return -1;
    if (read_file_bounded(ignore_path, 1 << 20, &ignore_text, NULL) == 0 &&
        ignore_parse(ignore_text, &rules) < 0)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");

    struct packer pk = {.rules = &rules, .dockerfile = dockerfile, .err = err};
    if (!(pk.ar = archive_api_load(err)) || !(pk.md = crypto_api_load(err))) {
        ignore_free(&rules);
        return -1;
    }
    ctx->tar = tmpfile();
    pk.tar = pk.ar->write_new();
    pk.digest = pk.md->md_ctx_new();
    int r = -1;
    if (!ctx->tar || !pk.tar || !pk.digest) {
        error_set(err, HUTCH_E_SYSTEM, "cannot prepare the build context");
    } else if (pk.ar->write_set_format_pax_restricted(pk.tar) != ARCHIVE_OK ||
               pk.ar->write_open_FILE(pk.tar, ctx->tar) != ARCHIVE_OK ||
               pk.md->digest_init_ex(pk.digest, pk.md->sha256(), NULL) != 1) {
        error_set(err, HUTCH_E_SYSTEM, "cannot start the build context: %s",
                  pk.ar->error_string(pk.tar));
    } else {
        r = walk(&pk, root, "");
    }
    if (pk.tar) {
        if (pk.ar->write_close(pk.tar) != ARCHIVE_OK && r == 0)
            r = error_set(err, HUTCH_E_SYSTEM, "cannot finish the build context");
        pk.ar->write_free(pk.tar);
    }
    if (r == 0) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        pk.md->digest_final_ex(pk.digest, md, &mdlen);
        static const char hex[] = "0123456789abcdef";
        unsigned i = 0;
        for (; i < mdlen && i < 32; i++) {
            ctx->digest[2 * i] = hex[md[i] >> 4];
            ctx->digest[2 * i + 1] = hex[md[i] & 15];
        }
        ctx->digest[2 * i] = '\0';
        ctx->files = pk.files;
        fflush(ctx->tar);
        rewind(ctx->tar);
    }
    pk.md->md_ctx_free(pk.digest);
    ignore_free(&rules);
    if (r < 0)
        context_close(ctx);
    return r;
}

void context_close(struct build_context *ctx)
{
    if (ctx->tar)
        fclose(ctx->tar);
    ctx->tar = NULL;
}
