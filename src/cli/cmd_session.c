/* hutch session create|start|stop|rm|status|ls|stats|shell */
#include <fcntl.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/session_common.h"

struct times {
    char created[32], used[32];
};

static void format_time(double t, char *buf, size_t len)
{
    time_t secs = (time_t)t;
    struct tm tm;
    if (t <= 0 || !localtime_r(&secs, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
        fmt_trunc(buf, len, "-");
}

/* When a described session was made and last used, as local times. */
static struct times times_of(const json_t *d)
{
    struct times t;
    format_time(json_number_value(json_object_get(d, "created_at")), t.created, sizeof t.created);
    format_time(json_number_value(json_object_get(d, "last_used_at")), t.used, sizeof t.used);
    return t;
}

/* Fields of a session's description (the shape of session status --json). */
static const char *field_str(const json_t *d, const char *name)
{
    return json_string_value(json_object_get(d, name));
}

static double field_num(const json_t *d, const char *name)
{
    return json_number_value(json_object_get(d, name));
}

static bool field_bool(const json_t *d, const char *name)
{
    return json_is_true(json_object_get(d, name));
}

/* Options every subcommand shares: --json, --help, POLICY (where allowed). */
struct session_args {
    const char *key;
    bool json;
    bool workspaces;
    struct policy_args policy;
};

static int parse(const char *sub, int argc, char **argv, bool want_key, bool policy_ok,
                 bool workspaces_ok, struct session_args *sa, hutch_error *err)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            help_topic("session", stdout);
            return 0;
        }
        if (strcmp(arg, "--json") == 0) {
            sa->json = true;
            continue;
        }
        if (workspaces_ok && strcmp(arg, "--workspaces") == 0) {
            sa->workspaces = true;
            continue;
        }
        if (arg[0] == '-' && arg[1]) {
            int r = policy_ok ? policy_args_parse(&sa->policy, argc, argv, &i, err) : 0;
            if (r < 0)
                return -1;
            if (r == 0)
                return cli_fail(err,
                                "hutch session %s does not take %s (see 'hutch help session')",
                                sub, arg);
            continue;
        }
        if (want_key && !sa->key) {
            sa->key = arg;
            continue;
        }
        return cli_fail(err, "unexpected argument '%s' for hutch session %s",
                         arg, sub);
    }
    if (want_key && !sa->key)
        return cli_fail(err, "hutch session %s needs a session key: hutch session %s KEY", sub,
                        sub);
    return 1;
}

/* ---- create / start ------------------------------------------------------------ */

/* A session whose driver this build lacks (docker in the static hutch) is
 * hutch-docker's: handed over before anything of it is touched. */
static int failed(const hutch_error *err)
{
    return cli_session_failed(err);
}

static int bring_up(struct session_args *sa, bool create)
{
    hutch_error err = {0};
    const char *key = sa->key;
    auto_policy hutch_policy *policy =
        cli_session_policy(&key, &sa->policy, create ? NULL : "hutch session start", &err);
    if (!policy)
        return cli_error("%s", err.message);
    if ((create ? hutch_session_create(policy, key, &err)
                : hutch_session_start(policy, key, &err)) < 0)
        return failed(&err);
    autofree char *text = NULL;
    if (hutch_session_status(key, &text, &err) < 0)
        return failed(&err);
    if (sa->json) {
        printf("%s\n", text);
        return 0;
    }
    json_t *d = json_loads(text, 0, NULL);
    fprintf(stderr, "hutch: session %s %s (%s; workspace %s)\n", sa->key,
            create ? "created" : "running", field_str(d, "backend") ?: "?",
            field_str(d, "workspace") ?: "?");
    json_decref(d);
    return 0;
}

/* ---- stop / rm / status / ls / stats ------------------------------------------- */

static int tear_down(struct session_args *sa, bool remove)
{
    hutch_error err = {0};
    int r = remove ? hutch_session_remove(sa->key, sa->workspaces, &err)
                   : hutch_session_stop(sa->key, &err);
    if (r < 0)
        return failed(&err);
    fprintf(stderr, "hutch: session %s %s\n", sa->key,
            remove ? (sa->workspaces ? "removed with its workspace" : "removed (workspace kept)")
                   : "stopped");
    return 0;
}

static void render_status(const char *key, const json_t *d)
{
    struct times t = times_of(d);
    printf("session    %s\nstate      %s (%s)\nbackend    %s\nworkspace  %s\n"
           "created    %s\nlast used  %s\nexecs      %.0f\n",
           key, field_str(d, "state"), field_str(d, "detail"), field_str(d, "backend"),
           field_str(d, "workspace"), t.created, t.used, field_num(d, "exec_count"));
    if (field_str(d, "container_name"))
        printf("container  %s%s\n", field_str(d, "container_name"),
               field_bool(d, "adopted") ? " (adopted: never stopped or removed)" : "");
    if (field_str(d, "failure"))
        printf("failure    %s\n", field_str(d, "failure"));
}

static void render_stats(const char *key, const json_t *st)
{
    (void)key;
    printf("pids    %.0f\nmemory  %.1f MiB (%s)\ncpu     %.3f s\n", field_num(st, "pids"),
           field_num(st, "memory_bytes") / (1024.0 * 1024.0), field_str(st, "memory_via"),
           field_num(st, "cpu_seconds"));
}

/* One of the library's JSON answers about a session: printed as it is with
 * --json, else rendered as text. */
static int answer(struct session_args *sa, int (*call)(const char *, char **, hutch_error *),
                  void (*render)(const char *key, const json_t *answer))
{
    hutch_error err = {0};
    autofree char *text = NULL;
    if (call(sa->key, &text, &err) < 0)
        return failed(&err);
    if (sa->json) {
        printf("%s\n", text);
        return 0;
    }
    json_t *parsed = json_loads(text, 0, NULL);
    render(sa->key, parsed);
    json_decref(parsed);
    return 0;
}

static int list(struct session_args *sa)
{
    hutch_error err = {0};
    autofree char *text = NULL;
    if (hutch_session_list(&text, &err) < 0)
        return cli_error("%s", err.message);
    if (sa->json) {
        printf("%s\n", text);
        return 0;
    }
    json_t *all = json_loads(text, 0, NULL);
    printf("%-24s %-8s %-8s %-19s %-19s %s\n", "KEY", "BACKEND", "STATE", "CREATED",
           "LAST USED", "WORKSPACE");
    size_t i;
    json_t *d;
    json_array_foreach(all, i, d)
    {
        struct times t = times_of(d);
        printf("%-24s %-8s %-8s %-19s %-19s %s\n", field_str(d, "key"), field_str(d, "backend"),
               field_str(d, "state"), t.created, t.used, field_str(d, "workspace"));
    }
    json_decref(all);
    return 0;
}

/* The audit log: printed as it is, then (--follow) what is appended. */
static int show_log(const char *key, bool follow)
{
    hutch_error err = {0};
    autofree char *path = NULL;
    if (hutch_session_audit_path(key, !follow, &path, &err) < 0)
        return failed(&err);
    autoclose int fd = -1;
    off_t at = 0;
    char buf[65536];
    for (;;) {
        if (fd < 0)
            fd = TEMP_FAILURE_RETRY(open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
        ssize_t n = fd >= 0 ? TEMP_FAILURE_RETRY(pread(fd, buf, sizeof buf, at)) : 0;
        if (n > 0) {
            if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
                return cli_error("cannot write to stdout");
            at += n;
            continue;
        }
        if (!follow)
            return 0;
        fflush(stdout);
        struct timespec pause = {0, 200 * 1000000L};
        nanosleep(&pause, NULL);
    }
}

int cmd_session(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        help_topic("session", argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_HUTCH_FAILED : 0;
    }
    const char *sub = argv[1];
    struct session_args sa = {0};
    hutch_error err = {0};
    bool create = strcmp(sub, "create") == 0, start = strcmp(sub, "start") == 0;
    bool rm = strcmp(sub, "rm") == 0, ls = strcmp(sub, "ls") == 0;
    bool known = create || start || rm || ls || strcmp(sub, "stop") == 0 ||
                 strcmp(sub, "status") == 0 || strcmp(sub, "stats") == 0 ||
                 strcmp(sub, "shell") == 0 || strcmp(sub, "log") == 0;
    if (!known)
        return cli_error("unknown session command '%s' (create, start, stop, rm, status, ls, "
                         "stats, shell, log)",
                         sub);
    if (strcmp(sub, "shell") == 0)
        return cmd_session_shell(argc - 1, argv + 1);
    if (strcmp(sub, "log") == 0) {
        bool follow = false;
        const char *key = NULL;
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--follow") == 0 || strcmp(argv[i], "-f") == 0)
                follow = true;
            else if (argv[i][0] != '-' && !key)
                key = argv[i];
            else
                return cli_error("unexpected argument '%s': hutch session log KEY [--follow]",
                                 argv[i]);
        }
        if (!key)
            return cli_error("hutch session log needs a session key: hutch session log KEY");
        return show_log(key, follow);
    }
    int r = parse(sub, argc - 1, argv + 1, !ls, create || start, rm, &sa, &err);
    if (r <= 0) {
        policy_args_free(&sa.policy);
        return r == 0 ? 0 : cli_error("%s", err.message);
    }
    int status_code;
    if (create || start)
        status_code = bring_up(&sa, create);
    else if (rm || strcmp(sub, "stop") == 0)
        status_code = tear_down(&sa, rm);
    else if (ls)
        status_code = list(&sa);
    else if (strcmp(sub, "stats") == 0)
        status_code = answer(&sa, hutch_session_stats, render_stats);
    else
        status_code = answer(&sa, hutch_session_status, render_status);
    policy_args_free(&sa.policy);
    return status_code;
}
