/* bash {command, timeout?, workdir?, env?, background?}: a shell command,
 * its output interleaved into a log file, and the tail of that shown.
 * background hands the command to the process table (process.c). */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "drivers/native/landlock.h"
#include "base/proctag.h"
#include "tools/internal.h"

#define RUN_TAG "HUTCH_RUN="
/* SIGTERM first; SIGKILL this much later (as for runs). */
#define KILL_GRACE_MS 2000.0
/* Foreground logs kept in the output directory: the newest ones, and none
 * older than this. */
#define FG_LOGS_KEPT 32
#define FG_LOG_MAX_AGE_S 3600

/* ---- spawning --------------------------------------------------------------------- */

static const char *shell_path(void)
{
    if (access("/bin/bash", X_OK) == 0)
        return "/bin/bash";
    if (access("/usr/bin/bash", X_OK) == 0)
        return "/usr/bin/bash";
    return "/bin/sh";
}

bool bash_make_tag(char *buf, size_t size)
{
    static unsigned long long counter;
    return fmt_fits(buf, size, "%ld.t%llu", (long)getpid(), ++counter);
}

void bash_signal(pid_t pgid, const char *tag, int sig)
{
    if (pgid > 0) {
        /* The leader too: just after fork it may not have made its group
         * yet (callers pass only leaders they have not reaped). */
        (void)kill(pgid, sig);
        (void)kill(-pgid, sig);
    }
    if (tag && *tag) {
        /* A cut entry would match other commands' tags. */
        char entry[128];
        if (fmt_fits(entry, sizeof entry, RUN_TAG "%s", tag))
            proctag_signal(entry, sig);
    }
}

static bool valid_env_name(const char *name)
{
    if (!*name)
        return false;
    for (const char *c = name; *c; c++)
        if (*c == '=')
            return false;
    return true;
}

/* envp + args.env (which wins) + HUTCH_RUN=tag, as one block. An HUTCH_RUN
 * given in either is dropped: a command cannot pose as another. */
static char **build_env(char *const *base, const json_t *extra, const char *tag, hutch_error *err)
{
    if (extra && !json_is_object(extra)) {
        error_set(err, HUTCH_E_INVALID,
                  "env must be an object of strings, like {\"NAME\": \"value\"}");
        return NULL;
    }
    size_t count = 2, bytes = strlen(RUN_TAG) + strlen(tag) + 1;
    for (char *const *e = base; e && *e; e++) {
        count++;
        bytes += strlen(*e) + 1;
    }
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)extra, key, value)
    {
        if (!json_is_string(value)) {
            error_set(err, HUTCH_E_INVALID, "env.%.64s must be a string", key);
            return NULL;
        }
        if (!valid_env_name(key) || memchr(json_string_value(value), '\0',
                                           json_string_length(value))) {
            error_set(err, HUTCH_E_INVALID,
                      "env.%.64s is not a valid variable (no '=' or NUL allowed)", key);
            return NULL;
        }
        count++;
        bytes += strlen(key) + json_string_length(value) + 2;
    }
    char **env = malloc(count * sizeof *env + bytes);
    if (!env) {
        error_set(err, HUTCH_E_SYSTEM, "out of memory");
        return NULL;
    }
    char *s = (char *)(env + count);
    size_t n = 0;
    for (char *const *e = base; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || strncmp(*e, RUN_TAG, strlen(RUN_TAG)) == 0)
            continue;
        char name[256];
        size_t nlen = (size_t)(eq - *e);
        if (nlen < sizeof name) {
            memcpy(name, *e, nlen);
            name[nlen] = '\0';
            if (extra && json_object_get(extra, name))
                continue; /* args.env overrides it */
        }
        env[n++] = s;
        s = stpcpy(s, *e) + 1;
    }
    json_object_foreach((json_t *)extra, key, value)
    {
        if (strcmp(key, "HUTCH_RUN") == 0)
            continue;
        env[n++] = s;
        s += sprintf(s, "%s=%s", key, json_string_value(value)) + 1;
    }
    env[n++] = s;
    sprintf(s, RUN_TAG "%s", tag);
    env[n] = NULL;
    return env;
}

/* In the child, between fork and exec: system calls only (the caller may
 * have threads, whose locks a fork copies held). */
static void __attribute__((noreturn)) child(const struct spawn_request *req, int in_fd,
                                            const char *shell, char *const *argv, char **envp)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (int sig = 1; sig < 65; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* A session of its own: the command is signalled as one group. */
    (void)setsid();
    int in = fcntl(in_fd, F_DUPFD, 3), out = fcntl(req->out_fd, F_DUPFD, 3);
    if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
        _exit(127);
    if (tool_commands_ruleset >= 0 && landlock_apply(tool_commands_ruleset) < 0) {
        static const char msg[] = "hutch: cannot confine the command (Landlock)\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(127);
    }
    if (fchdir(req->cwd_fd) < 0) {
        static const char msg[] = "hutch: cannot enter the working directory\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(127);
    }
    if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
        for (int fd = 3; fd < 65536; fd++)
            (void)close(fd);
    execve(shell, argv, envp);
    static const char msg[] = "hutch: cannot run the shell\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
}

pid_t bash_spawn(const struct spawn_request *req, hutch_error *err)
{
    autofree char **envp = build_env(req->envp, req->env, req->tag, err);
    if (!envp)
        return -1;
    const char *shell = shell_path();
    const char *name = strrchr(shell, '/') + 1;
    char *const argv[] = {(char *)name, (char *)"-c", (char *)req->command, NULL};
    autoclose int devnull = -1;
    int in_fd = req->stdin_fd;
    if (in_fd < 0) {
        devnull = TEMP_FAILURE_RETRY(open("/dev/null", O_RDONLY | O_CLOEXEC));
        if (devnull < 0) {
            error_sys(err, errno, "cannot open /dev/null");
            return -1;
        }
        in_fd = devnull;
    }
    pid_t pid = fork();
    if (pid < 0) {
        error_sys(err, errno, "cannot start the command: fork failed");
        return -1;
    }
    if (pid == 0)
        child(req, in_fd, shell, argv, envp);
    return pid;
}

static int bash_workdir(const json_t *args, const struct tool_env *env, hutch_error *err)
{
    const char *dir = NULL;
    size_t len = 0;
    if (arg_string(args, "workdir", &dir, &len, err) < 0)
        return -1;
    if (!dir) {
        int fd = TEMP_FAILURE_RETRY(open(env->roots.workspace, O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (fd < 0)
            error_sys(err, errno, "cannot open the workspace %s", env->roots.workspace);
        return fd;
    }
    struct tool_path p __attribute__((cleanup(path_release))) = {.rootfd = -1};
    if (path_resolve(&env->roots, dir, len, PATH_READ, &p, err) < 0)
        return -1;
    int fd = path_open(&p, p.rest, O_PATH | O_DIRECTORY, 0);
    if (fd < 0) {
        path_error(&p, errno, "enter", err);
        error_prefix(err, "workdir");
    }
    return fd;
}

void bash_dirs_close(struct bash_dirs *d)
{
    close_fd(&d->cwd);
    close_fd(&d->dirfd);
}

json_t *bash_dirs_open(const json_t *args, const struct tool_env *env, struct bash_dirs *d)
{
    hutch_error err;
    d->cwd = bash_workdir(args, env, &err);
    if (d->cwd < 0)
        return tool_fail_error(&err);
    d->out_dir = env->output_dir ? env->output_dir : TOOL_OUTPUT_DIR;
    d->dirfd = output_dir_open(d->out_dir);
    if (d->dirfd < 0)
        return tool_fail("cannot use the output directory %s: %s", d->out_dir, strerror(errno));
    return NULL;
}

/* ---- foreground logs ------------------------------------------------------------------ */

struct old_log {
    time_t mtime;
    char name[64];
};

static int newest_first(const void *a, const void *b)
{
    const struct old_log *x = a, *y = b;
    return x->mtime > y->mtime ? -1 : x->mtime < y->mtime ? 1 : 0;
}

/* Foreground logs are kept for a while, not for ever: the oldest go. */
static void prune_logs(int dirfd)
{
    DIR *d = opendir_at(dirfd, ".", 0);
    if (!d)
        return;
    struct old_log *logs = NULL;
    size_t n = 0, cap = 0;
    time_t now = wall_seconds();
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "bash-", 5) != 0 || len < 9 || len >= sizeof logs->name ||
            strcmp(e->d_name + len - 4, ".log") != 0)
            continue;
        struct stat st;
        if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (!array_reserve(&logs, &cap, n, sizeof *logs, 64))
            break;
        logs[n].mtime = st.st_mtime;
        memcpy(logs[n].name, e->d_name, len + 1);
        n++;
    }
    closedir(d);
    if (n)
        qsort(logs, n, sizeof *logs, newest_first);
    for (size_t i = 0; i < n; i++)
        if (i >= FG_LOGS_KEPT - 1 || now - logs[i].mtime > FG_LOG_MAX_AGE_S)
            (void)unlinkat(dirfd, logs[i].name, 0);
    free(logs);
}

/* A new, empty log file in the output directory: bash-<random>.log. */
static int create_log(int dirfd, char *name, size_t size)
{
    for (int i = 0; i < 16; i++) {
        unsigned char r[6];
        if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
            uint64_t v = (uint64_t)monotonic_ms() * 1000 ^ (uint64_t)getpid() << 24 ^ (uint64_t)i;
            memcpy(r, &v, sizeof r);
        }
        if (!fmt_fits(name, size, "bash-%02x%02x%02x%02x%02x%02x.log", r[0], r[1], r[2], r[3],
                      r[4], r[5])) {
            errno = ENAMETOOLONG;
            return -1;
        }
        int fd = TEMP_FAILURE_RETRY(
            openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

/* ---- the foreground command ----------------------------------------------------------- */

struct outcome {
    int status;
    bool timed_out, cancelled;
};

/* Reads what the pipe holds now into the log; false at end of file. */
static bool drain(int fd, struct tool_log *log, int max_reads)
{
    char buf[TOOL_CHUNK];
    for (int i = 0; i < max_reads; i++) {
        ssize_t n = TEMP_FAILURE_RETRY(read(fd, buf, sizeof buf));
        if (n == 0)
            return false;
        if (n < 0)
            return errno == EAGAIN;
        (void)log_append(log, buf, (size_t)n);
    }
    return true;
}

static int ms_until(double at, double now)
{
    double d = at - now;
    return d <= 0 ? 0 : d > 1e9 ? 1000000000 : (int)d + 1;
}

/* Waits for the command, copying its output into the log, enforcing the
 * timeout and watching for cancellation. */
static void supervise(pid_t pid, const char *tag, int out_r, struct tool_log *log,
                      uint64_t timeout_ms, int cancel_fd, struct outcome *o)
{
    double start = monotonic_ms();
    double term_at = timeout_ms ? start + (double)timeout_ms : 0, kill_at = 0;
    autoclose int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    bool out_open = true;
    for (;;) {
        siginfo_t si = {0};
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
            break;
        double now = monotonic_ms();
        if (term_at && now >= term_at) {
            term_at = 0;
            o->timed_out = true;
            bash_signal(pid, tag, SIGTERM);
            kill_at = now + KILL_GRACE_MS;
        }
        if (kill_at && now >= kill_at) {
            kill_at = 0;
            bash_signal(pid, tag, SIGKILL);
        }
        int wait = -1;
        if (term_at)
            wait = ms_until(term_at, now);
        if (kill_at)
            wait = wait < 0 || ms_until(kill_at, now) < wait ? ms_until(kill_at, now) : wait;
        /* Without pidfds (before Linux 5.3), a look every 50 ms. */
        if (pidfd < 0 && (wait < 0 || wait > 50))
            wait = 50;
        struct pollfd pf[3] = {
            {.fd = out_open ? out_r : -1, .events = POLLIN},
            {.fd = pidfd, .events = POLLIN},
            {.fd = cancel_fd > 0 ? cancel_fd : -1, .events = POLLIN | POLLRDHUP},
        };
        if (poll(pf, 3, wait) < 0 && errno != EINTR)
            break;
        if (pf[0].revents)
            out_open = drain(out_r, log, 4);
        if (pf[2].revents && !o->cancelled) {
            /* The caller is gone: everything of the command goes now. */
            o->cancelled = true;
            bash_signal(pid, tag, SIGKILL);
        }
    }
    /* It exited but is not reaped: its group id cannot be reused yet, so
     * what it left in the group is killed safely. */
    (void)kill(-pid, SIGKILL);
    if (o->timed_out || o->cancelled)
        bash_signal(0, tag, SIGKILL);
    int status = 0;
    (void)TEMP_FAILURE_RETRY(waitpid(pid, &status, 0));
    o->status = status;
    /* What is in the pipe now; a process that escaped the group and still
     * holds it open is not waited for. */
    if (out_open)
        (void)drain(out_r, log, 64);
}

/* The text of a foreground result: the tail, a notice when cut, the end. */
static char *result_text(const struct tail *t, const struct tool_log *log, const char *file,
                         const struct outcome *o, uint64_t timeout_ms, size_t *len)
{
    uint64_t total = log_lines(log);
    char notice[TOOL_PATH_MAX + 256] = "";
    char where[TOOL_PATH_MAX + 96];
    const char *slash = strrchr(file, '/');
    const int dir_len = slash ? (int)(slash - file) : (int)strlen(file);
    /* Notices for the model: file (at most TOOL_PATH_MAX + 80) fits; were it
     * cut, only the text read would be. */
    if (log->in_memory)
        fmt_trunc(where, sizeof where, "the rest is not kept: no space left in %.*s", dir_len,
                  file);
    else if (log->dropped)
        fmt_trunc(where, sizeof where, "the last %u MiB of it are in %s", TOOL_LOG_KEEP >> 20,
                  file);
    else
        fmt_trunc(where, sizeof where, "full output in %s", file);
    if (t->partial_line)
        fmt_trunc(notice, sizeof notice,
                  "[Output cut: showing the last %d KiB of the last line (%" PRIu64
                  " lines in all); %s]",
                  TOOL_MAX_BYTES / 1024, total, where);
    else if (t->cut || log->dropped)
        fmt_trunc(notice, sizeof notice,
                  "[Output cut: showing the last %" PRIu64 " lines of %" PRIu64 "; %s]", t->lines,
                  total, where);
    else if (log->in_memory)
        fmt_trunc(notice, sizeof notice,
                  "[The output is not kept in a file: no space left in %.*s]", dir_len, file);
    char end[128] = "";
    if (o->timed_out)
        fmt_bounded(end, "Timed out after %g s: the command was killed",
                    (double)timeout_ms / 1000.0);
    else if (WIFSIGNALED(o->status))
        fmt_bounded(end, "Killed by signal %d", WTERMSIG(o->status));
    else if (WIFEXITED(o->status) && WEXITSTATUS(o->status) != 0)
        fmt_bounded(end, "Exit code %d", WEXITSTATUS(o->status));

    size_t cap = t->len + strlen(notice) + strlen(end) + 32;
    char *text = malloc(cap);
    if (!text)
        return NULL;
    size_t n = 0;
    if (t->len) {
        memcpy(text, t->text, t->len);
        n = t->len;
    } else if (!log->total) {
        n = (size_t)sprintf(text, "(no output)");
    }
    if (notice[0])
        n += (size_t)sprintf(text + n, "%s%s", n && text[n - 1] != '\n' ? "\n\n" : n ? "\n" : "",
                             notice);
    if (end[0])
        n += (size_t)sprintf(text + n, "%s%s", n && text[n - 1] != '\n' ? "\n\n" : n ? "\n" : "",
                             end);
    text[n] = '\0';
    *len = n;
    return text;
}

json_t *tool_bash(const json_t *args, const struct tool_env *env)
{
    hutch_error err;
    const char *command = NULL;
    size_t command_len = 0;
    bool background = false;
    int64_t timeout_s = 0;
    if (arg_string(args, "command", &command, &command_len, &err) < 0 ||
        arg_bool(args, "background", &background, &err) < 0 ||
        arg_int(args, "timeout", 1, INT32_MAX, &timeout_s, &err) < 0)
        return tool_fail("bash: %s", err.message);
    if (!command || command_len == 0)
        return tool_fail("bash needs a command");
    json_t *extra = json_object_get(args, "env");
    if (extra && !json_is_null(extra) && !json_is_object(extra))
        return tool_fail("bash: env must be an object of strings, like {\"NAME\": \"value\"}");
    if (background)
        return process_start(args, env);

    /* The host clamped env->timeout_ms; a smaller args.timeout still counts. */
    uint64_t timeout_ms = env->timeout_ms;
    if (timeout_s && (!timeout_ms || (uint64_t)timeout_s * 1000 < timeout_ms))
        timeout_ms = (uint64_t)timeout_s * 1000;

    auto_bash_dirs struct bash_dirs dirs = {.cwd = -1, .dirfd = -1};
    json_t *failed = bash_dirs_open(args, env, &dirs);
    if (dirs.dirfd < 0)
        return failed;
    prune_logs(dirs.dirfd);
    char name[64];
    autoclose int log_fd = create_log(dirs.dirfd, name, sizeof name);
    /* No room for a log (a full /tmp): the command still runs, above all
     * the one that frees space; its output is shown, not kept. */
    bool full = log_fd < 0 && (errno == ENOSPC || errno == EDQUOT);
    if (full)
        log_fd = log_memory_fd();
    if (log_fd < 0)
        return tool_fail("cannot create a log in %s: %s", dirs.out_dir, strerror(errno));
    struct tool_log log = {.fd = log_fd, .ends_nl = true, .spill = true, .in_memory = full};
    char file[TOOL_PATH_MAX + 80];
    if (!fmt_fits(file, sizeof file, "%s/%s", dirs.out_dir, name))
        return tool_fail("the output directory's path is too long: %.200s", dirs.out_dir);

    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) < 0)
        return tool_fail("cannot start the command: pipe failed: %s", strerror(errno));
    autoclose int out_r = pipe_fds[0];
    autoclose int out_w = pipe_fds[1];
    /* Our end never blocks the wait loop; the command's end is its own. */
    if (fcntl(out_r, F_SETFL, O_NONBLOCK) < 0)
        return tool_fail("cannot start the command: %s", strerror(errno));
    char tag[64];
    bool tag_ok = env->tag && *env->tag ? fmt_fits(tag, sizeof tag, "%s", env->tag)
                                        : bash_make_tag(tag, sizeof tag);
    if (!tag_ok)
        return tool_fail("the run's tag is too long: %.200s", env->tag ? env->tag : "");
    autofree char *cmd = strndup(command, command_len);
    if (!cmd)
        return NULL;
    struct spawn_request req = {.command = cmd,
                                .cwd_fd = dirs.cwd,
                                .envp = env->envp,
                                .env = json_is_object(extra) ? extra : NULL,
                                .tag = tag,
                                .stdin_fd = -1,
                                .out_fd = out_w};
    pid_t pid = bash_spawn(&req, &err);
    close_fd(&out_w); /* only the command writes now: EOF when it is done */
    if (pid < 0)
        return tool_fail_error(&err);

    struct outcome o = {0};
    supervise(pid, tag, out_r, &log, timeout_ms, env->cancel_fd, &o);
    if (o.cancelled)
        return tool_fail("the command was cancelled");

    struct tail t;
    if (file_tail(log.fd, log.size, &t) < 0)
        return errno == ENOMEM ? NULL
                               : tool_fail("cannot read the output back from %s: %s", file,
                                           strerror(errno));
    size_t text_len;
    autofree char *text = result_text(&t, &log, file, &o, timeout_ms, &text_len);
    free(t.text);
    if (!text)
        return NULL;
    /* As hutch run and exec report it: 124 for a timeout, whatever signal
     * ended the command then. */
    int code = o.timed_out            ? 124
               : WIFEXITED(o.status) ? WEXITSTATUS(o.status)
                                     : 128 + WTERMSIG(o.status);
    json_t *r = tool_ok(text, text_len);
    if (!tool_set(r, "exit_code", json_integer(code)) ||
        !tool_set(r, "timed_out", json_boolean(o.timed_out)) ||
        !tool_set(r, "output_file",
                  log.in_memory ? json_null() : tool_string(file, strlen(file))) ||
        !tool_set(r, "truncated", json_boolean(t.cut || log.dropped)) ||
        !tool_set(r, "total_lines", json_integer((json_int_t)log_lines(&log))) ||
        !tool_set(r, "total_bytes", json_integer((json_int_t)log.total)))
        return NULL;
    if (WIFSIGNALED(o.status) && !tool_set(r, "signal", json_integer(WTERMSIG(o.status))))
        return NULL;
    return r;
}
