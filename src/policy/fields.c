#include "policy/fields.h"
#include "net/rules.h"

#include <ctype.h>
#include <limits.h>
#include <stddef.h>

#include "policy/approval_rules.h"
#include "policy/units.h"

/* ---- value checks ------------------------------------------------------- */

static bool has_control_chars(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static bool all_chars_in(const char *s, const char *extra)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
            return false;
    return true;
}

static int dup_or_null(const char *in, char **out)
{
    if (*in == '\0') {
        *out = NULL;
        return 0;
    }
    *out = strdup(in);
    return *out ? 0 : -1;
}

/* Collapses "//", "." and ".." of an absolute path without touching the disk. */
static char *normalize_absolute(const char *path)
{
    size_t n = strlen(path);
    char *out = malloc(n + 2);
    if (!out)
        return NULL;
    size_t len = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = strchrnul(p, '/');
        size_t seg = (size_t)(end - p);
        if (seg == 0 || (seg == 1 && p[0] == '.')) {
            /* nothing */
        } else if (seg == 2 && p[0] == '.' && p[1] == '.') {
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--;
        } else {
            out[len++] = '/';
            memcpy(out + len, p, seg);
            len += seg;
        }
        p = end;
    }
    if (len == 0)
        out[len++] = '/';
    out[len] = '\0';
    return out;
}

int norm_host_path(const char *in, char **out)
{
    if (*in == '\0' || has_control_chars(in) || strlen(in) >= PATH_MAX)
        return -1;
    autofree char *joined = NULL;
    if (in[0] == '~') {
        if (in[1] != '\0' && in[1] != '/')
            return -1; /* ~user is not supported */
        const char *home = getenv("HOME");
        if (!home || home[0] != '/')
            return -1;
        if (asprintf(&joined, "%s/%s", home, in + 1) < 0)
            return -1;
    } else if (in[0] != '/') {
        autofree char *cwd = getcwd(NULL, 0);
        if (!cwd || asprintf(&joined, "%s/%s", cwd, in) < 0)
            return -1;
    } else {
        joined = strdup(in);
        if (!joined)
            return -1;
    }
    *out = normalize_absolute(joined);
    return *out ? 0 : -1;
}

static int norm_host_path_or_empty(const char *in, char **out)
{
    if (*in == '\0') {
        *out = NULL;
        return 0;
    }
    return norm_host_path(in, out);
}

static int norm_sandbox_path(const char *in, char **out)
{
    if (in[0] != '/' || has_control_chars(in) || strlen(in) >= PATH_MAX)
        return -1;
    *out = normalize_absolute(in);
    return *out ? 0 : -1;
}

static int norm_sandbox_path_or_empty(const char *in, char **out)
{
    if (*in == '\0') {
        *out = NULL;
        return 0;
    }
    return norm_sandbox_path(in, out);
}

static int norm_nonempty(const char *in, char **out)
{
    if (*in == '\0' || has_control_chars(in))
        return -1;
    return dup_or_null(in, out);
}

static int norm_nonempty_or_empty(const char *in, char **out)
{
    if (has_control_chars(in))
        return -1;
    return dup_or_null(in, out);
}

static int norm_any(const char *in, char **out)
{
    return dup_or_null(in, out);
}

static bool is_id_number(const char *s, size_t len)
{
    if (len == 0 || len > 10)
        return false;
    unsigned long long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    return v < 4294967295ULL; /* (uid_t)-1 is "no change", never a user */
}

static int norm_numeric_user(const char *in, char **out)
{
    if (*in == '\0') {
        *out = NULL;
        return 0;
    }
    const char *colon = strchr(in, ':');
    size_t ulen = colon ? (size_t)(colon - in) : strlen(in);
    if (!is_id_number(in, ulen) || (colon && !is_id_number(colon + 1, strlen(colon + 1))))
        return -1;
    return dup_or_null(in, out);
}

static int norm_docker_user(const char *in, char **out)
{
    if (*in == '\0') {
        *out = NULL;
        return 0;
    }
    const char *colon = strchr(in, ':');
    if (colon == in || (colon && colon[1] == '\0') || (colon && strchr(colon + 1, ':')))
        return -1;
    if (!all_chars_in(in, "_.-:"))
        return -1;
    return dup_or_null(in, out);
}

static int norm_docker_network(const char *in, char **out)
{
    if (*in == '\0') {
        *out = NULL;
        return 0;
    }
    /* "container:ID" would join another container's namespaces: refused. */
    if (!isalnum((unsigned char)in[0]) || !all_chars_in(in, "_.-") || strlen(in) > 128)
        return -1;
    return dup_or_null(in, out);
}

static int norm_docker_host(const char *in, char **out)
{
    if (*in == '\0') {
        *out = NULL;
        return 0;
    }
    if (has_control_chars(in))
        return -1;
    if (strncmp(in, "unix://", 7) == 0) {
        if (in[7] != '/')
            return -1;
    } else if (strncmp(in, "tcp://", 6) == 0) {
        const char *host = in + 6;
        const char *colon = strrchr(host, ':');
        if (!colon || colon == host)
            return -1;
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end != '\0' || colon[1] == '\0' || port < 1 || port > 65535)
            return -1;
    } else {
        return -1;
    }
    return dup_or_null(in, out);
}

static int norm_image(const char *in, char **out)
{
    if (*in == '\0' || in[0] == '-' || strlen(in) > 255 || has_control_chars(in) ||
        strpbrk(in, " \t"))
        return -1;
    return dup_or_null(in, out);
}

static int norm_container_prefix(const char *in, char **out)
{
    size_t n = strlen(in);
    if (n == 0 || n > 40 || !isalnum((unsigned char)in[0]) || !all_chars_in(in, "_.-"))
        return -1;
    return dup_or_null(in, out);
}

static int norm_container_name(const char *in, char **out)
{
    if (*in == '\0') {
        *out = NULL;
        return 0;
    }
    if (strlen(in) > 128 || !isalnum((unsigned char)in[0]) || !all_chars_in(in, "_.-"))
        return -1;
    return dup_or_null(in, out);
}

static int norm_runtime(const char *in, char **out)
{
    if (*in == '\0') {
        *out = NULL;
        return 0;
    }
    if (strlen(in) > 64 || !all_chars_in(in, "_.-"))
        return -1;
    return dup_or_null(in, out);
}

static int norm_tool_name(const char *in, char **out)
{
    size_t n = strlen(in);
    if (n == 0 || n > 64 || !all_chars_in(in, "_.-"))
        return -1;
    return dup_or_null(in, out);
}

/* fallbackKeep: "all", or the key of a field that restricts something. */
static int norm_restriction_key(const char *in, char **out)
{
    if (strncmp(in, "sandbox.", 8) == 0)
        in += 8;
    const struct field *f = strcmp(in, "all") == 0 ? NULL : field_by_key(in);
    if (strcmp(in, "all") != 0 && (!f || !f->enforced))
        return -1;
    return dup_or_null(in, out);
}

static int norm_capability(const char *in, char **out)
{
    const char *name = strncasecmp(in, "CAP_", 4) == 0 ? in + 4 : in;
    size_t n = strlen(name);
    if (n == 0 || n > 32)
        return -1;
    char *up = malloc(n + 1);
    if (!up)
        return -1;
    for (size_t i = 0; i <= n; i++) {
        char c = (char)toupper((unsigned char)name[i]);
        if (c && !isupper((unsigned char)c) && c != '_') {
            free(up);
            return -1;
        }
        up[i] = c;
    }
    *out = up;
    return 0;
}

/* SRC[:DST]: SRC a host path, DST an absolute path inside the sandbox. A
 * colon always starts DST, so host paths with a colon cannot be mounted. */
/* SRC[:DST], and docker's SRC:DST:ro / SRC:DST:rw when the mode is the
 * one of the option (want: "ro" or "rw"); a contradicting mode is refused. */
static int norm_mount_as(const char *in, const char *want, char **out)
{
    if (*in == '\0')
        return -1;
    autofree char *copy = strdup(in);
    if (!copy)
        return -1;
    const char *last = strrchr(copy, ':');
    if (last && (strcmp(last + 1, "ro") == 0 || strcmp(last + 1, "rw") == 0)) {
        if (strcmp(last + 1, want) != 0)
            return -1;
        copy[last - copy] = '\0';
    }
    in = copy;
    const char *split = strrchr(in, ':');
    autofree char *src_text = split ? strndup(in, (size_t)(split - in)) : strdup(in);
    if (!src_text)
        return -1;
    autofree char *src = NULL, *dst = NULL;
    if (norm_host_path(src_text, &src) < 0)
        return -1;
    if (split && norm_sandbox_path(split + 1, &dst) < 0)
        return -1;
    if (!dst) {
        *out = steal_pointer(&src);
        return 0;
    }
    return asprintf(out, "%s:%s", src, dst) < 0 ? -1 : 0;
}

static int norm_mount_ro(const char *in, char **out)
{
    return norm_mount_as(in, "ro", out);
}

static int norm_mount_rw(const char *in, char **out)
{
    return norm_mount_as(in, "rw", out);
}

/* PATH[:OPTIONS], options as docker and mount(8) write them: size=64m,mode=1777 */
static int norm_tmpfs(const char *in, char **out)
{
    const char *colon = strchr(in, ':');
    autofree char *path_text = colon ? strndup(in, (size_t)(colon - in)) : strdup(in);
    if (!path_text)
        return -1;
    autofree char *path = NULL;
    if (norm_sandbox_path(path_text, &path) < 0 || strcmp(path, "/") == 0)
        return -1;
    if (!colon) {
        *out = steal_pointer(&path);
        return 0;
    }
    /* "_" for nr_inodes= and nr_blocks= (a tmpfs's own file and size caps). */
    if (colon[1] == '\0' || !all_chars_in(colon + 1, "=,_"))
        return -1;
    return asprintf(out, "%s:%s", path, colon + 1) < 0 ? -1 : 0;
}

/* Exact names and *.example.com (subdomains only), case-insensitive, with a
 * trailing dot dropped. IP literals are not domains. */
int norm_domain(const char *in, char **out)
{
    /* Every name (still through the proxy, which refuses local and private
     * addresses): the sandbox runtime's settings file says "*" for that. */
    if (strcmp(in, "*") == 0) {
        *out = strdup(in);
        return *out ? 0 : -1;
    }
    size_t n = strlen(in);
    if (n > 0 && in[n - 1] == '.')
        n--;
    if (n == 0 || n > 253)
        return -1;
    autofree char *d = strndup(in, n);
    if (!d)
        return -1;
    for (char *c = d; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    const char *name = d;
    if (strncmp(name, "*.", 2) == 0)
        name += 2;
    if (*name == '\0' || (name != d && !strchr(name, '.')))
        return -1; /* "*.com" would allow a whole top-level domain */
    const char *label = name;
    const char *last_label = name;
    for (;;) {
        const char *end = strchrnul(label, '.');
        size_t len = (size_t)(end - label);
        if (len == 0 || len > 63 || label[0] == '-' || end[-1] == '-')
            return -1;
        for (const char *c = label; c < end; c++)
            if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_')
                return -1;
        last_label = label;
        if (*end == '\0')
            break;
        label = end + 1;
    }
    bool numeric_tld = true;
    for (const char *c = last_label; *c; c++)
        if (!isdigit((unsigned char)*c))
            numeric_tld = false;
    if (numeric_tld)
        return -1;
    *out = steal_pointer(&d);
    return 0;
}

bool env_name_valid(const char *name, size_t len)
{
    if (len == 0 || isdigit((unsigned char)name[0]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_')
            return false;
    return true;
}

/* ---- the table ---------------------------------------------------------- */

static const char *const backend_choices[] = {"host", "spawn", "native", "docker", NULL};
static const char *const fallback_choices[] = {"none", "spawn", NULL};
static const char *const mode_choices[] = {"off", "non-main", "all", NULL};
static const char *const net_choices[] = {"none", "host", "bridge", "allow", NULL};

#define PER_RUN true
#define FIXED false
const struct field fields[FIELD_COUNT] = {
#define FIELD_ENTRY(id_, scope_, enforced_, key_, flag_, metavar_, storage_, member_, choices_, \
                    normalize_, expected_, shadow_, help_)                                     \
    [id_] = {.id = id_,                                                                        \
             .per_run = scope_,                                                                \
             .enforced = enforced_,                                                            \
             .key = key_,                                                                      \
             .flag = flag_,                                                                    \
             .metavar = metavar_,                                                              \
             .storage = storage_,                                                              \
             .offset = offsetof(struct hutch_policy, member_),                                 \
             .choices = choices_,                                                              \
             .normalize = normalize_,                                                          \
             .expected = expected_,                                                            \
             .shadow = shadow_,                                                                \
             .help = help_,                                                                    \
             .info = {key_, flag_, metavar_, expected_, help_, scope_, storage_ == S_BOOL}},
    HUTCH_FIELDS(FIELD_ENTRY)
#undef FIELD_ENTRY
};
#undef PER_RUN
#undef FIXED

const struct field *field_by_key(const char *key)
{
    for (size_t i = 0; i < FIELD_COUNT; i++)
        if (strcmp(fields[i].key, key) == 0)
            return &fields[i];
    return NULL;
}

const struct field *field_by_flag(const char *flag)
{
    for (size_t i = 0; i < FIELD_COUNT; i++)
        if (fields[i].flag && strcmp(fields[i].flag, flag) == 0)
            return &fields[i];
    return NULL;
}

bool field_group_exists(const char *group)
{
    size_t n = strlen(group);
    for (size_t i = 0; i < FIELD_COUNT; i++)
        if (strncmp(fields[i].key, group, n) == 0 && fields[i].key[n] == '.')
            return true;
    return false;
}

void field_group_children(const char *group, char *buf, size_t len)
{
    size_t n = strlen(group);
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < FIELD_COUNT; i++) {
        const char *key = fields[i].key;
        if (n > 0) {
            if (strncmp(key, group, n) != 0 || key[n] != '.')
                continue;
            key += n + 1;
        }
        size_t child_len = strcspn(key, ".");
        /* Groups repeat for each of their fields: list each name once. */
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            const char *other = fields[j].key;
            if (n > 0) {
                if (strncmp(other, group, n) != 0 || other[n] != '.')
                    continue;
                other += n + 1;
            }
            seen = strncmp(other, key, child_len) == 0 && strcspn(other, ".") == child_len;
        }
        if (seen)
            continue;
        if (!fmt_append(buf, len, &used, "%s%.*s", used ? ", " : "", (int)child_len, key))
            return; /* whole names, as many as fit */
    }
}

/* ---- setting values ----------------------------------------------------- */

#define FIELD_PTR(p, f, type) ((type *)(void *)((char *)(p) + (f)->offset))
#define FIELD_CPTR(p, f, type) ((const type *)(const void *)((const char *)(p) + (f)->offset))

void quote_for_message(const char *text, size_t len, char *buf, size_t buflen)
{
    /* For a message: cut on purpose (at shown_max, or where buf ends). */
    size_t used = 0;
    const size_t shown_max = 60;
    buf[used++] = '"';
    for (size_t i = 0; i < len && used + 8 < buflen; i++) {
        if (i == shown_max) {
            used += fmt_trunc(buf + used, buflen - used, "...");
            break;
        }
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\')
            used += fmt_trunc(buf + used, buflen - used, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            used += fmt_trunc(buf + used, buflen - used, "\\x%02x", c);
        else
            buf[used++] = (char)c;
    }
    buf[used++] = '"';
    buf[used] = '\0';
}

static int invalid_text(const struct field *f, const char *text, const char *where,
                        hutch_error *err)
{
    char shown[128];
    quote_for_message(text, strlen(text), shown, sizeof shown);
    return error_set(err, HUTCH_E_INVALID, "%s: %s is not %s", where, shown, f->expected);
}

static void mark_set(struct hutch_policy *p, const struct field *f)
{
    p->set[f->id] = true;
}

/* A flag overrides the docker-specific value of the same setting. */
static void reset_shadow(struct hutch_policy *p, const struct field *f)
{
    if (f->shadow < 0)
        return;
    const struct field *s = &fields[f->shadow];
    if (s->storage == S_STRING) {
        char **slot = FIELD_PTR(p, s, char *);
        free(*slot);
        *slot = NULL;
    }
    p->set[s->id] = false;
}

/* An allowlist without an explicit network mode means mode allow, as in the
 * settings files of the bubblewrap-based agent sandbox runtime. */
static void infer_from(struct hutch_policy *p, const struct field *f)
{
    if (f->id == F_NET_ALLOWED && !p->set[F_NET_MODE])
        p->network.mode = p->network.allowed_domains.len ? NET_ALLOW : NET_NONE;
    /* An adopted container implies the docker backend. */
    if (f->id == F_DOCKER_CONTAINER && p->docker.container && !p->set[F_BACKEND])
        p->backend = BACKEND_DOCKER;
}

/* Limits below which no sandbox can start, refused when they are set so
 * that the message names the key (docs/config.md, "Value forms"): 6m is
 * Docker's own least memory, and a native sandbox's init needs 2 processes
 * (itself and the command); cgroups and Docker take CPU shares from 0.01. */
#define MEMORY_FLOOR (6u * 1024 * 1024)
#define PIDS_FLOOR 2
#define CPUS_FLOOR 0.01

static int check_floor(const struct hutch_policy *p, const struct field *f, const char *where,
                       hutch_error *err)
{
    if (f->id == F_LIMIT_MEMORY && p->limits.memory && p->limits.memory < MEMORY_FLOOR) {
        char shown[UNITS_TEXT_MAX];
        if (!format_size(p->limits.memory, shown, sizeof shown))
            shown[0] = '\0';
        bool bare = p->limits.memory < 1024 * 1024 && !strpbrk(shown, "kmgt");
        return error_set(err, HUTCH_E_INVALID,
                         "%s: %s%s is too little memory for a sandbox to start (the least is "
                         "6m; 0 = no limit)%s%s%s",
                         where, shown, bare ? " bytes" : "",
                         bare ? ": a bare number is bytes; for MiB write \"" : "",
                         bare ? shown : "", bare ? "m\"" : "");
    }
    if (f->id == F_LIMIT_PIDS && p->limits.pids && p->limits.pids < PIDS_FLOOR)
        return error_set(err, HUTCH_E_INVALID,
                         "%s: %llu is too few processes for a sandbox (the least is %d: its init "
                         "and the command; 0 = no limit)",
                         where, (unsigned long long)p->limits.pids, PIDS_FLOOR);
    if (f->id == F_LIMIT_CPUS && p->limits.cpus > 0 && p->limits.cpus < CPUS_FLOOR)
        return error_set(err, HUTCH_E_INVALID,
                         "%s: %g is less CPU than a sandbox can be given (the least is 0.01; 0 = "
                         "no limit)",
                         where, p->limits.cpus);
    return 0;
}

static int set_enum(struct hutch_policy *p, const struct field *f, const char *text,
                    const char *where, hutch_error *err)
{
    for (int i = 0; f->choices[i]; i++)
        if (strcmp(f->choices[i], text) == 0) {
            *FIELD_PTR(p, f, int) = i;
            return 0;
        }
    return invalid_text(f, text, where, err);
}

/* --net allow:a.com,b.org sets the mode and replaces the allowlist. */
static int set_net_allow(struct hutch_policy *p, const struct field *f, const char *list,
                         const char *where, hutch_error *err)
{
    struct strlist domains = {0};
    const char *item = list;
    for (;;) {
        const char *end = strchrnul(item, ',');
        autofree char *one = strndup(item, (size_t)(end - item));
        char *norm = NULL;
        if (!one || norm_domain(one, &norm) < 0) {
            strlist_clear(&domains);
            char shown[128];
            quote_for_message(item, (size_t)(end - item), shown, sizeof shown);
            return error_set(err, HUTCH_E_INVALID,
                             "%s: %s is not a domain like example.com or *.example.com", where,
                             shown);
        }
        if (strlist_push_owned(&domains, norm) < 0) {
            strlist_clear(&domains);
            return error_set(err, HUTCH_E_SYSTEM, "out of memory");
        }
        if (*end == '\0')
            break;
        item = end + 1;
    }
    strlist_clear(&p->network.allowed_domains);
    p->network.allowed_domains = domains;
    p->network.mode = NET_ALLOW;
    p->set[F_NET_ALLOWED] = true;
    (void)f;
    return 0;
}

static int set_env_entry(struct strlist *env, const char *name, size_t name_len,
                         const char *value, const char *where, const char *shown_text,
                         hutch_error *err)
{
    if (!env_name_valid(name, name_len)) {
        char shown[128];
        quote_for_message(shown_text, strlen(shown_text), shown, sizeof shown);
        return error_set(err, HUTCH_E_INVALID,
                         "%s: %s is not NAME=VALUE with NAME made of letters, digits and _",
                         where, shown);
    }
    if (strlist_set_env(env, name, name_len, value) < 0)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    return 0;
}

/* --sandbox docker:NAME adopts a container; --sandbox host runs on the host. */
static int set_sandbox_target(struct hutch_policy *p, const char *text, const char **name)
{
    *name = text;
    if (strcmp(text, "host") == 0) {
        p->backend = BACKEND_HOST;
        p->set[F_BACKEND] = true;
        *name = "";
    } else if (strncmp(text, "docker:", 7) == 0) {
        *name = text + 7;
        if (**name == '\0')
            return -1;
    }
    if (**name) {
        p->backend = BACKEND_DOCKER;
        p->set[F_BACKEND] = true;
    }
    return 0;
}

/* The --sandbox flag: a backend by name, as agent harnesses write it
 * (none is the host, with a warning: it isolates nothing), or docker:NAME to
 * adopt an existing container. */
int field_set_sandbox_flag(struct hutch_policy *p, const char *text, hutch_error *err)
{
    static const struct {
        const char *word;
        int backend;
    } words[] = {
        {"none", BACKEND_HOST},     {"host", BACKEND_HOST},     {"spawn", BACKEND_SPAWN},
        {"native", BACKEND_NATIVE}, {"docker", BACKEND_DOCKER},
    };
    const struct field *backend = &fields[F_BACKEND], *container = &fields[F_DOCKER_CONTAINER];
    for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
        if (strcmp(text, words[i].word) != 0)
            continue;
        if (field_set_text(p, backend, backend_choices[words[i].backend], "--sandbox", err) < 0)
            return -1;
        /* A backend, not a container: no file's adopted container stays. */
        free(p->docker.container);
        p->docker.container = NULL;
        p->set[F_DOCKER_CONTAINER] = false;
        if (strcmp(text, "none") == 0)
            policy_add_warning(p, "--sandbox none: commands run on the host with no isolation "
                                  "at all (the host backend)");
        return 0;
    }
    if (strncmp(text, "docker:", 7) == 0 && text[7] != '\0')
        return field_set_text(p, container, text, "--sandbox", err);
    char shown[128];
    quote_for_message(text, strlen(text), shown, sizeof shown);
    return error_set(err, HUTCH_E_INVALID,
                     "--sandbox: %s is not one of none (the host, unisolated), host, spawn, "
                     "native, docker, or docker:NAME (an existing container to adopt)",
                     shown);
}

int field_set_text(struct hutch_policy *p, const struct field *f, const char *text,
                   const char *where, hutch_error *err)
{
    if (f->id == F_DOCKER_CONTAINER && set_sandbox_target(p, text, &text) < 0)
        return invalid_text(f, "docker:", where, err);
    switch (f->storage) {
    case S_ENUM:
        if (f->id == F_NET_MODE && strncmp(text, "allow:", 6) == 0) {
            if (set_net_allow(p, f, text + 6, where, err) < 0)
                return -1;
            break;
        }
        if (f->id == F_NET_MODE && strcmp(text, "allow") == 0)
            return error_set(err, HUTCH_E_INVALID,
                             "%s: \"allow\" needs domains: write allow:DOMAIN[,DOMAIN...]", where);
        if (set_enum(p, f, text, where, err) < 0)
            return -1;
        if (f->id == F_NET_MODE) {
            /* The flag states the whole network policy: a file's allowlist goes. */
            strlist_clear(&p->network.allowed_domains);
            p->set[F_NET_ALLOWED] = false;
        }
        break;
    case S_STRING: {
        char *norm = NULL;
        if (f->normalize(text, &norm) < 0)
            return invalid_text(f, text, where, err);
        char **slot = FIELD_PTR(p, f, char *);
        free(*slot);
        *slot = norm;
        break;
    }
    case S_BOOL:
        if (strcmp(text, "true") == 0)
            *FIELD_PTR(p, f, bool) = true;
        else if (strcmp(text, "false") == 0)
            *FIELD_PTR(p, f, bool) = false;
        else
            return invalid_text(f, text, where, err);
        break;
    case S_SIZE:
        if (parse_size(text, FIELD_PTR(p, f, uint64_t)) < 0)
            return invalid_text(f, text, where, err);
        break;
    case S_DURATION:
        if (parse_duration_ms(text, FIELD_PTR(p, f, uint64_t)) < 0)
            return invalid_text(f, text, where, err);
        break;
    case S_COUNT:
        if (parse_count(text, FIELD_PTR(p, f, uint64_t)) < 0)
            return invalid_text(f, text, where, err);
        break;
    case S_CPUS:
        if (parse_cpus(text, FIELD_PTR(p, f, double)) < 0)
            return invalid_text(f, text, where, err);
        break;
    case S_NUMBER:
        if (parse_number(text, FIELD_PTR(p, f, double)) < 0)
            return invalid_text(f, text, where, err);
        break;
    case S_LIST: {
        char *norm = NULL;
        if (f->normalize(text, &norm) < 0 || !norm) {
            free(norm);
            return invalid_text(f, text, where, err);
        }
        struct strlist *list = FIELD_PTR(p, f, struct strlist);
        if (strlist_contains(list, norm)) {
            free(norm);
        } else if (strlist_push_owned(list, norm) < 0) {
            return error_set(err, HUTCH_E_SYSTEM, "out of memory");
        }
        break;
    }
    case S_ENV: {
        const char *eq = strchr(text, '=');
        size_t name_len = eq ? (size_t)(eq - text) : strlen(text);
        const char *value = eq ? eq + 1 : NULL;
        if (!eq) {
            autofree char *name = strndup(text, name_len);
            value = name && env_name_valid(name, name_len) ? getenv(name) : NULL;
            if (name && env_name_valid(name, name_len) && !value)
                return error_set(err, HUTCH_E_INVALID,
                                 "%s: %s is not set in hutch's environment; give a value "
                                 "with %s %s=VALUE",
                                 where, name, where, name);
        }
        if (set_env_entry(FIELD_PTR(p, f, struct strlist), text, name_len, value ? value : "",
                          where, text, err) < 0)
            return -1;
        break;
    }
    }
    if (check_floor(p, f, where, err) < 0)
        return -1;
    mark_set(p, f);
    reset_shadow(p, f);
    infer_from(p, f);
    return 0;
}

static void describe_json(json_t *value, char *buf, size_t len)
{
    if (json_is_string(value)) {
        quote_for_message(json_string_value(value), json_string_length(value), buf, len);
        return;
    }
    autofree char *dumped = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    /* For a message: cut on purpose. */
    if (!dumped) {
        fmt_trunc(buf, len, "this value");
        return;
    }
    if (strlen(dumped) > 60)
        fmt_trunc(buf, len, "%.57s...", dumped);
    else
        fmt_trunc(buf, len, "%s", dumped);
}

static int invalid_json(const struct field *f, json_t *value, const char *where,
                        const char *expected, hutch_error *err)
{
    char shown[128];
    describe_json(value, shown, sizeof shown);
    return error_set(err, HUTCH_E_INVALID, "%s: %s is not %s", where, shown,
                     expected ? expected : f->expected);
}

/* A JSON string that holds no NUL byte, as a C string; NULL otherwise. */
static const char *plain_string(json_t *value)
{
    if (!json_is_string(value))
        return NULL;
    const char *s = json_string_value(value);
    return strlen(s) == json_string_length(value) ? s : NULL;
}

static int set_list_json(struct hutch_policy *p, const struct field *f, json_t *value,
                         const char *where, hutch_error *err)
{
    if (!json_is_array(value))
        return invalid_json(f, value, where, "a list of strings", err);
    struct strlist fresh = {0};
    size_t i;
    json_t *item;
    json_array_foreach(value, i, item) {
        const char *text = plain_string(item);
        char *norm = NULL;
        if (!text || f->normalize(text, &norm) < 0 || !norm) {
            free(norm);
            strlist_clear(&fresh);
            char item_where[256];
            fmt_trunc(item_where, sizeof item_where, "%s[%zu]", where, i); /* for messages */
            return invalid_json(f, item, item_where, NULL, err);
        }
        if (strlist_contains(&fresh, norm)) {
            free(norm);
            continue;
        }
        if (strlist_push_owned(&fresh, norm) < 0) {
            strlist_clear(&fresh);
            return error_set(err, HUTCH_E_SYSTEM, "out of memory");
        }
    }
    struct strlist *list = FIELD_PTR(p, f, struct strlist);
    strlist_clear(list);
    *list = fresh;
    return 0;
}

static int set_env_json(struct hutch_policy *p, const struct field *f, json_t *value,
                        const char *where, hutch_error *err)
{
    if (!json_is_object(value))
        return invalid_json(f, value, where, "an object of NAME: \"VALUE\" strings", err);
    struct strlist fresh = {0};
    const char *name;
    json_t *item;
    json_object_foreach(value, name, item) {
        char item_where[256];
        fmt_trunc(item_where, sizeof item_where, "%s.%s", where, name); /* for messages */
        const char *text = plain_string(item);
        if (!text) {
            strlist_clear(&fresh);
            return invalid_json(f, item, item_where, "a string without NUL bytes", err);
        }
        if (set_env_entry(&fresh, name, strlen(name), text, where, name, err) < 0) {
            strlist_clear(&fresh);
            return -1;
        }
    }
    struct strlist *list = FIELD_PTR(p, f, struct strlist);
    strlist_clear(list);
    *list = fresh;
    return 0;
}

int field_set_json(struct hutch_policy *p, const struct field *f, json_t *value,
                   const char *where, hutch_error *err)
{
    switch (f->storage) {
    case S_LIST:
        if (set_list_json(p, f, value, where, err) < 0)
            return -1;
        break;
    case S_ENV:
        if (set_env_json(p, f, value, where, err) < 0)
            return -1;
        break;
    case S_BOOL:
        if (!json_is_boolean(value))
            return invalid_json(f, value, where, NULL, err);
        *FIELD_PTR(p, f, bool) = json_is_true(value);
        break;
    case S_SIZE:
    case S_COUNT:
        if (json_is_integer(value)) {
            if (json_integer_value(value) < 0)
                return invalid_json(f, value, where, NULL, err);
            *FIELD_PTR(p, f, uint64_t) = (uint64_t)json_integer_value(value);
            break;
        }
        if (!plain_string(value))
            return invalid_json(f, value, where, NULL, err);
        if (f->storage == S_SIZE ? parse_size(json_string_value(value), FIELD_PTR(p, f, uint64_t))
                                 : parse_count(json_string_value(value), FIELD_PTR(p, f, uint64_t)))
            return invalid_json(f, value, where, NULL, err);
        break;
    case S_DURATION:
        if (json_is_number(value)) {
            if (seconds_to_ms(json_number_value(value), FIELD_PTR(p, f, uint64_t)) < 0)
                return invalid_json(f, value, where, NULL, err);
            break;
        }
        if (!plain_string(value) ||
            parse_duration_ms(json_string_value(value), FIELD_PTR(p, f, uint64_t)) < 0)
            return invalid_json(f, value, where, NULL, err);
        break;
    case S_CPUS:
    case S_NUMBER: {
        double v;
        if (json_is_number(value)) {
            v = json_number_value(value);
            if (!(v >= 0) || (f->storage == S_CPUS && v > 1024) || v > 1e12)
                return invalid_json(f, value, where, NULL, err);
        } else if (!plain_string(value) ||
                   (f->storage == S_CPUS ? parse_cpus(json_string_value(value), &v)
                                         : parse_number(json_string_value(value), &v)) < 0) {
            return invalid_json(f, value, where, NULL, err);
        }
        *FIELD_PTR(p, f, double) = v;
        break;
    }
    case S_ENUM:
    case S_STRING: {
        const char *text = plain_string(value);
        if (!text)
            return invalid_json(f, value, where, NULL, err);
        if (f->storage == S_ENUM) {
            if (set_enum(p, f, text, where, err) < 0)
                return -1;
        } else {
            char *norm = NULL;
            if (f->normalize(text, &norm) < 0)
                return invalid_json(f, value, where, NULL, err);
            char **slot = FIELD_PTR(p, f, char *);
            free(*slot);
            *slot = norm;
        }
        break;
    }
    }
    if (check_floor(p, f, where, err) < 0)
        return -1;
    mark_set(p, f);
    infer_from(p, f);
    return 0;
}

/* Text jansson would write as it is, between quotes. */
static bool plain_ascii(const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\')
            return false;
    return true;
}

static const char *quoted(const char *s, char *buf, size_t len)
{
    return plain_ascii(s) && str_join_fits(buf, len, "\"", s, "\"", NULL) ? buf : NULL;
}

static const char *integer_text(long long v, char *buf, size_t len)
{
    char *end = buf + len - 1, *at = end;
    unsigned long long u = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;
    *end = '\0';
    do
        *--at = (char)('0' + u % 10);
    while ((u /= 10) && at > buf + 1);
    if (v < 0)
        *--at = '-';
    return at;
}

const char *field_plain_json(const struct hutch_policy *p, const struct field *f, char *buf,
                              size_t len)
{
    switch (f->storage) {
    case S_BOOL:
        return *FIELD_CPTR(p, f, bool) ? "true" : "false";
    case S_COUNT:
        return integer_text((long long)*FIELD_CPTR(p, f, uint64_t), buf, len);
    case S_DURATION: {
        uint64_t ms = *FIELD_CPTR(p, f, uint64_t);
        return ms % 1000 ? NULL : integer_text((long long)(ms / 1000), buf, len);
    }
    case S_ENUM:
        return quoted(f->choices[*FIELD_CPTR(p, f, int)], buf, len);
    case S_STRING: {
        const char *s = *FIELD_CPTR(p, f, char *);
        return quoted(s ? s : "", buf, len);
    }
    case S_SIZE: {
        char size[UNITS_TEXT_MAX];
        return format_size(*FIELD_CPTR(p, f, uint64_t), size, sizeof size)
                   ? quoted(size, buf, len)
                   : NULL;
    }
    case S_LIST:
        return FIELD_CPTR(p, f, struct strlist)->len ? NULL : "[]";
    case S_ENV:
        return FIELD_CPTR(p, f, struct strlist)->len ? NULL : "{}";
    case S_CPUS:
    case S_NUMBER:
        return NULL;
    }
    return NULL;
}

json_t *field_to_json(const struct hutch_policy *p, const struct field *f)
{
    switch (f->storage) {
    case S_ENUM:
        return json_string(f->choices[*FIELD_CPTR(p, f, int)]);
    case S_STRING: {
        const char *s = *FIELD_CPTR(p, f, char *);
        return json_string(s ? s : "");
    }
    case S_BOOL:
        return json_boolean(*FIELD_CPTR(p, f, bool));
    case S_SIZE: {
        char buf[UNITS_TEXT_MAX];
        if (!format_size(*FIELD_CPTR(p, f, uint64_t), buf, sizeof buf))
            return NULL;
        return json_string(buf);
    }
    case S_DURATION: {
        uint64_t ms = *FIELD_CPTR(p, f, uint64_t);
        if (ms % 1000 == 0)
            return json_integer((json_int_t)(ms / 1000));
        return json_real((double)ms / 1000.0);
    }
    case S_COUNT:
        return json_integer((json_int_t)*FIELD_CPTR(p, f, uint64_t));
    case S_CPUS:
    case S_NUMBER:
        return json_real(*FIELD_CPTR(p, f, double));
    case S_LIST: {
        const struct strlist *list = FIELD_CPTR(p, f, struct strlist);
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < list->len; i++)
            json_array_append_new(arr, json_string(list->items[i]));
        return arr;
    }
    case S_ENV: {
        const struct strlist *list = FIELD_CPTR(p, f, struct strlist);
        json_t *obj = json_object();
        for (size_t i = 0; obj && i < list->len; i++) {
            const char *eq = strchr(list->items[i], '=');
            autofree char *name = strndup(list->items[i], (size_t)(eq - list->items[i]));
            if (name)
                json_object_set_new(obj, name, json_string(eq + 1));
        }
        return obj;
    }
    }
    return NULL;
}
