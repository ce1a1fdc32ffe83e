#include <stdarg.h>

#include "cli/cli.h"

static PRINTF_LIKE(2, 0) void say(const char *kind, const char *fmt, va_list ap)
{
    char line[1200];
    vfmt_trunc(line, sizeof line, fmt, ap); /* a message: cut on purpose */
    fprintf(stderr, "hutch: %s%s\n", kind, line);
}

int cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("", fmt, ap);
    va_end(ap);
    return EXIT_HUTCH_FAILED;
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("warning: ", fmt, ap);
    va_end(ap);
}

int cli_fail(hutch_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err->status = HUTCH_E_INVALID;
    vfmt_trunc(err->message, sizeof err->message, fmt, ap); /* a message: cut on purpose */
    va_end(ap);
    return -1;
}

bool cli_policy_is(const hutch_policy *p, const char *key, const char *value)
{
    autofree char *has = hutch_policy_get(p, key);
    return has && strcmp(has, value) == 0;
}

bool split_long_option(const char *arg, char *name, size_t name_len, const char **value)
{
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
        return false;
    const char *eq = strchr(arg + 2, '=');
    size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    if (n >= name_len)
        n = name_len - 1;
    memcpy(name, arg + 2, n);
    name[n] = '\0';
    *value = eq ? eq + 1 : NULL;
    return true;
}

int option_value(int argc, char **argv, int *i, const char *shown, const char *inline_value,
                 const char **value, hutch_error *err)
{
    if (inline_value) {
        *value = inline_value;
        return 0;
    }
    if (*i + 1 >= argc)
        return cli_fail(err, "%s needs a value", shown);
    *i += 1;
    *value = argv[*i];
    return 0;
}

int cli_subcommand(const char *topic, int argc, char **argv, const struct cli_subcommand *subs)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        help_topic(topic, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_HUTCH_FAILED : 0;
    }
    size_t n = 0;
    for (; subs[n].name; n++)
        if (strcmp(argv[1], subs[n].name) == 0)
            return subs[n].run(argc - 2, argv + 2);
    /* "build, ls or rm" */
    char names[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        (void)!fmt_append(names, sizeof names, &used, "%s%s", i == 0 ? "" : i + 1 < n ? ", " : " or ",
                          subs[i].name);
    return cli_error("unknown %s subcommand %s (use %s)", topic, argv[1], names);
}
