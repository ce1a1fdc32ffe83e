#include "policy/approval_rules.h"

#include <ctype.h>
#include <fnmatch.h>

#include "base/approval.h"
#include "base/util.h"

/* Longest glob: a command pattern, not a script. */
#define GLOB_MAX 4096

int norm_approval_entry(const char *in, char **out)
{
    size_t n = strlen(in);
    if (strncmp(in, APPROVAL_COMMAND_PREFIX, strlen(APPROVAL_COMMAND_PREFIX)) == 0) {
        size_t glob = n - strlen(APPROVAL_COMMAND_PREFIX);
        if (glob == 0 || glob > GLOB_MAX)
            return -1;
    } else if (strcmp(in, "*") != 0) {
        /* A tool's name, as tools.allow takes it. */
        if (n == 0 || n > 64)
            return -1;
        for (const char *c = in; *c; c++)
            if (!isalnum((unsigned char)*c) && !strchr("_.-", *c))
                return -1;
    }
    *out = strdup(in);
    return *out ? 0 : -1;
}

const char *approval_rule(const struct hutch_policy *p, const char *tool, const char *command)
{
    const struct strlist *l = &p->approval.require;
    size_t prefix = strlen(APPROVAL_COMMAND_PREFIX);
    for (size_t i = 0; i < l->len; i++) {
        const char *e = l->items[i];
        if (strncmp(e, APPROVAL_COMMAND_PREFIX, prefix) == 0) {
            if (command && fnmatch(e + prefix, command, 0) == 0)
                return e;
        } else if (tool && (strcmp(e, "*") == 0 || strcmp(e, tool) == 0)) {
            return e;
        }
    }
    return NULL;
}

/* Characters a word may have and still need no quotes in sh. */
static bool plain_word(const char *w)
{
    if (!*w)
        return false;
    for (; *w; w++)
        if (!isalnum((unsigned char)*w) && !strchr("_@%+=:,./-", *w))
            return false;
    return true;
}

/* Appends w to the line being built, quoted when sh needs it. */
static int append_word(char **buf, size_t *len, size_t *cap, const char *w, bool quote)
{
    size_t n = strlen(w);
    size_t need = *len + 1 + (quote ? 4 * n + 2 : n) + 1; /* ' -> '\'' */
    if (need > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < need)
            c *= 2;
        char *p = realloc(*buf, c);
        if (!p)
            return -1;
        *buf = p;
        *cap = c;
    }
    char *o = *buf + *len;
    if (*len)
        *o++ = ' ';
    if (!quote || plain_word(w)) {
        memcpy(o, w, n);
        o += n;
    } else {
        *o++ = '\'';
        for (const char *c = w; *c; c++) {
            if (*c == '\'') {
                memcpy(o, "'\\''", 4);
                o += 4;
            } else {
                *o++ = *c;
            }
        }
        *o++ = '\'';
    }
    *o = '\0';
    *len = (size_t)(o - *buf);
    return 0;
}

char *approval_command_line(const hutch_command *cmd)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    if (cmd->shell)
        rc = append_word(&buf, &len, &cap, cmd->shell, false);
    for (size_t i = 0; rc == 0 && cmd->argv && cmd->argv[i]; i++)
        rc = append_word(&buf, &len, &cap, cmd->argv[i], true);
    if (rc == 0 && !buf)
        buf = strdup("");
    if (rc < 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

int approval_command_rule(const struct hutch_policy *p, const hutch_command *cmd,
                          const char **rule, char **line)
{
    *rule = NULL;
    *line = NULL;
    if (p->approval.require.len == 0)
        return 0;
    autofree char *text = approval_command_line(cmd);
    if (!text)
        return -1;
    if ((*rule = approval_rule(p, NULL, text)))
        *line = steal_pointer(&text);
    return 0;
}

enum approval_outcome approval_command_ask(const char *session, const char *line,
                                           const char *rule, char *reason, size_t len)
{
    hutch_approval_request req = {
        .kind = HUTCH_APPROVAL_COMMAND, .command = line, .session = session, .rule = rule};
    return approval_ask(&req, NULL, reason, len) ? APPROVAL_APPROVED : APPROVAL_REFUSED;
}

enum approval_outcome approval_command(const struct hutch_policy *p, const hutch_command *cmd,
                                       char *reason, size_t len)
{
    const char *rule;
    autofree char *line = NULL;
    if (approval_command_rule(p, cmd, &rule, &line) < 0) {
        fmt_trunc(reason, len, "out of memory while asking for approval");
        return APPROVAL_REFUSED; /* fail closed */
    }
    return rule ? approval_command_ask(NULL, line, rule, reason, len) : APPROVAL_NOT_ASKED;
}

HUTCH_API int hutch_approval_required(const hutch_policy *p, const char *tool,
                                      const char *command)
{
    return p && approval_rule(p, tool, command) ? 1 : 0;
}
