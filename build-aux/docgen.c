/* docgen: hutch's man pages, shell completions and sample config, written at
 * build time from the very texts `hutch help` prints (src/cli/help.c) and
 * the config schema (hutch_policy_key_at, src/policy/fields_list.h), so that
 * what is installed cannot drift from the program (docs/install.md).
 *
 *   docgen man OUTDIR      hutch.1, hutch-COMMAND.1 for every command that
 *                          `hutch help` lists, and hutch-config.5
 *   docgen bash FILE       bash completion
 *   docgen zsh FILE        zsh completion (_hutch)
 *   docgen fish FILE       fish completion
 *   docgen sample FILE     the commented sample config
 *
 * The help texts are laid out like manual pages (NAME, SYNOPSIS, ...; text
 * indented by 4, option bodies by 8); that layout is turned into roff here.
 * The completions take the commands from COMMANDS of `hutch help`, each
 * command's subcommands and arguments from its SYNOPSIS, its options from
 * every --option its help names (all POLICY options where it takes POLICY),
 * the values of POLICY options from the schema, and the tool names from the
 * tools' definitions. Offline and deterministic: nothing here depends on the
 * machine, the user or the time (the date of the pages is SOURCE_DATE_EPOCH's
 * when it is set, else none). */
#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "session/tool_schema.h"

/* ---- small helpers -------------------------------------------------------- */

__attribute__((noreturn)) static void die(const char *what)
{
    fprintf(stderr, "docgen: %s\n", what);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        die("out of memory");
    return p;
}

static char *xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (!p)
        die("out of memory");
    return p;
}

/* A growing list of strings, owned. */
struct list {
    char **items;
    size_t n, cap;
};

static void list_add(struct list *l, const char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->items = realloc(l->items, l->cap * sizeof *l->items);
        if (!l->items)
            die("out of memory");
    }
    l->items[l->n++] = xstrdup(s);
}

static bool list_has(const struct list *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i], s) == 0)
            return true;
    return false;
}

static void list_add_unique(struct list *l, const char *s)
{
    if (!list_has(l, s))
        list_add(l, s);
}

static void list_free(struct list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = l->cap = 0;
}

/* The items joined by sep, newly allocated. */
static char *list_join(const struct list *l, const char *sep)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        die("out of memory");
    for (size_t i = 0; i < l->n; i++)
        fprintf(m, "%s%s", i ? sep : "", l->items[i]);
    fclose(m);
    return buf;
}

static FILE *open_out(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "docgen: cannot write %s\n", path);
        exit(1);
    }
    return f;
}

static void close_out(FILE *f, const char *path)
{
    if (ferror(f) || fclose(f) != 0) {
        fprintf(stderr, "docgen: cannot write %s\n", path);
        exit(1);
    }
}

/* ---- the help texts ---------------------------------------------------------- */

/* `hutch help TOPIC` (NULL: `hutch help`), as printed. */
static char *help_text(const char *topic)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        die("out of memory");
    if (!topic)
        help_overview(m);
    else if (help_topic(topic, m) < 0)
        die("a topic hutch help does not know");
    fclose(m);
    return buf;
}

struct section {
    char *title;
    struct list lines; /* as printed, indentation kept */
};

struct page {
    struct section *sections;
    size_t n;
};

static struct page parse_help(const char *text)
{
    struct page p = {0};
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char *copy = xstrndup(line, len);
        if (copy[0] && copy[0] != ' ') {
            p.sections = realloc(p.sections, (p.n + 1) * sizeof *p.sections);
            if (!p.sections)
                die("out of memory");
            p.sections[p.n] = (struct section){.title = copy};
            p.n++;
        } else {
            if (p.n == 0)
                die("help text without a section heading");
            list_add(&p.sections[p.n - 1].lines, copy);
            free(copy);
        }
        line += len + (end ? 1 : 0);
    }
    return p;
}

static void page_free(struct page *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->sections[i].title);
        list_free(&p->sections[i].lines);
    }
    free(p->sections);
    p->sections = NULL;
    p->n = 0;
}

static const struct section *page_section(const struct page *p, const char *title)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->sections[i].title, title) == 0)
            return &p->sections[i];
    return NULL;
}

static int indent_of(const char *line)
{
    int i = 0;
    while (line[i] == ' ')
        i++;
    return line[i] ? i : -1; /* -1: blank */
}

/* The commands of `hutch help` (COMMANDS: "    NAME   Description."). */
struct command {
    char *name;
    char *summary;
};

static size_t overview_commands(struct command *out, size_t max)
{
    char *text = help_text(NULL);
    struct page p = parse_help(text);
    const struct section *s = page_section(&p, "COMMANDS");
    if (!s)
        die("hutch help has no COMMANDS");
    size_t n = 0;
    for (size_t i = 0; i < s->lines.n; i++) {
        const char *l = s->lines.items[i];
        if (indent_of(l) != 4)
            continue;
        const char *name = l + 4, *gap = strstr(name, "  ");
        if (!gap || strchr(name, ' ') != gap)
            continue;
        const char *summary = gap;
        while (*summary == ' ')
            summary++;
        if (n == max)
            die("too many commands");
        out[n].name = xstrndup(name, (size_t)(gap - name));
        out[n].summary = xstrdup(summary);
        n++;
    }
    page_free(&p);
    free(text);
    if (n == 0)
        die("no commands in hutch help's COMMANDS");
    return n;
}

/* ---- roff -------------------------------------------------------------------- */

/* Text for roff: backslashes and hyphens escaped, a leading . or ' defused. */
static void roff(FILE *out, const char *s, size_t len, bool line_start)
{
    for (size_t i = 0; i < len && s[i]; i++) {
        char c = s[i];
        if (line_start && (c == '.' || c == '\''))
            fputs("\\&", out);
        line_start = false;
        if (c == '\\')
            fputs("\\e", out);
        else if (c == '-')
            fputs("\\-", out);
        else
            fputc(c, out);
    }
}

static void roff_str(FILE *out, const char *s, bool line_start)
{
    roff(out, s, strlen(s), line_start);
}

static bool is_placeholder(const char *w, size_t len)
{
    /* KEY, SIZE, 'SHELL, STRING', ARG..., UID[:GID], SRC[:DST] */
    size_t upper = 0;
    for (size_t i = 0; i < len; i++) {
        if (isupper((unsigned char)w[i]))
            upper++;
        else if (islower((unsigned char)w[i]))
            return false;
    }
    return upper > 0;
}

/* An option's tag: -x and --xyz bold, placeholders italic. */
static void roff_tag(FILE *out, const char *tag)
{
    const char *w = tag;
    bool first = true;
    while (*w) {
        size_t len = strcspn(w, " ");
        size_t core = len;
        while (core > 0 && (w[core - 1] == ',' || w[core - 1] == ')'))
            core--;
        const char *font = w[0] == '-' ? "\\fB" : is_placeholder(w, core) ? "\\fI" : NULL;
        if (font) {
            fputs(font, out);
            roff(out, w, core, first);
            fputs("\\fR", out);
            roff(out, w + core, len - core, false);
        } else {
            roff(out, w, len, first);
        }
        first = false;
        w += len;
        while (*w == ' ') {
            fputc(' ', out);
            w++;
        }
    }
    fputc('\n', out);
}

/* Lines [from, to) joined into one filled paragraph. */
static void roff_paragraph(FILE *out, const struct list *lines, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        const char *l = lines->items[i];
        l += strspn(l, " ");
        if (i > from)
            fputc(' ', out);
        roff_str(out, l, i == from);
    }
    fputc('\n', out);
}

/* Lines [from, to) as they are, indented relative to their least indent. */
static void roff_verbatim(FILE *out, const struct list *lines, size_t from, size_t to, int base)
{
    fputs(".RS 4\n.nf\n", out);
    for (size_t i = from; i < to; i++) {
        const char *l = lines->items[i];
        int ind = indent_of(l);
        if (ind < 0) {
            fputc('\n', out);
            continue;
        }
        for (int k = base; k < ind; k++)
            fputc(' ', out);
        roff_str(out, l + ind, ind <= base);
        fputc('\n', out);
    }
    fputs(".fi\n.RE\n", out);
}

/* SYNOPSIS: one line each, the command words bold. */
static void roff_synopsis(FILE *out, const struct section *s)
{
    fputs(".nf\n", out);
    for (size_t i = 0; i < s->lines.n; i++) {
        const char *l = s->lines.items[i];
        if (indent_of(l) < 0)
            continue;
        l += strspn(l, " ");
        bool first = true;
        while (*l) {
            size_t len = strcspn(l, " ");
            bool word = islower((unsigned char)l[0]);
            for (size_t k = 0; k < len && word; k++)
                word = islower((unsigned char)l[k]) || l[k] == '|' || l[k] == '-';
            if (word)
                fputs("\\fB", out);
            roff(out, l, len, first);
            if (word)
                fputs("\\fR", out);
            first = false;
            l += len;
            while (*l == ' ') {
                fputc(' ', out);
                l++;
            }
        }
        fputc('\n', out);
    }
    fputs(".fi\n", out);
}

/* A tagged paragraph at line i, or false: an option (a line at 4 starting
 * with -, its text at 8 below), a hanging row (a tag at 4, its text starting
 * further right and going on below at that column: BACKENDS) or a row of a
 * two-column table ("    name   text": COMMANDS). *tag_len is the tag's
 * length after the indent, *first the text on the tag's own line (or NULL),
 * *col the column of the lines below that belong to it (0: none). */
static bool tag_at(const struct list *L, size_t i, size_t *tag_len, const char **first, int *col)
{
    const char *l = L->items[i], *t = l + 4;
    int next = i + 1 < L->n ? indent_of(L->items[i + 1]) : -1;
    if (t[0] == '-' && next == 8) {
        *tag_len = strlen(t);
        *first = NULL;
        *col = 8;
        return true;
    }
    if (next > 8 && (int)strlen(l) > next && l[next - 1] == ' ' && l[next] != ' ') {
        *tag_len = (size_t)(next - 4);
        *first = l + next;
        *col = next;
        return true;
    }
    const char *gap = strstr(t, "  ");
    if (gap && strchr(t, ' ') == gap && gap[strspn(gap, " ")] && (next < 0 || next == 4)) {
        *tag_len = (size_t)(gap - t);
        *first = gap + strspn(gap, " ");
        *col = 0;
        return true;
    }
    return false;
}

/* A section's body: paragraphs (indent 4) filled, tagged paragraphs (tag_at)
 * as .TP, anything indented deeper verbatim. */
static void roff_body(FILE *out, const struct section *s)
{
    const struct list *L = &s->lines;
    bool tagged = false, broke = false, started = false;
    size_t i = 0;
    while (i < L->n) {
        const char *l = L->items[i];
        int ind = indent_of(l);
        if (ind < 0) {
            broke = true;
            i++;
            continue;
        }
        size_t tag_len;
        const char *first;
        int col;
        if (ind == 4 && tag_at(L, i, &tag_len, &first, &col)) {
            char *tag = xstrndup(l + 4, tag_len);
            for (size_t e = strlen(tag); e > 0 && tag[e - 1] == ' '; e--)
                tag[e - 1] = '\0';
            fputs(".TP\n", out);
            if (tag[0] == '-') {
                roff_tag(out, tag);
            } else {
                fputs("\\fB", out);
                roff_str(out, tag, false);
                fputs("\\fR\n", out);
            }
            free(tag);
            bool any = false;
            if (first && *first) {
                roff_str(out, first, true);
                any = true;
            }
            for (i++; col && i < L->n && indent_of(L->items[i]) == col; i++) {
                if (any)
                    fputc(' ', out);
                roff_str(out, L->items[i] + col, !any);
                any = true;
            }
            fputc('\n', out);
            tagged = true;
            broke = false;
            started = true;
            continue;
        }
        if (ind == 4) {
            size_t end = i + 1;
            while (end < L->n && indent_of(L->items[end]) == 4 && !tag_at(L, end, &tag_len, &first, &col))
                end++;
            if (started && (broke || tagged))
                fputs(".PP\n", out);
            roff_paragraph(out, L, i, end);
            i = end;
            tagged = broke = false;
            started = true;
            continue;
        }
        /* deeper: verbatim, until the next blank line or line at 4 */
        size_t end = i;
        int base = ind;
        while (end < L->n && indent_of(L->items[end]) > 4) {
            if (indent_of(L->items[end]) < base)
                base = indent_of(L->items[end]);
            end++;
        }
        if (tagged || (started && broke))
            fputs(".PP\n", out);
        tagged = false;
        roff_verbatim(out, L, i, end, base);
        i = end;
        broke = false;
        started = true;
    }
}

static char page_date[32];

static void set_page_date(void)
{
    const char *epoch = getenv("SOURCE_DATE_EPOCH");
    if (!epoch || !*epoch)
        return;
    char *end;
    time_t t = (time_t)strtoll(epoch, &end, 10);
    struct tm tm;
    if (*end || !gmtime_r(&t, &tm) || !strftime(page_date, sizeof page_date, "%Y-%m-%d", &tm))
        page_date[0] = '\0';
}

static void roff_header(FILE *out, const char *name, int section)
{
    fprintf(out, ".\\\" Generated by build-aux/docgen.c from hutch's help texts and config\n"
                 ".\\\" schema: edit those, not this file.\n");
    fputs(".TH \"", out);
    for (const char *c = name; *c; c++)
        if (*c == '-')
            fputs("\\-", out);
        else
            fputc(toupper((unsigned char)*c), out);
    fprintf(out, "\" \"%d\" \"%s\" \"hutch %s\" \"hutch manual\"\n", section, page_date,
            hutch_version());
    /* no hyphenation of keys and paths, ragged right */
    fputs(".nh\n.ad l\n", out);
}

static void roff_see_also(FILE *out, const char *self, const struct command *cmds, size_t n)
{
    fputs(".SH SEE ALSO\n", out);
    struct list refs = {0};
    if (strcmp(self, "hutch") != 0)
        list_add(&refs, ".BR hutch (1)");
    if (strcmp(self, "hutch") == 0) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(cmds[i].name, "help") == 0)
                continue;
            char *r;
            if (asprintf(&r, ".BR hutch\\-%s (1)", cmds[i].name) < 0)
                die("out of memory");
            list_add(&refs, r);
            free(r);
        }
    } else if (strcmp(self, "hutch-config") == 0) {
        list_add(&refs, ".BR hutch\\-run (1)");
    }
    list_add(&refs, ".BR hutch\\-config (5)");
    for (size_t i = 0; i < refs.n; i++)
        fprintf(out, "%s%s\n", refs.items[i], i + 1 < refs.n ? "," : "");
    fprintf(out, ".PP\nThe documentation in\n.IR %s/ :\nREADME.md and docs/*.md.\n",
            HUTCH_DOCDIR);
    list_free(&refs);
}

/* A page from a help text. */
static void man_from_help(FILE *out, const char *page_name, const char *help, bool overview)
{
    struct page p = parse_help(help);
    roff_header(out, page_name, 1);
    for (size_t i = 0; i < p.n; i++) {
        const struct section *s = &p.sections[i];
        fputs(".SH ", out);
        roff_str(out, s->title, false);
        fputc('\n', out);
        if (strcmp(s->title, "NAME") == 0) {
            /* "hutch run - what": "hutch-run \- what" */
            const char *l = s->lines.items[0] + 4, *dash = strstr(l, " - ");
            if (!dash)
                die("NAME without ' - '");
            for (const char *c = l; c < dash; c++)
                fputs(*c == ' ' ? "\\-" : (char[]){*c, 0}, out);
            fputs(" \\- ", out);
            roff_str(out, dash + 3, false);
            fputc('\n', out);
            (void)overview;
        } else if (strcmp(s->title, "SYNOPSIS") == 0) {
            roff_synopsis(out, s);
        } else if (strcmp(s->title, "EXAMPLES") == 0) {
            int base = 100;
            for (size_t k = 0; k < s->lines.n; k++)
                if (indent_of(s->lines.items[k]) >= 0 && indent_of(s->lines.items[k]) < base)
                    base = indent_of(s->lines.items[k]);
            roff_verbatim(out, &s->lines, 0, s->lines.n, base);
        } else {
            roff_body(out, s);
        }
    }
    page_free(&p);
}

static void man_overview(const char *dir, const struct command *cmds, size_t n)
{
    char *path;
    if (asprintf(&path, "%s/hutch.1", dir) < 0)
        die("out of memory");
    FILE *out = open_out(path);
    char *text = help_text(NULL);
    man_from_help(out, "hutch", text, true);
    free(text);
    /* The POLICY options every running command takes (hutch help policy). */
    text = help_text("policy");
    struct page p = parse_help(text);
    for (size_t i = 0; i < p.n; i++) {
        fputs(".SH ", out);
        roff_str(out, p.sections[i].title, false);
        fputc('\n', out);
        roff_body(out, &p.sections[i]);
    }
    page_free(&p);
    free(text);
    fprintf(out,
            ".SH ENVIRONMENT\n"
            ".TP\n\\fBHUTCH_STATE_DIR\\fR\n"
            "Where sessions are kept (default: /var/lib/hutch for root, else\n"
            "$XDG_STATE_HOME/hutch).\n"
            ".TP\n\\fBXDG_CONFIG_HOME\\fR\n"
            "The default config file is $XDG_CONFIG_HOME/hutch/config.json\n"
            "(~/.config/hutch/config.json when it is not set).\n"
            ".TP\n\\fBDOCKER_HOST\\fR\n"
            "The Docker (or Podman) engine, unless docker.host is set.\n"
            ".TP\n\\fBHUTCH_INIT\\fR\n"
            "Another hutch\\-init, the agent of sessions, than the installed one.\n"
            ".TP\n\\fBHUTCH_NO_AUTO_PRUNE\\fR\n"
            "Set to 1, hutch exec does not prune idle sessions by itself.\n"
            ".SH FILES\n"
            ".TP\n\\fI~/.config/hutch/config.json\\fR\n"
            "The default config file: \\fBhutch\\-config\\fR(5).\n"
            ".TP\n\\fI%s/config.sample.json\\fR\n"
            "A sample config file, every key commented.\n"
            ".TP\n\\fI%s/hutch\\-docker\\fR, \\fI%s/hutch\\-init\\fR\n"
            "Helpers: the docker backend, images, skills and the MCP server\n"
            "(hutch hands these to hutch\\-docker), and the agent of sessions.\n"
            ".TP\n\\fI%s/images/Dockerfile.sandbox\\fR\n"
            "The recipe of the docker backend's default image.\n"
            ".TP\n\\fI%s/bootstrap\\-image.sh\\fR\n"
            "Builds that image offline with debootstrap (as root).\n",
            HUTCH_DATADIR, HUTCH_LIBEXECDIR, HUTCH_LIBEXECDIR, HUTCH_DATADIR, HUTCH_DATADIR);
    roff_see_also(out, "hutch", cmds, n);
    close_out(out, path);
    free(path);
}

static void man_command(const char *dir, const struct command *cmd, const struct command *cmds,
                        size_t n)
{
    char *path = NULL, *name = NULL;
    if (asprintf(&path, "%s/hutch-%s.1", dir, cmd->name) < 0 ||
        asprintf(&name, "hutch-%s", cmd->name) < 0)
        die("out of memory");
    FILE *out = open_out(path);
    char *text = help_text(cmd->name);
    man_from_help(out, name, text, false);
    free(text);
    roff_see_also(out, name, cmds, n);
    close_out(out, path);
    free(path);
    free(name);
}

/* ---- the config schema ----------------------------------------------------------- */

/* The defaults, as hutch config check --no-config prints them, with what
 * they depend on kept out. */
static json_t *schema_defaults(void)
{
    unsetenv("HUTCH_STATE_DIR");
    unsetenv("XDG_DATA_HOME");
    unsetenv("XDG_STATE_HOME");
    unsetenv("DOCKER_HOST");
    setenv("HOME", "/nonexistent", 1);
    hutch_policy *p = hutch_policy_new();
    if (!p)
        die("out of memory");
    char *text = hutch_policy_to_json(p);
    hutch_policy_free(p);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    json_t *sandbox = json_incref(json_object_get(doc, "sandbox"));
    json_decref(doc);
    if (!sandbox)
        die("no defaults");
    return sandbox;
}

/* The key's default as JSON, newly allocated; NULL when it depends on the
 * machine (described instead). */
static char *key_default(json_t *defaults, const char *key)
{
    if (strcmp(key, "workspaceRoot") == 0)
        return NULL;
    json_t *v = defaults;
    char *path = xstrdup(key), *save = NULL;
    for (char *part = strtok_r(path, ".", &save); part && v; part = strtok_r(NULL, ".", &save))
        v = json_object_get(v, part);
    free(path);
    if (!v)
        die("a key without a default in hutch config check's output");
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static const char workspace_root_default[] =
    "/var/lib/hutch/workspaces for root, else ~/.local/share/hutch/workspaces "
    "($XDG_DATA_HOME/hutch/workspaces when that is set); $HUTCH_STATE_DIR/workspaces when "
    "that is set";

/* "limits" for "limits.memory", "" for "backend". */
static char *key_group(const char *key)
{
    const char *dot = strchr(key, '.');
    if (dot && strchr(dot + 1, '.'))
        die("a key nested deeper than one group");
    return xstrndup(key, dot ? (size_t)(dot - key) : 0);
}

static struct list schema_groups(void)
{
    struct list groups = {0};
    const hutch_key_info *k;
    for (size_t i = 0; (k = hutch_policy_key_at(i)); i++) {
        char *g = key_group(k->key);
        list_add_unique(&groups, g);
        free(g);
    }
    return groups;
}

static bool in_group(const hutch_key_info *k, const char *group)
{
    char *g = key_group(k->key);
    bool in = strcmp(g, group) == 0;
    free(g);
    return in;
}

static void man_config(const char *dir, const struct command *cmds, size_t n)
{
    char *path;
    if (asprintf(&path, "%s/hutch-config.5", dir) < 0)
        die("out of memory");
    FILE *out = open_out(path);
    roff_header(out, "hutch-config", 5);
    fprintf(out,
            ".SH NAME\n"
            "hutch\\-config \\- the configuration file of hutch\n"
            ".SH SYNOPSIS\n"
            ".nf\n"
            "\\fI$XDG_CONFIG_HOME/hutch/config.json\\fR\n"
            "\\fI~/.config/hutch/config.json\\fR\n"
            "\\fBhutch\\fR \\fIcommand\\fR \\fB\\-\\-config\\fR \\fIFILE\\fR\n"
            ".fi\n"
            ".SH DESCRIPTION\n"
            "hutch reads its policy from one JSON file: the one given with\n"
            "\\fB\\-\\-config\\fR \\fIFILE\\fR, else $XDG_CONFIG_HOME/hutch/config.json\n"
            "(~/.config/hutch/config.json) when it exists; \\fB\\-\\-no\\-config\\fR ignores\n"
            "it. Options override the file; options that add to a list add to the file's\n"
            "list. \\fBhutch config check\\fR [\\fIFILE\\fR] validates a file and prints the\n"
            "effective policy; \\fBhutch config path\\fR prints where the default file is\n"
            "looked for.\n"
            ".PP\n"
            "All keys live under \"sandbox\": {\"sandbox\": {\"limits\": {\"memory\": \"1g\"}}}.\n"
            "Unknown keys are errors, and every error names the file, the key, the bad\n"
            "value and the expected form. Lines whose first characters other than blanks\n"
            "are // are comments. A key that is set counts as asked for, also at its\n"
            "default value: a restriction the backend cannot enforce is refused (exit\n"
            "status 125) instead of dropped.\n"
            ".PP\n"
            "Sizes: 512m, 1g, 1536k, 1048576 (k, m, g, t are powers of 1024; a JSON\n"
            "number is bytes). Durations: 30s, 500ms, 5m, 1h; a bare number is seconds.\n"
            "CPUs: 0.5, 2. For every limit, 0 means no limit. Paths: ~ is your home; a\n"
            "relative path is taken from the current directory.\n"
            ".PP\n"
            "Each key below shows what a value looks like, its default, the option that\n"
            "sets it, and whether a session takes it anew on every \\fBhutch exec\\fR\n"
            "(per run) or only when its sandbox is made (a change recreates the sandbox;\n"
            "the workspace is kept).\n"
            ".SH KEYS\n");
    json_t *defaults = schema_defaults();
    struct list groups = schema_groups();
    for (size_t g = 0; g < groups.n; g++) {
        fputs(".SS ", out);
        roff_str(out, groups.items[g][0] ? groups.items[g] : "General", false);
        fputc('\n', out);
        const hutch_key_info *k;
        for (size_t i = 0; (k = hutch_policy_key_at(i)); i++) {
            if (!in_group(k, groups.items[g]))
                continue;
            fputs(".TP\n\\fBsandbox.", out);
            roff_str(out, k->key, false);
            fputs("\\fR\n", out);
            roff_str(out, k->help, true);
            fputs("\n.br\nValue: ", out);
            roff_str(out, k->expected, false);
            fputs(".\n.br\nDefault: ", out);
            char *def = key_default(defaults, k->key);
            roff_str(out, !def ? workspace_root_default : strcmp(def, "\"\"") == 0 ? "none" : def,
                     false);
            free(def);
            fputs(".\n.br\n", out);
            if (k->flag) {
                fputs("Option: \\fB\\-\\-", out);
                roff_str(out, k->flag, false);
                fputs("\\fR", out);
                if (k->metavar) {
                    fputs(" \\fI", out);
                    roff_str(out, k->metavar, false);
                    fputs("\\fR", out);
                }
                fputs(".\n", out);
            } else {
                fputs("No option: config file only.\n", out);
            }
            fprintf(out, ".br\n%s\n",
                    k->per_run ? "Per run." : "Fixed when a session's sandbox is made.");
        }
    }
    list_free(&groups);
    json_decref(defaults);
    fprintf(out,
            ".SH OTHER SHAPES\n"
            "Also accepted as they are: a chat\\-gateway config, {\"agent\": {\"sandbox\":\n"
            "{...}}}, whose other keys are left alone, and the settings file of a sandbox\n"
            "runtime with top\\-level \"network\" and \"filesystem\".\n"
            ".SH EXAMPLE\n"
            ".RS 4\n.nf\n"
            "{\"sandbox\": {\"limits\": {\"memory\": \"1g\", \"timeoutSeconds\": 120},\n"
            "             \"network\": {\"mode\": \"allow\",\n"
            "                         \"allowedDomains\": [\"pypi.org\", \"*.pythonhosted.org\"]},\n"
            "             \"tools\": {\"deny\": [\"process\"]}}}\n"
            ".fi\n.RE\n"
            ".SH FILES\n"
            ".TP\n\\fI%s/config.sample.json\\fR\n"
            "Every key with its default, commented out.\n",
            HUTCH_DATADIR);
    roff_see_also(out, "hutch-config", cmds, n);
    close_out(out, path);
    free(path);
}

/* ---- completions: what to complete where -------------------------------------------- */

/* What an argument or an option's value is. */
enum kind { K_NONE, K_KEY, K_TOOL, K_TOPIC, K_FILE, K_DIR, K_COMMAND, K_WORDS };
static const char *const kind_names[] = {"none", "key", "tool", "topic", "file", "dir", "command",
                                         "words"};

struct option {
    char *name;   /* --memory, -c */
    char *value;  /* its placeholder, NULL for a switch */
    char *help;   /* NULL when none is known */
    enum kind kind;
    char *words;  /* K_WORDS: "host spawn native docker" */
};

struct subcommand {
    char *name;  /* "" for the command itself */
    struct list args; /* kind names of its positional arguments, in order */
};

struct cmdinfo {
    char *name, *summary;
    struct option *opts;
    size_t n_opts;
    struct subcommand *subs;
    size_t n_subs;
    bool has_subs;
};

struct model {
    struct cmdinfo *cmds;
    size_t n;
    struct list topics, tools;
};

/* "one of none, host, bridge, allow (flag: allow:DOMAIN...)": the words a
 * flag takes, or NULL. */
static char *choices_of(const char *expected)
{
    if (strncmp(expected, "one of ", 7) != 0)
        return NULL;
    const char *s = expected + 7, *paren = strchr(s, '(');
    char *flag_form = NULL;
    if (paren && strncmp(paren, "(flag: ", 7) == 0)
        flag_form = xstrndup(paren + 7, strcspn(paren + 7, ":,) "));
    char *list = xstrndup(s, paren ? (size_t)(paren - s) : strlen(s));
    struct list words = {0};
    char *save = NULL;
    for (char *w = strtok_r(list, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
        if (flag_form && strcmp(w, flag_form) == 0) {
            char *with_colon;
            if (asprintf(&with_colon, "%s:", w) < 0)
                die("out of memory");
            list_add(&words, with_colon);
            free(with_colon);
        } else {
            list_add(&words, w);
        }
    }
    char *joined = list_join(&words, " ");
    list_free(&words);
    free(list);
    free(flag_form);
    return joined;
}

static enum kind kind_of_placeholder(const char *value)
{
    if (!value)
        return K_NONE;
    if (strcmp(value, "DIR") == 0)
        return K_DIR;
    if (strncmp(value, "FILE", 4) == 0 || strcmp(value, "PATH") == 0 ||
        strcmp(value, "DOCKERFILE") == 0 || strncmp(value, "SRC", 3) == 0)
        return K_FILE;
    return K_NONE;
}

static void add_option(struct cmdinfo *c, const char *name, const char *value, const char *help,
                       enum kind kind, const char *words)
{
    for (size_t i = 0; i < c->n_opts; i++)
        if (strcmp(c->opts[i].name, name) == 0) {
            if (!c->opts[i].value && value) {
                c->opts[i].value = xstrdup(value);
                c->opts[i].kind = kind;
            }
            return;
        }
    c->opts = realloc(c->opts, (c->n_opts + 1) * sizeof *c->opts);
    if (!c->opts)
        die("out of memory");
    c->opts[c->n_opts++] = (struct option){
        .name = xstrdup(name),
        .value = value ? xstrdup(value) : NULL,
        .help = help ? xstrdup(help) : NULL,
        .kind = kind,
        .words = words ? xstrdup(words) : NULL,
    };
}

static void add_policy_option(struct cmdinfo *c, const hutch_key_info *k)
{
    char *name;
    if (asprintf(&name, "--%s", k->flag) < 0)
        die("out of memory");
    char *words = k->is_switch ? NULL : choices_of(k->expected);
    add_option(c, name, k->is_switch ? NULL : k->metavar, k->help,
               words ? K_WORDS : kind_of_placeholder(k->metavar), words);
    free(words);
    free(name);
}

static void add_config_options(struct cmdinfo *c)
{
    add_option(c, "--config", "FILE", "Read the policy from FILE instead of the default config file.",
               K_FILE, NULL);
    add_option(c, "--no-config", NULL, "Ignore the default config file.", K_NONE, NULL);
}

static void add_policy_options(struct cmdinfo *c)
{
    add_config_options(c);
    const hutch_key_info *k;
    for (size_t i = 0; (k = hutch_policy_key_at(i)); i++)
        if (k->flag)
            add_policy_option(c, k);
}

/* The placeholder after an option in a help text ("--session KEY" -> KEY,
 * "-t TAG]" -> TAG, "-c 'SHELL" -> 'SHELL), or NULL. */
static char *placeholder_after(const char *p)
{
    if (*p != ' ')
        return NULL;
    p++;
    size_t len = strcspn(p, " ]|,)");
    if (len == 0 || !is_placeholder(p, len) || strcmp(p, "POLICY") == 0)
        return NULL;
    if (p[0] == '\'')
        return xstrdup("STRING");
    return xstrndup(p, len);
}

/* Every option a help text names: --long anywhere, -x in SYNOPSIS and
 * OPTIONS. */
static void options_from_help(struct cmdinfo *c, const struct page *p)
{
    for (size_t s = 0; s < p->n; s++) {
        const struct section *sec = &p->sections[s];
        if (strcmp(sec->title, "EXAMPLES") == 0)
            continue; /* the examples' commands have options of their own */
        bool lists_short = strcmp(sec->title, "SYNOPSIS") == 0 || strstr(sec->title, "OPTIONS");
        for (size_t i = 0; i < sec->lines.n; i++) {
            const char *l = sec->lines.items[i];
            for (const char *q = l; *q; q++) {
                if (*q != '-' || (q > l && !strchr(" [(,|", q[-1])))
                    continue;
                size_t len = 0;
                if (q[1] == '-' && islower((unsigned char)q[2])) {
                    len = 2 + strspn(q + 2, "abcdefghijklmnopqrstuvwxyz0123456789-");
                    while (q[len - 1] == '-')
                        len--;
                } else if (lists_short && isalpha((unsigned char)q[1]) &&
                           (!q[2] || strchr(" ],", q[2]))) {
                    len = 2;
                } else {
                    continue;
                }
                char *name = xstrndup(q, len);
                /* POLICY options and --config as the schema has them */
                const hutch_key_info *key = len > 2 ? hutch_policy_key_by_flag(name + 2) : NULL;
                if (key || strcmp(name, "--config") == 0 || strcmp(name, "--no-config") == 0) {
                    if (key)
                        add_policy_option(c, key);
                    else
                        add_config_options(c);
                    free(name);
                    q += len - 1;
                    continue;
                }
                char *value = placeholder_after(q + len);
                enum kind kind = kind_of_placeholder(value);
                if (value && strcmp(value, "KEY") == 0)
                    kind = K_KEY;
                add_option(c, name, value, NULL, kind, NULL);
                free(name);
                free(value);
                q += len - 1;
            }
        }
    }
}

static enum kind kind_of_argument(const char *command, const char *word)
{
    if (strcmp(word, "KEY") == 0)
        return K_KEY;
    if (strcmp(word, "DIR") == 0)
        return K_DIR;
    if (strcmp(word, "FILE") == 0)
        return K_FILE;
    if (strcmp(word, "COMMAND") == 0)
        return K_COMMAND;
    if (strcmp(word, "NAME") == 0 && strcmp(command, "tool") == 0)
        return K_TOOL;
    return K_NONE;
}

static struct subcommand *find_sub(struct cmdinfo *c, const char *name)
{
    for (size_t i = 0; i < c->n_subs; i++)
        if (strcmp(c->subs[i].name, name) == 0)
            return &c->subs[i];
    c->subs = realloc(c->subs, (c->n_subs + 1) * sizeof *c->subs);
    if (!c->subs)
        die("out of memory");
    c->subs[c->n_subs] = (struct subcommand){.name = xstrdup(name)};
    return &c->subs[c->n_subs++];
}

/* The positional arguments of one alternative of a SYNOPSIS line: "KEY
 * [--workspace DIR] [POLICY] [--json]" -> KEY; "[FILE] [POLICY]" -> FILE. */
static void arguments_of(struct subcommand *sub, const char *command, const char *alt)
{
    if (sub->args.n)
        return; /* the first line that shows them */
    char *copy = xstrdup(alt), *save = NULL;
    int in_option = 0;
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (strcmp(w, "--") == 0 || strcmp(w, "[--]") == 0)
            continue;
        if (w[0] == '[' && w[1] == '-') {
            in_option = !strchr(w, ']');
            continue;
        }
        if (in_option) {
            in_option = !strchr(w, ']');
            continue;
        }
        if (w[0] == '-')
            continue;
        char *word = w + (w[0] == '[');
        word[strcspn(word, "].")] = '\0';
        if (!is_placeholder(word, strlen(word)) || strcmp(word, "POLICY") == 0 ||
            strcmp(word, "OPTIONS") == 0 || strcmp(word, "ARG") == 0)
            continue;
        enum kind k = kind_of_argument(command, word);
        list_add(&sub->args, kind_names[k]);
        if (k == K_COMMAND)
            break; /* the rest is the command's */
    }
    free(copy);
}

static void synopsis_of(struct cmdinfo *c, const struct page *p)
{
    const struct section *s = page_section(p, "SYNOPSIS");
    if (!s)
        die("a help text without SYNOPSIS");
    size_t prefix_len = strlen("hutch ") + strlen(c->name);
    for (size_t i = 0; i < s->lines.n; i++) {
        const char *l = s->lines.items[i];
        if (indent_of(l) != 4 || strncmp(l + 4, "hutch ", 6) != 0 ||
            strncmp(l + 10, c->name, strlen(c->name)) != 0 ||
            (l[4 + prefix_len] && l[4 + prefix_len] != ' '))
            continue;
        const char *rest = l + 4 + prefix_len;
        /* alternatives: "create|start KEY | ls" */
        char *copy = xstrdup(rest), *save = NULL;
        for (char *alt = strtok_r(copy, "|", &save); alt; alt = strtok_r(NULL, "|", &save)) {
            alt += strspn(alt, " ");
            size_t len = strspn(alt, "abcdefghijklmnopqrstuvwxyz");
            if (len > 0 && (alt[len] == ' ' || alt[len] == '\0')) {
                char *name = xstrndup(alt, len);
                c->has_subs = true;
                arguments_of(find_sub(c, name), c->name, alt + len);
                free(name);
            } else if (!c->has_subs && alt == copy + strspn(copy, " ")) {
                arguments_of(find_sub(c, ""), c->name, alt);
            }
        }
        free(copy);
    }
}

static struct model build_model(void)
{
    struct model m = {0};
    struct command cmds[64];
    size_t n = overview_commands(cmds, ARRAY_SIZE(cmds));
    m.cmds = xmalloc(n * sizeof *m.cmds);
    /* hutch help TOPIC: the topics `hutch help` names, that it knows */
    char *overview = help_text(NULL);
    for (const char *q = overview; (q = strstr(q, "hutch help ")); q++) {
        const char *w = q + strlen("hutch help ");
        size_t len = strspn(w, "abcdefghijklmnopqrstuvwxyz");
        if (len == 0)
            continue;
        char *topic = xstrndup(w, len);
        FILE *null = fopen("/dev/null", "w");
        if (!null)
            die("cannot open /dev/null");
        if (help_topic(topic, null) == 0)
            list_add_unique(&m.topics, topic);
        fclose(null);
        free(topic);
    }
    free(overview);
    for (size_t i = 0; i < n; i++) {
        struct cmdinfo *c = &m.cmds[m.n++];
        c->name = cmds[i].name;
        c->summary = cmds[i].summary;
        if (strcmp(c->name, "help") != 0)
            list_add_unique(&m.topics, c->name);
        add_option(c, "--help", NULL, "Show the manual of this command.", K_NONE, NULL);
        add_option(c, "-h", NULL, "Show the manual of this command.", K_NONE, NULL);
        if (strcmp(c->name, "help") == 0) {
            list_add(&find_sub(c, "")->args, kind_names[K_TOPIC]);
            continue;
        }
        char *text = help_text(c->name);
        struct page p = parse_help(text);
        if (strstr(text, "POLICY"))
            add_policy_options(c);
        options_from_help(c, &p);
        synopsis_of(c, &p);
        page_free(&p);
        free(text);
    }
    size_t n_tools;
    const struct tool_def *defs = tool_defs(&n_tools);
    for (size_t i = 0; i < n_tools; i++)
        list_add(&m.tools, defs[i].name);
    return m;
}

static void model_free(struct model *m)
{
    for (size_t i = 0; i < m->n; i++) {
        struct cmdinfo *c = &m->cmds[i];
        for (size_t k = 0; k < c->n_opts; k++) {
            free(c->opts[k].name);
            free(c->opts[k].value);
            free(c->opts[k].help);
            free(c->opts[k].words);
        }
        free(c->opts);
        for (size_t k = 0; k < c->n_subs; k++) {
            free(c->subs[k].name);
            list_free(&c->subs[k].args);
        }
        free(c->subs);
        free(c->name);
        free(c->summary);
    }
    free(m->cmds);
    list_free(&m->topics);
    list_free(&m->tools);
}

/* Every option of every command that takes a value, once (the first
 * command's: an option means the same wherever it is). *n gets the count. */
static const struct option **value_options(const struct model *m, size_t *n)
{
    size_t total = 0;
    for (size_t i = 0; i < m->n; i++)
        total += m->cmds[i].n_opts;
    const struct option **out = xmalloc(total * sizeof *out);
    *n = 0;
    for (size_t i = 0; i < m->n; i++)
        for (size_t k = 0; k < m->cmds[i].n_opts; k++) {
            const struct option *o = &m->cmds[i].opts[k];
            bool seen = !o->value;
            for (size_t j = 0; j < *n && !seen; j++)
                seen = strcmp(out[j]->name, o->name) == 0;
            if (!seen)
                out[(*n)++] = o;
        }
    return out;
}

/* What an option's value is, as the scripts spell it: "=w1 w2", "file"... */
static char *value_spec(const struct option *o)
{
    char *s;
    if (o->kind == K_WORDS) {
        if (asprintf(&s, "=%s", o->words) < 0)
            die("out of memory");
        return s;
    }
    return xstrdup(kind_names[o->kind]);
}

/* Single quotes for sh, zsh and fish. */
static void sq(FILE *out, const char *s)
{
    fputc('\'', out);
    for (; *s; s++)
        if (*s == '\'')
            fputs("'\\''", out);
        else
            fputc(*s, out);
    fputc('\'', out);
}

/* fish: a backslash escapes a quote inside single quotes */
static void fish_sq(FILE *out, const char *s)
{
    fputc('\'', out);
    for (; *s; s++) {
        if (*s == '\'' || *s == '\\')
            fputc('\\', out);
        fputc(*s, out);
    }
    fputc('\'', out);
}

static char *cmd_options(const struct cmdinfo *c)
{
    struct list names = {0};
    for (size_t k = 0; k < c->n_opts; k++)
        list_add(&names, c->opts[k].name);
    char *s = list_join(&names, " ");
    list_free(&names);
    return s;
}

static char *cmd_subs(const struct cmdinfo *c)
{
    struct list names = {0};
    for (size_t k = 0; k < c->n_subs; k++)
        if (c->subs[k].name[0])
            list_add(&names, c->subs[k].name);
    char *s = list_join(&names, " ");
    list_free(&names);
    return s;
}

static const char completion_note[] =
    "Generated by build-aux/docgen.c from hutch's help texts (commands, options,\n"
    "# arguments), its config schema (the values of POLICY options) and its tools'\n"
    "# definitions: edit those, not this file.\n";

/* The tables every script has, in sh syntax (bash and zsh): commands,
 * subcommands, options per command, what each option's value and each
 * positional argument is. */
/* One entry of an associative array: [KEY]='VALUE' for bash, 'KEY' 'VALUE'
 * for zsh (whose parser knows the other form only for declared arrays). */
static void sh_entry(FILE *out, bool zsh, const char *key, const char *value)
{
    fputs("  ", out);
    if (zsh) {
        sq(out, key);
        fputc(' ', out);
    } else {
        fputc('[', out);
        sq(out, key);
        fputs("]=", out);
    }
    sq(out, value);
    fputc('\n', out);
}

static void sh_tables(FILE *out, const struct model *m, bool zsh)
{
    struct list names = {0};
    for (size_t i = 0; i < m->n; i++)
        list_add(&names, m->cmds[i].name);
    char *s = list_join(&names, " ");
    fputs("_hutch_commands=", out);
    sq(out, s);
    free(s);
    list_free(&names);
    s = list_join(&m->topics, " ");
    fputs("\n_hutch_topics=", out);
    sq(out, s);
    free(s);
    s = list_join(&m->tools, " ");
    fputs("\n_hutch_tools=", out);
    sq(out, s);
    free(s);
    fprintf(out, "\n%s _hutch_subs _hutch_opts _hutch_optarg _hutch_args\n",
            zsh ? "typeset -gA" : "declare -gA");
    fputs("_hutch_subs=(\n", out);
    for (size_t i = 0; i < m->n; i++)
        if (m->cmds[i].has_subs) {
            s = cmd_subs(&m->cmds[i]);
            sh_entry(out, zsh, m->cmds[i].name, s);
            free(s);
        }
    fputs(")\n_hutch_opts=(\n", out);
    for (size_t i = 0; i < m->n; i++) {
        s = cmd_options(&m->cmds[i]);
        sh_entry(out, zsh, m->cmds[i].name, s);
        free(s);
    }
    fputs(")\n_hutch_optarg=(\n", out);
    size_t n_values;
    const struct option **values = value_options(m, &n_values);
    for (size_t i = 0; i < n_values; i++) {
        s = value_spec(values[i]);
        sh_entry(out, zsh, values[i]->name, s);
        free(s);
    }
    free(values);
    fputs(")\n_hutch_args=(\n", out);
    for (size_t i = 0; i < m->n; i++)
        for (size_t k = 0; k < m->cmds[i].n_subs; k++) {
            const struct subcommand *sub = &m->cmds[i].subs[k];
            char *key;
            if (asprintf(&key, "%s%s%s", m->cmds[i].name, sub->name[0] ? " " : "", sub->name) < 0)
                die("out of memory");
            s = list_join(&sub->args, " ");
            sh_entry(out, zsh, key, s);
            free(s);
            free(key);
        }
    fputs(")\n", out);
}

static const char bash_body[] =
    "# The session keys hutch knows (hutch session ls --json).\n"
    "_hutch_keys() {\n"
    "  \"${COMP_WORDS[0]:-hutch}\" session ls --json 2>/dev/null |\n"
    "    grep -o '\"key\": *\"[^\"]*\"' | sed 's/^\"key\": *\"//; s/\"$//'\n"
    "}\n"
    "\n"
    "# _hutch_words KIND CUR: the candidates for an argument of that kind.\n"
    "_hutch_words() {\n"
    "  local kind=$1 cur=$2\n"
    "  case $kind in\n"
    "    =*) COMPREPLY=($(compgen -W \"${kind#=}\" -- \"$cur\")) ;;\n"
    "    key) COMPREPLY=($(compgen -W \"$(_hutch_keys)\" -- \"$cur\")) ;;\n"
    "    tool) COMPREPLY=($(compgen -W \"$_hutch_tools\" -- \"$cur\")) ;;\n"
    "    topic) COMPREPLY=($(compgen -W \"$_hutch_topics\" -- \"$cur\")) ;;\n"
    "    dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- \"$cur\")) ;;\n"
    "    file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
    "    command) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -c -- \"$cur\")) ;;\n"
    "    *) COMPREPLY=() ;;\n"
    "  esac\n"
    "}\n"
    "\n"
    "_hutch() {\n"
    "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
    "  local cmd= sub= word i npos=0 dashdash= rest=\n"
    "  local -a kinds=()\n"
    "  COMPREPLY=()\n"
    "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
    "    word=${COMP_WORDS[i]}\n"
    "    if [[ -n $rest ]]; then continue; fi\n"
    "    if [[ -z $dashdash && $word == -- && -n $cmd ]]; then dashdash=1; continue; fi\n"
    "    if [[ -z $dashdash && $word == -?* ]]; then\n"
    "      if [[ $word != *=* && -n ${_hutch_optarg[$word]+x} ]]; then\n"
    "        ((i++))\n"
    "        # --option=value, split by COMP_WORDBREAKS: --option = value\n"
    "        [[ ${COMP_WORDS[i]} == = ]] && ((i++))\n"
    "      fi\n"
    "      continue\n"
    "    fi\n"
    "    if [[ -z $cmd ]]; then cmd=$word; continue; fi\n"
    "    if [[ -z $sub && -n ${_hutch_subs[$cmd]+x} ]]; then sub=$word; continue; fi\n"
    "    if [[ ${#kinds[@]} -eq 0 ]]; then\n"
    "      kinds=(${_hutch_args[\"$cmd${sub:+ $sub}\"]})\n"
    "    fi\n"
    "    [[ ${kinds[npos]} == command ]] && rest=1\n"
    "    ((npos++))\n"
    "  done\n"
    "  # the command's own arguments: files\n"
    "  if [[ -n $rest ]]; then _hutch_words file \"$cur\"; return; fi\n"
    "  # an option's value: --option value, --option=value (split at = or not)\n"
    "  local opt=\n"
    "  if [[ $prev == -?* && $prev != *=* ]]; then\n"
    "    opt=$prev\n"
    "    [[ $cur == = ]] && cur=\n"
    "  elif [[ $prev == = && $COMP_CWORD -gt 2 ]]; then\n"
    "    opt=${COMP_WORDS[COMP_CWORD-2]}\n"
    "  fi\n"
    "  if [[ -z $dashdash && -n $opt && -n ${_hutch_optarg[$opt]+x} ]]; then\n"
    "    _hutch_words \"${_hutch_optarg[$opt]}\" \"$cur\"\n"
    "    return\n"
    "  fi\n"
    "  if [[ -z $dashdash && $cur == --*=* && -n ${_hutch_optarg[${cur%%=*}]+x} ]]; then\n"
    "    _hutch_words \"${_hutch_optarg[${cur%%=*}]}\" \"${cur#*=}\"\n"
    "    return\n"
    "  fi\n"
    "  if [[ -z $cmd ]]; then\n"
    "    if [[ $cur == -* ]]; then\n"
    "      COMPREPLY=($(compgen -W '--help --version' -- \"$cur\"))\n"
    "    else\n"
    "      COMPREPLY=($(compgen -W \"$_hutch_commands\" -- \"$cur\"))\n"
    "    fi\n"
    "    return\n"
    "  fi\n"
    "  if [[ -z $dashdash && $cur == -* ]]; then\n"
    "    COMPREPLY=($(compgen -W \"${_hutch_opts[$cmd]}\" -- \"$cur\"))\n"
    "    return\n"
    "  fi\n"
    "  if [[ -z $sub && -n ${_hutch_subs[$cmd]+x} ]]; then\n"
    "    COMPREPLY=($(compgen -W \"${_hutch_subs[$cmd]}\" -- \"$cur\"))\n"
    "    return\n"
    "  fi\n"
    "  kinds=(${_hutch_args[\"$cmd${sub:+ $sub}\"]})\n"
    "  _hutch_words \"${kinds[npos]:-none}\" \"$cur\"\n"
    "}\n"
    "complete -F _hutch hutch\n";

static void write_bash(const char *path, const struct model *m)
{
    FILE *out = open_out(path);
    fprintf(out, "# bash completion for hutch(1).\n# %s\n", completion_note);
    sh_tables(out, m, false);
    fputc('\n', out);
    fputs(bash_body, out);
    close_out(out, path);
}

static const char zsh_body[] =
    "(( $+functions[_hutch_keys] )) || _hutch_keys() {\n"
    "  local -a keys\n"
    "  keys=(${(f)\"$(${words[1]:-hutch} session ls --json 2>/dev/null |\n"
    "    grep -o '\"key\": *\"[^\"]*\"' | sed 's/^\"key\": *\"//; s/\"$//')\"})\n"
    "  compadd -a keys\n"
    "}\n"
    "\n"
    "(( $+functions[_hutch_words] )) || _hutch_words() {\n"
    "  case $1 in\n"
    "    (\\=*) compadd -- ${=${1#=}} ;;\n"
    "    key) _hutch_keys ;;\n"
    "    tool) compadd -- ${=_hutch_tools} ;;\n"
    "    topic) compadd -- ${=_hutch_topics} ;;\n"
    "    dir) _files -/ ;;\n"
    "    file) _files ;;\n"
    "    command) _command_names -e ;;\n"
    "    *) _message 'value' ;;\n"
    "  esac\n"
    "}\n"
    "\n"
    "local cur=${words[CURRENT]} prev=${words[CURRENT-1]}\n"
    "local cmd= sub= word npos=0 dashdash= rest=\n"
    "local -a kinds\n"
    "local -i i\n"
    "for (( i = 2; i < CURRENT; i++ )); do\n"
    "  word=${words[i]}\n"
    "  [[ -n $rest ]] && continue\n"
    "  if [[ -z $dashdash && $word == -- && -n $cmd ]]; then dashdash=1; continue; fi\n"
    "  if [[ -z $dashdash && $word == -?* ]]; then\n"
    "    [[ $word != *=* && -n ${_hutch_optarg[$word]+x} ]] && (( i++ ))\n"
    "    continue\n"
    "  fi\n"
    "  if [[ -z $cmd ]]; then cmd=$word; continue; fi\n"
    "  if [[ -z $sub && -n ${_hutch_subs[$cmd]+x} ]]; then sub=$word; continue; fi\n"
    "  kinds=(${=_hutch_args[$cmd${sub:+ $sub}]})\n"
    "  [[ ${kinds[npos+1]} == command ]] && rest=1\n"
    "  (( npos++ ))\n"
    "done\n"
    "if [[ -n $rest ]]; then _files; return; fi\n"
    "if [[ -z $dashdash && CURRENT -gt 2 && $prev == -?* && $prev != *=* &&\n"
    "      -n ${_hutch_optarg[$prev]+x} ]]; then\n"
    "  _hutch_words ${_hutch_optarg[$prev]}\n"
    "  return\n"
    "fi\n"
    "if [[ -z $dashdash && $cur == --*=* && -n ${_hutch_optarg[${cur%%=*}]+x} ]]; then\n"
    "  compset -P '*='\n"
    "  _hutch_words ${_hutch_optarg[${cur%%=*}]}\n"
    "  return\n"
    "fi\n"
    "if [[ -z $cmd ]]; then\n"
    "  if [[ $cur == -* ]]; then\n"
    "    compadd -- --help --version\n"
    "  else\n"
    "    _describe -t commands 'hutch command' _hutch_command_descriptions\n"
    "  fi\n"
    "  return\n"
    "fi\n"
    "if [[ -z $dashdash && $cur == -* ]]; then\n"
    "  local -a described plain\n"
    "  local opt\n"
    "  for opt in ${=_hutch_opts[$cmd]}; do\n"
    "    if [[ -n ${_hutch_opt_help[$opt]+x} ]]; then\n"
    "      described+=(\"$opt:${_hutch_opt_help[$opt]}\")\n"
    "    else\n"
    "      plain+=($opt)\n"
    "    fi\n"
    "  done\n"
    "  _describe -t options 'option' described -- plain\n"
    "  return\n"
    "fi\n"
    "if [[ -z $sub && -n ${_hutch_subs[$cmd]+x} ]]; then\n"
    "  compadd -- ${=_hutch_subs[$cmd]}\n"
    "  return\n"
    "fi\n"
    "kinds=(${=_hutch_args[$cmd${sub:+ $sub}]})\n"
    "_hutch_words ${kinds[npos+1]:-none}\n";

/* zsh's _describe takes "name:description"; a colon in the name is escaped. */
static void zsh_describe_item(FILE *out, const char *name, const char *help)
{
    char *item;
    if (asprintf(&item, "%s:%s", name, help) < 0)
        die("out of memory");
    fputs("  ", out);
    sq(out, item);
    fputc('\n', out);
    free(item);
}

static void write_zsh(const char *path, const struct model *m)
{
    FILE *out = open_out(path);
    fprintf(out, "#compdef hutch\n# zsh completion for hutch(1).\n# %s\n", completion_note);
    sh_tables(out, m, true);
    fputs("typeset -ga _hutch_command_descriptions\n_hutch_command_descriptions=(\n", out);
    for (size_t i = 0; i < m->n; i++)
        zsh_describe_item(out, m->cmds[i].name, m->cmds[i].summary);
    fputs(")\ntypeset -gA _hutch_opt_help\n_hutch_opt_help=(\n", out);
    struct list seen = {0};
    for (size_t i = 0; i < m->n; i++)
        for (size_t k = 0; k < m->cmds[i].n_opts; k++) {
            const struct option *o = &m->cmds[i].opts[k];
            if (!o->help || list_has(&seen, o->name))
                continue;
            list_add(&seen, o->name);
            sh_entry(out, true, o->name, o->help);
        }
    list_free(&seen);
    fputs(")\n\n", out);
    fputs(zsh_body, out);
    close_out(out, path);
}

static const char fish_body[] =
    "function __hutch_keys\n"
    "    hutch session ls --json 2>/dev/null | string match -ar '\"key\": *\"[^\"]*\"' |\n"
    "        string replace -r '^\"key\": *\"(.*)\"$' '$1'\n"
    "end\n"
    "\n"
    "# Where the command line is: the command, its subcommand, and the kind of the\n"
    "# argument being typed (none, key, tool, topic, file, dir, command, or rest:\n"
    "# the sandboxed command's own arguments), one per line ('-' for none).\n"
    "function __hutch_state\n"
    "    set -l line (commandline -pc | string collect)\n"
    "    if test \"$line\" = \"$__hutch_state_line\"\n"
    "        printf '%s\\n' $__hutch_state_value\n"
    "        return\n"
    "    end\n"
    "    set -l tokens (commandline -opc)\n"
    "    set -e tokens[1]\n"
    "    set -l cmd -\n"
    "    set -l sub -\n"
    "    set -l npos 0\n"
    "    set -l skip 0\n"
    "    set -l dashdash 0\n"
    "    set -l rest 0\n"
    "    for t in $tokens\n"
    "        if test $rest = 1; or test $skip = 1\n"
    "            set skip 0\n"
    "            continue\n"
    "        end\n"
    "        if test $dashdash = 0; and test \"$t\" = --; and test $cmd != -\n"
    "            set dashdash 1\n"
    "            continue\n"
    "        end\n"
    "        if test $dashdash = 0; and string match -qr -- '^-.' $t\n"
    "            if not string match -q -- '*=*' $t; and __hutch_optarg $t >/dev/null\n"
    "                set skip 1\n"
    "            end\n"
    "            continue\n"
    "        end\n"
    "        if test $cmd = -\n"
    "            set cmd $t\n"
    "            continue\n"
    "        end\n"
    "        if test $sub = -; and test -n \"$(__hutch_subs $cmd)\"\n"
    "            set sub $t\n"
    "            continue\n"
    "        end\n"
    "        set -l kinds (__hutch_args $cmd $sub)\n"
    "        set npos (math $npos + 1)\n"
    "        if test \"$kinds[$npos]\" = command\n"
    "            set rest 1\n"
    "        end\n"
    "    end\n"
    "    set -l kind none\n"
    "    if test $rest = 1\n"
    "        set kind rest\n"
    "    else if test $cmd != -; and test $sub = -; and test -n \"$(__hutch_subs $cmd)\"\n"
    "        set kind sub\n"
    "    else if test $cmd != -\n"
    "        set -l kinds (__hutch_args $cmd $sub)\n"
    "        set -l at (math $npos + 1)\n"
    "        if set -q kinds[$at]\n"
    "            set kind $kinds[$at]\n"
    "        end\n"
    "    end\n"
    "    set -g __hutch_state_line $line\n"
    "    set -g __hutch_state_value $cmd $sub $kind\n"
    "    printf '%s\\n' $cmd $sub $kind\n"
    "end\n"
    "\n"
    "function __hutch_no_command\n"
    "    set -l s (__hutch_state)\n"
    "    test $s[1] = -\n"
    "end\n"
    "\n"
    "# __hutch_command_is NAME: the command is NAME (and its options apply).\n"
    "function __hutch_command_is\n"
    "    set -l s (__hutch_state)\n"
    "    test $s[1] = $argv[1]; and test $s[3] != rest\n"
    "end\n"
    "\n"
    "# __hutch_wants KIND: the argument being typed is of that kind.\n"
    "function __hutch_wants\n"
    "    set -l s (__hutch_state)\n"
    "    test $s[3] = $argv[1]\n"
    "end\n"
    "\n"
    "function __hutch_subcommands\n"
    "    set -l s (__hutch_state)\n"
    "    __hutch_subs $s[1]\n"
    "end\n"
    "\n"
    "complete -c hutch -f\n"
    "complete -c hutch -n __hutch_no_command -l help -d 'Show the manual'\n"
    "complete -c hutch -n __hutch_no_command -l version -d 'Show the version'\n"
    "complete -c hutch -n '__hutch_wants sub' -a '(__hutch_subcommands)'\n"
    "complete -c hutch -n '__hutch_wants key' -a '(__hutch_keys)'\n"
    "complete -c hutch -n '__hutch_wants tool' -a '(__hutch_tools)'\n"
    "complete -c hutch -n '__hutch_wants topic' -a '(__hutch_topics)'\n"
    "complete -c hutch -n '__hutch_wants file' -F\n"
    "complete -c hutch -n '__hutch_wants rest' -F\n"
    "complete -c hutch -n '__hutch_wants dir' -a '(__fish_complete_directories)'\n"
    "complete -c hutch -n '__hutch_wants command' -a '(__fish_complete_command)'\n";

static void fish_words(FILE *out, const char *fn, const struct list *l)
{
    char *s = list_join(l, "\\n");
    fprintf(out, "function %s\n    printf '%s\\n'\nend\n", fn, s);
    free(s);
}

static void write_fish(const char *path, const struct model *m)
{
    FILE *out = open_out(path);
    fprintf(out, "# fish completion for hutch(1).\n# %s\n", completion_note);
    fish_words(out, "__hutch_tools", &m->tools);
    fish_words(out, "__hutch_topics", &m->topics);
    /* __hutch_subs CMD, __hutch_args CMD SUB, __hutch_optarg OPTION */
    fputs("function __hutch_subs\n    switch $argv[1]\n", out);
    for (size_t i = 0; i < m->n; i++)
        if (m->cmds[i].has_subs) {
            char *s = cmd_subs(&m->cmds[i]);
            fprintf(out, "        case %s\n            string split ' ' -- ", m->cmds[i].name);
            fish_sq(out, s);
            fputc('\n', out);
            free(s);
        }
    fputs("    end\nend\n", out);
    fputs("function __hutch_args\n    switch \"$argv[1] $argv[2]\"\n", out);
    for (size_t i = 0; i < m->n; i++)
        for (size_t k = 0; k < m->cmds[i].n_subs; k++) {
            const struct subcommand *sub = &m->cmds[i].subs[k];
            if (sub->args.n == 0)
                continue;
            char *s = list_join(&sub->args, " ");
            fprintf(out, "        case '%s %s'\n            string split ' ' -- ", m->cmds[i].name,
                    sub->name[0] ? sub->name : "-");
            fish_sq(out, s);
            fputc('\n', out);
            free(s);
        }
    fputs("    end\nend\n", out);
    fputs("function __hutch_optarg\n    switch $argv[1]\n", out);
    size_t n_values;
    const struct option **values = value_options(m, &n_values);
    for (size_t i = 0; i < n_values; i++) {
        char *s = value_spec(values[i]);
        fprintf(out, "        case %s\n            echo ", values[i]->name);
        fish_sq(out, s);
        fputc('\n', out);
        free(s);
    }
    free(values);
    fputs("        case '*'\n            return 1\n    end\nend\n\n", out);
    fputs(fish_body, out);
    for (size_t i = 0; i < m->n; i++) {
        const struct cmdinfo *c = &m->cmds[i];
        fprintf(out, "complete -c hutch -n __hutch_no_command -a %s -d ", c->name);
        fish_sq(out, c->summary);
        fputc('\n', out);
        for (size_t k = 0; k < c->n_opts; k++) {
            const struct option *op = &c->opts[k];
            fprintf(out, "complete -c hutch -n '__hutch_command_is %s' ", c->name);
            if (op->name[1] == '-')
                fprintf(out, "-l %s", op->name + 2);
            else
                fprintf(out, "-s %s", op->name + 1);
            if (op->value) {
                switch (op->kind) {
                case K_WORDS:
                    fputs(" -x -a ", out);
                    fish_sq(out, op->words);
                    break;
                case K_FILE:
                    fputs(" -r -F", out);
                    break;
                case K_DIR:
                    fputs(" -x -a '(__fish_complete_directories)'", out);
                    break;
                case K_KEY:
                    fputs(" -x -a '(__hutch_keys)'", out);
                    break;
                default:
                    fputs(" -x", out);
                    break;
                }
            }
            if (op->help) {
                fputs(" -d ", out);
                fish_sq(out, op->help);
            }
            fputc('\n', out);
        }
    }
    close_out(out, path);
}

/* ---- the sample config ---------------------------------------------------------------- */

/* "// " + text wrapped at 78 columns, after indent. */
static void comment(FILE *out, int indent, const char *text)
{
    const char *w = text;
    int col = 0;
    while (*w) {
        size_t len = strcspn(w, " ");
        if (col == 0) {
            col = fprintf(out, "%*s//", indent, "");
        } else if (col + 1 + (int)len > 78) {
            fputc('\n', out);
            col = fprintf(out, "%*s//", indent, "");
        }
        col += fprintf(out, " %.*s", (int)len, w);
        w += len;
        w += strspn(w, " ");
    }
    if (col)
        fputc('\n', out);
}

static void write_sample(const char *path)
{
    FILE *out = open_out(path);
    fputs("// A sample hutch configuration (hutch-config(5) describes it). hutch reads\n"
          "// ~/.config/hutch/config.json ($XDG_CONFIG_HOME/hutch/config.json), or the\n"
          "// file given with --config FILE. Lines starting with // are comments.\n"
          "//\n"
          "// Every key is here with its default, commented out: as it is, this file\n"
          "// changes nothing. Uncomment a key to set it. A key that is set counts as\n"
          "// asked for, even at its default value: a restriction the backend cannot\n"
          "// enforce is then refused instead of dropped, so set only what you mean.\n"
          "// JSON wants a comma after every entry of an object but the last one.\n"
          "// Check the result with: hutch config check FILE\n"
          "//\n"
          "// Generated by build-aux/docgen.c from hutch's config schema.\n"
          "{\n  \"sandbox\": {\n",
          out);
    json_t *defaults = schema_defaults();
    struct list groups = schema_groups();
    for (size_t g = 0; g < groups.n; g++) {
        const char *group = groups.items[g];
        int indent = group[0] ? 6 : 4;
        if (group[0])
            fprintf(out, "%s    \"%s\": {\n", g ? "\n" : "", group);
        size_t first = SIZE_MAX, last = 0;
        const hutch_key_info *k;
        for (size_t i = 0; (k = hutch_policy_key_at(i)); i++)
            if (in_group(k, group)) {
                if (first == SIZE_MAX)
                    first = i;
                last = i;
            }
        for (size_t i = 0; (k = hutch_policy_key_at(i)); i++) {
            if (!in_group(k, group))
                continue;
            const char *name = group[0] ? k->key + strlen(group) + 1 : k->key;
            char *text, *option = NULL;
            if (k->flag && asprintf(&option, " Option: --%s%s%s.", k->flag,
                                    k->metavar ? " " : "", k->metavar ? k->metavar : "") < 0)
                die("out of memory");
            if (asprintf(&text, "%s: %s Value: %s.%s%s", name, k->help, k->expected,
                         option ? option : "",
                         k->per_run ? "" : " Fixed when a session's sandbox is made.") < 0)
                die("out of memory");
            if (i != first)
                fputc('\n', out);
            comment(out, indent, text);
            char *def = key_default(defaults, k->key);
            if (def) {
                fprintf(out, "%*s// \"%s\": %s%s\n", indent, "", name, def,
                        group[0] && i == last ? "" : ",");
            } else {
                char *about;
                if (asprintf(&about, "Default: %s.", workspace_root_default) < 0)
                    die("out of memory");
                comment(out, indent, about);
                free(about);
                fprintf(out, "%*s// \"%s\": \"/srv/hutch/workspaces\"%s\n", indent, "", name,
                        group[0] && i == last ? "" : ",");
            }
            free(def);
            free(option);
            free(text);
        }
        if (group[0])
            fprintf(out, "    }%s\n", g + 1 < groups.n ? "," : "");
    }
    list_free(&groups);
    json_decref(defaults);
    fputs("  }\n}\n", out);
    close_out(out, path);
}

/* ---- main ------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "man") != 0 && argc != 3)) {
        fprintf(stderr, "usage: docgen man OUTDIR PAGE... | bash|zsh|fish|sample FILE\n");
        return 2;
    }
    set_page_date();
    const char *what = argv[1], *where = argv[2];
    if (strcmp(what, "man") == 0) {
        struct command cmds[64];
        size_t n = overview_commands(cmds, ARRAY_SIZE(cmds));
        /* The pages the build expects (data/meson.build) are exactly these. */
        struct list pages = {0}, expected = {0};
        list_add(&pages, "hutch.1");
        for (size_t i = 0; i < n; i++) {
            char *page;
            if (strcmp(cmds[i].name, "help") == 0)
                continue;
            if (asprintf(&page, "hutch-%s.1", cmds[i].name) < 0)
                die("out of memory");
            list_add(&pages, page);
            free(page);
        }
        list_add(&pages, "hutch-config.5");
        for (int i = 3; i < argc; i++)
            list_add(&expected, argv[i]);
        for (size_t i = 0; i < pages.n; i++)
            if (!list_has(&expected, pages.items[i])) {
                fprintf(stderr, "docgen: hutch help has a page %s that data/meson.build does not list\n",
                        pages.items[i]);
                return 1;
            }
        for (size_t i = 0; i < expected.n; i++)
            if (!list_has(&pages, expected.items[i])) {
                fprintf(stderr, "docgen: data/meson.build lists %s, which hutch help has no command for\n",
                        expected.items[i]);
                return 1;
            }
        list_free(&pages);
        list_free(&expected);
        man_overview(where, cmds, n);
        for (size_t i = 0; i < n; i++)
            if (strcmp(cmds[i].name, "help") != 0)
                man_command(where, &cmds[i], cmds, n);
        man_config(where, cmds, n);
        for (size_t i = 0; i < n; i++) {
            free(cmds[i].name);
            free(cmds[i].summary);
        }
    } else if (strcmp(what, "sample") == 0) {
        write_sample(where);
    } else {
        struct model m = build_model();
        if (strcmp(what, "bash") == 0)
            write_bash(where, &m);
        else if (strcmp(what, "zsh") == 0)
            write_zsh(where, &m);
        else if (strcmp(what, "fish") == 0)
            write_fish(where, &m);
        else
            die("unknown output");
        model_free(&m);
    }
    return 0;
}
