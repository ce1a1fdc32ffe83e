/* Background processes (bash {background: true}) and the process tool that
 * looks after them: list, poll, log, write, kill, remove. The table lives
 * in the agent's main loop, which must never block: every action here is a
 * non-blocking system call or a bounded read of a log file. Output reaches
 * the log through a pipe that the loop drains (tool_process_events), so
 * that the log can be capped (log_append) while the process runs. */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "tools/internal.h"

/* Entries kept at once, running or finished. */
#define TABLE_SIZE TOOL_PROCESS_MAX
/* A finished entry (and its log) is forgotten this long after it ended. */
#define KEEP_FINISHED_MS (3600.0 * 1000.0)
#define KILL_GRACE_MS 2000.0
/* Pipe reads per process per wake-up, so that one chatty process cannot
 * starve the agent's other work. */
#define READS_PER_WAKEUP 4

struct bg {
    bool used;
    unsigned id; /* "p<id>" */
    pid_t pid;
    char command[256]; /* for list: cut */
    char tag[64];
    char *log_path;
    time_t started_wall;
    double started, finished; /* monotonic ms; finished 0 while running */
    bool running;
    int status;
    int out_fd, in_fd;
    struct tool_log log;
    uint64_t polled; /* bytes of the output (of log.total) poll has shown */
    double kill_at;  /* SIGKILL then, after a kill's SIGTERM */
    bool killed;
};

static struct bg table[TABLE_SIZE];
static unsigned next_id = 1;
/* Entries in use: while none, the loop's calls do not even look at the
 * table (its pages stay untouched in an idle agent). */
static int in_use;

/* ---- the table ----------------------------------------------------------------------- */

static void close_entry(struct bg *b)
{
    close_fd(&b->out_fd);
    close_fd(&b->in_fd);
    close_fd(&b->log.fd);
}

static void forget(struct bg *b, bool remove_log)
{
    close_entry(b);
    if (remove_log && b->log_path)
        (void)unlink(b->log_path);
    free(b->log_path);
    if (b->used)
        in_use--;
    memset(b, 0, sizeof *b);
    b->out_fd = b->in_fd = b->log.fd = -1;
}

static struct bg *find_pid(pid_t pid)
{
    if (!in_use)
        return NULL;
    for (int i = 0; i < TABLE_SIZE; i++)
        if (table[i].used && table[i].running && table[i].pid == pid)
            return &table[i];
    return NULL;
}

static struct bg *find_id(const char *id)
{
    if (!id || id[0] != 'p')
        return NULL;
    char *end;
    unsigned long n = strtoul(id + 1, &end, 10);
    if (*end || end == id + 1)
        return NULL;
    for (int i = 0; i < TABLE_SIZE; i++)
        if (table[i].used && table[i].id == n)
            return &table[i];
    return NULL;
}

/* A free slot; when none, the entry that finished first makes room. */
static struct bg *free_slot(void)
{
    struct bg *oldest = NULL;
    for (int i = 0; i < TABLE_SIZE; i++) {
        if (!table[i].used)
            return &table[i];
        if (!table[i].running && (!oldest || table[i].finished < oldest->finished))
            oldest = &table[i];
    }
    if (oldest)
        forget(oldest, true);
    return oldest;
}

/* A finished process whose output has all arrived needs no descriptor:
 * the table holds none for it (poll and log open the log again). */
static void settle(struct bg *b)
{
    if (!b->running && b->out_fd < 0)
        close_fd(&b->log.fd);
}

/* Copies what the process's pipe holds into its log. */
static void pump(struct bg *b, int max_reads)
{
    char buf[TOOL_CHUNK];
    for (int i = 0; i < max_reads && b->out_fd >= 0; i++) {
        ssize_t n = TEMP_FAILURE_RETRY(read(b->out_fd, buf, sizeof buf));
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            close_fd(&b->out_fd); /* every writer is gone */
            settle(b);
            return;
        }
        (void)log_append(&b->log, buf, (size_t)n);
    }
}

/* A descriptor to read the log through: the table's, or one opened for
 * the call (*own, to be closed). */
static int log_reader(const struct bg *b, int *own)
{
    *own = -1;
    if (b->log.fd >= 0)
        return b->log.fd;
    *own = TEMP_FAILURE_RETRY(open(b->log_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    return *own;
}

static void state_text(const struct bg *b, char *buf, size_t size)
{
    /* For people: cut, were buf too small. */
    if (b->running)
        fmt_trunc(buf, size, "running%s", b->killed ? " (being killed)" : "");
    else if (WIFSIGNALED(b->status))
        fmt_trunc(buf, size, "killed by signal %d", WTERMSIG(b->status));
    else
        fmt_trunc(buf, size, "exited with code %d", WEXITSTATUS(b->status));
}

/* ---- the loop's side -------------------------------------------------------------------- */

bool tool_process_has(int pid)
{
    return find_pid(pid) != NULL;
}

void tool_process_exited(int pid, int wait_status)
{
    struct bg *b = find_pid(pid);
    if (!b)
        return;
    b->running = false;
    b->status = wait_status;
    b->finished = monotonic_ms();
    b->kill_at = 0;
    close_fd(&b->in_fd);
    pump(b, READS_PER_WAKEUP);
    settle(b);
}

int tool_process_pollfds(struct pollfd *fds, int max)
{
    int n = 0;
    if (!in_use)
        return 0;
    for (int i = 0; i < TABLE_SIZE && n < max; i++)
        if (table[i].used && table[i].out_fd >= 0)
            fds[n++] = (struct pollfd){.fd = table[i].out_fd, .events = POLLIN};
    return n;
}

void tool_process_events(const struct pollfd *fds, int n)
{
    for (int k = 0; k < n; k++) {
        if (!fds[k].revents)
            continue;
        for (int i = 0; i < TABLE_SIZE; i++)
            if (table[i].used && table[i].out_fd == fds[k].fd) {
                pump(&table[i], READS_PER_WAKEUP);
                break;
            }
    }
}

int tool_process_tick(void)
{
    if (!in_use)
        return -1;
    double now = monotonic_ms();
    double next = -1;
    for (int i = 0; i < TABLE_SIZE; i++) {
        struct bg *b = &table[i];
        if (!b->used)
            continue;
        if (b->running && b->kill_at) {
            if (now >= b->kill_at) {
                b->kill_at = 0;
                bash_signal(b->pid, b->tag, SIGKILL);
            } else if (next < 0 || b->kill_at < next) {
                next = b->kill_at;
            }
        }
        if (!b->running) {
            double expire = b->finished + KEEP_FINISHED_MS;
            if (now >= expire)
                forget(b, true);
            else if (next < 0 || expire < next)
                next = expire;
        }
    }
    if (next < 0)
        return -1;
    double d = next - now;
    return d <= 0 ? 0 : d > 1e9 ? 1000000000 : (int)d + 1;
}

void tool_process_signal_all(int sig)
{
    for (int i = 0; i < TABLE_SIZE; i++)
        if (table[i].used && table[i].running)
            bash_signal(table[i].pid, table[i].tag, sig);
}

void tool_process_forget_all(void)
{
    for (int i = 0; i < TABLE_SIZE; i++)
        if (table[i].used)
            forget(&table[i], false);
}

/* ---- starting ------------------------------------------------------------------------- */

json_t *process_start(const json_t *args, const struct tool_env *env)
{
    hutch_error err;
    const char *command = NULL;
    size_t command_len = 0;
    if (arg_string(args, "command", &command, &command_len, &err) < 0 || !command)
        return tool_fail("bash: %s", command ? err.message : "a command is needed");
    int running = 0;
    for (int i = 0; i < TABLE_SIZE; i++)
        running += table[i].used && table[i].running;
    if (running >= TABLE_SIZE)
        return tool_fail("%d background processes run already: kill some first (process kill)",
                         TABLE_SIZE);
    auto_bash_dirs struct bash_dirs dirs = {.cwd = -1, .dirfd = -1};
    json_t *failed = bash_dirs_open(args, env, &dirs);
    if (dirs.dirfd < 0)
        return failed;

    struct bg *b = free_slot();
    if (!b)
        return tool_fail("the process table is full");
    unsigned id = next_id++;
    char name[32];
    fmt_bounded(name, "p%u.log", id);
    /* A log of an earlier agent may have the name: it goes. */
    (void)unlinkat(dirs.dirfd, name, 0);
    autoclose int log_fd = TEMP_FAILURE_RETRY(
        openat(dirs.dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (log_fd < 0)
        return tool_fail("cannot create a log in %s: %s", dirs.out_dir, strerror(errno));
    char path[TOOL_PATH_MAX + 64];
    if (!fmt_fits(path, sizeof path, "%s/%s", dirs.out_dir, name))
        return tool_fail("the output directory's path is too long: %.200s", dirs.out_dir);
    autofree char *log_path = strdup(path);
    autofree char *cmd = strndup(command, command_len);
    if (!log_path || !cmd)
        return NULL;
    int out[2], in[2];
    if (pipe2(out, O_CLOEXEC) < 0)
        return tool_fail("cannot start the command: pipe failed: %s", strerror(errno));
    autoclose int out_r = out[0];
    autoclose int out_w = out[1];
    if (pipe2(in, O_CLOEXEC) < 0)
        return tool_fail("cannot start the command: pipe failed: %s", strerror(errno));
    autoclose int in_r = in[0];
    autoclose int in_w = in[1];
    /* The loop's ends never block it. */
    if (fcntl(out_r, F_SETFL, O_NONBLOCK) < 0 || fcntl(in_w, F_SETFL, O_NONBLOCK) < 0)
        return tool_fail("cannot start the command: %s", strerror(errno));

    char tag[64];
    bool tag_ok = env->tag && *env->tag ? fmt_fits(tag, sizeof tag, "%s.p%u", env->tag, id)
                                        : bash_make_tag(tag, sizeof tag);
    if (!tag_ok)
        return tool_fail("the run's tag is too long: %.200s", env->tag ? env->tag : "");
    json_t *extra = json_object_get(args, "env");
    struct spawn_request req = {.command = cmd,
                                .cwd_fd = dirs.cwd,
                                .envp = env->envp,
                                .env = json_is_object(extra) ? extra : NULL,
                                .tag = tag,
                                .stdin_fd = in_r,
                                .out_fd = out_w};
    pid_t pid = bash_spawn(&req, &err);
    if (pid < 0)
        return tool_fail_error(&err);

    memset(b, 0, sizeof *b);
    b->used = true;
    in_use++;
    b->id = id;
    b->pid = pid;
    fmt_trunc(b->command, sizeof b->command, "%s", cmd); /* for list: cut */
    _Static_assert(sizeof b->tag == sizeof tag, "a process keeps its whole tag");
    memcpy(b->tag, tag, sizeof tag);
    b->log_path = steal_pointer(&log_path);
    b->started_wall = wall_seconds();
    b->started = monotonic_ms();
    b->running = true;
    b->out_fd = steal_fd(&out_r);
    b->in_fd = steal_fd(&in_w);
    b->log = (struct tool_log){.fd = steal_fd(&log_fd), .ends_nl = true};

    char text[TOOL_PATH_MAX + 256];
    size_t n = fmt_trunc(text, sizeof text,
                         "Started p%u (pid %d) in the background; its output goes to %s. Use the "
                         "process tool with id \"p%u\": poll for new output, log to read it, "
                         "write to send input, kill to stop it.",
                         id, (int)pid, b->log_path, id);
    char id_text[32];
    fmt_bounded(id_text, "p%u", id);
    json_t *r = tool_ok(text, n);
    if (!tool_set(r, "id", json_string(id_text)) || !tool_set(r, "pid", json_integer(pid)) ||
        !tool_set(r, "output_file", tool_string(b->log_path, strlen(b->log_path))))
        return NULL;
    return r;
}

/* ---- the actions ------------------------------------------------------------------------- */

static json_t *describe(const struct bg *b)
{
    char id[32], state[64], started[32];
    fmt_bounded(id, "p%u", b->id);
    state_text(b, state, sizeof state);
    struct tm tm;
    gmtime_r(&b->started_wall, &tm);
    strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", &tm);
    double end = b->running ? monotonic_ms() : b->finished;
    json_t *o = json_object();
    if (!tool_set(o, "id", json_string(id)) || !tool_set(o, "pid", json_integer(b->pid)) ||
        !tool_set(o, "command", tool_string(b->command, strlen(b->command))) ||
        !tool_set(o, "started", json_string(started)) ||
        !tool_set(o, "runtime_ms", json_integer((json_int_t)(end - b->started))) ||
        !tool_set(o, "state", json_string(b->running ? "running" : "exited")) ||
        !tool_set(o, "output_file", tool_string(b->log_path, strlen(b->log_path))) ||
        !tool_set(o, "output_bytes", json_integer((json_int_t)b->log.total)))
        return NULL;
    if (!b->running) {
        int code = WIFEXITED(b->status) ? WEXITSTATUS(b->status) : 128 + WTERMSIG(b->status);
        if (!tool_set(o, "exit_code", json_integer(code)))
            return NULL;
        if (WIFSIGNALED(b->status) && !tool_set(o, "signal", json_integer(WTERMSIG(b->status))))
            return NULL;
    }
    return o;
}

static json_t *action_list(void)
{
    json_t *list = json_array();
    char text[TABLE_SIZE * 160 + 64];
    size_t n = 0;
    text[0] = '\0';
    int count = 0;
    for (int i = 0; i < TABLE_SIZE && list; i++) {
        const struct bg *b = &table[i];
        if (!b->used)
            continue;
        json_t *o = describe(b);
        if (!o || json_array_append_new(list, o) < 0) {
            json_decref(list);
            return NULL;
        }
        char state[64];
        state_text(b, state, sizeof state);
        /* Whole lines, as many as fit (all of them: 160 bytes each). */
        (void)!fmt_append(text, sizeof text, &n, "p%u  pid %d  %s  %.80s\n", b->id, (int)b->pid,
                          state, b->command);
        count++;
    }
    if (!list)
        return NULL;
    if (count == 0)
        n = fmt_bounded(text, "No background processes.");
    json_t *r = tool_ok(text, n);
    if (!tool_set(r, "processes", list))
        return NULL;
    return r;
}

/* Backs off UTF-8 continuation bytes so that a cut ends on a character. */
static size_t utf8_cut(const char *s, size_t n)
{
    size_t k = n;
    for (int i = 0; i < 3 && k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80; i++)
        k--;
    return k > 0 ? k : n;
}

static json_t *action_poll(struct bg *b)
{
    pump(b, 64);
    uint64_t skipped = 0;
    if (b->polled < b->log.dropped) {
        skipped = b->log.dropped - b->polled;
        b->polled = b->log.dropped;
    }
    uint64_t at = b->polled - b->log.dropped;
    uint64_t avail = b->log.size > at ? b->log.size - at : 0;
    size_t want = avail > TOOL_MAX_BYTES ? TOOL_MAX_BYTES : (size_t)avail;
    autofree char *buf = malloc(want + 1);
    if (!buf)
        return NULL;
    autoclose int own = -1;
    int fd = want ? log_reader(b, &own) : -1;
    ssize_t got = want ? (fd < 0 ? -1 : TEMP_FAILURE_RETRY(pread(fd, buf, want, (off_t)at))) : 0;
    if (got < 0)
        return tool_fail("cannot read the log of p%u: %s", b->id, strerror(errno));
    size_t len = (size_t)got;
    /* Whole lines when cut, at most TOOL_MAX_LINES of them. */
    bool more = avail > len;
    if (more) {
        const char *nl = memrchr(buf, '\n', len);
        len = nl ? (size_t)(nl - buf) + 1 : utf8_cut(buf, len);
    }
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\n' && ++lines == TOOL_MAX_LINES) {
            more = more || i + 1 < len;
            len = i + 1;
            break;
        }
    b->polled += len;

    char state[64];
    state_text(b, state, sizeof state);
    char head[128] = "", tailnote[192];
    if (skipped)
        fmt_bounded(head, "[%" PRIu64 " bytes of output were dropped from the log]\n", skipped);
    if (more)
        fmt_bounded(tailnote, "[p%u %s; more output is waiting: poll again]", b->id, state);
    else
        fmt_bounded(tailnote, "[p%u %s%s]", b->id, state, len ? "" : "; no new output");
    size_t hl = strlen(head), tl = strlen(tailnote);
    autofree char *text = malloc(hl + len + tl + 4);
    if (!text)
        return NULL;
    memcpy(text, head, hl);
    memcpy(text + hl, buf, len);
    size_t n = hl + len;
    if (len && buf[len - 1] != '\n')
        text[n++] = '\n';
    memcpy(text + n, tailnote, tl);
    n += tl;

    json_t *r = tool_ok(text, n);
    json_t *o = describe(b);
    if (!tool_set(r, "process", o) || !tool_set(r, "output", tool_string(buf, len)) ||
        !tool_set(r, "more", json_boolean(more)))
        return NULL;
    return r;
}

static json_t *action_log(struct bg *b, const json_t *args)
{
    hutch_error err;
    int64_t offset = 0, limit = 0;
    int has_offset = arg_int(args, "offset", 1, INT64_MAX, &offset, &err);
    if (has_offset < 0 || arg_int(args, "limit", 1, INT64_MAX, &limit, &err) < 0)
        return tool_fail("process log: %s", err.message);
    pump(b, 64);
    char dropped[160] = "";
    if (b->log.dropped)
        fmt_bounded(dropped,
                    "[The first %" PRIu64 " bytes of output were dropped: the log keeps the last "
                    "%u MiB; line numbers count from what is kept]\n",
                    b->log.dropped, TOOL_LOG_KEEP >> 20);
    char notice[256] = "";
    autofree char *body = NULL;
    size_t body_len = 0;
    json_t *extra_total = NULL;
    autoclose int own = -1;
    int fd = log_reader(b, &own);
    if (fd < 0)
        return tool_fail("cannot read the log of p%u: %s", b->id, strerror(errno));
    if (has_offset == 0 && !limit) {
        /* No offset: the end of the log, as bash shows it. */
        struct tail t;
        if (file_tail(fd, b->log.size, &t) < 0)
            return tool_fail("cannot read the log of p%u: %s", b->id, strerror(errno));
        body = t.text;
        body_len = t.len;
        if (t.cut)
            fmt_bounded(notice,
                        "[Showing the last %" PRIu64 " lines; use offset and limit for the rest]",
                        t.lines);
    } else {
        struct slice s;
        if (file_slice(fd, has_offset ? (uint64_t)offset : 1, (uint64_t)limit, &s) < 0)
            return tool_fail("cannot read the log of p%u: %s", b->id, strerror(errno));
        body = s.text;
        body_len = s.len;
        extra_total = json_integer((json_int_t)s.total);
        if (s.total && s.first > s.total)
            fmt_bounded(notice,
                        "[offset %" PRIu64 " is past the end: the log has %" PRIu64 " lines]",
                        s.first, s.total);
        else if (s.long_line)
            fmt_trunc(notice, sizeof notice,
                      "[Line %" PRIu64 " is %" PRIu64 " bytes, over the %d KiB shown at once; "
                      "read %s with bash]",
                      s.first, s.long_line, TOOL_MAX_BYTES / 1024, b->log_path);
        else if (s.last < s.total)
            fmt_bounded(notice,
                        "[Showing lines %" PRIu64 "-%" PRIu64 " of %" PRIu64 ". Use offset=%" PRIu64
                        " to continue.]",
                        s.first, s.last, s.total, s.last + 1);
    }
    size_t dl = strlen(dropped), nl = strlen(notice);
    autofree char *text = malloc(dl + body_len + nl + 4);
    if (!text) {
        json_decref(extra_total);
        return NULL;
    }
    memcpy(text, dropped, dl);
    memcpy(text + dl, body, body_len);
    size_t n = dl + body_len;
    if (nl) {
        if (n && text[n - 1] != '\n')
            text[n++] = '\n';
        memcpy(text + n, notice, nl);
        n += nl;
    }
    if (n == 0) {
        json_decref(extra_total);
        const char *none = "(no output yet)";
        return tool_ok(none, strlen(none));
    }
    json_t *r = tool_ok(text, n);
    if (extra_total && !tool_set(r, "total_lines", extra_total))
        return NULL;
    return r;
}

static json_t *action_write(struct bg *b, const json_t *args)
{
    hutch_error err;
    const char *data = NULL;
    size_t len = 0;
    if (arg_bytes(args, "data", &data, &len, &err) < 0)
        return tool_fail("process write: %s", err.message);
    if (!data)
        return tool_fail("process write needs data: the text to send to its input");
    if (!b->running || b->in_fd < 0)
        return tool_fail("p%u has exited: its input is closed", b->id);
    size_t done = 0;
    while (done < len) {
        ssize_t n = TEMP_FAILURE_RETRY(write(b->in_fd, data + done, len - done));
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0 && errno == EPIPE) {
            close_fd(&b->in_fd);
            return tool_fail("p%u does not read its input any more (it closed it)", b->id);
        }
        if (n < 0)
            return tool_fail("cannot write to p%u: %s", b->id, strerror(errno));
        done += (size_t)n;
    }
    char text[256];
    size_t n;
    if (done < len)
        n = fmt_bounded(text,
                        "Wrote %zu of %zu bytes to p%u's input: it is not reading fast enough; "
                        "send the rest later",
                        done, len, b->id);
    else
        n = fmt_bounded(text, "Wrote %zu bytes to p%u's input", done, b->id);
    json_t *r = tool_ok(text, n);
    if (!tool_set(r, "bytes", json_integer((json_int_t)done)))
        return NULL;
    return r;
}

static json_t *action_kill(struct bg *b)
{
    char text[256];
    size_t n;
    if (!b->running) {
        char state[64];
        state_text(b, state, sizeof state);
        n = fmt_bounded(text, "p%u is not running (%s)", b->id, state);
    } else if (b->killed) {
        /* Asked again: no more grace. */
        bash_signal(b->pid, b->tag, SIGKILL);
        b->kill_at = 0;
        n = fmt_bounded(text, "Sent SIGKILL to p%u", b->id);
    } else {
        b->killed = true;
        bash_signal(b->pid, b->tag, SIGTERM);
        b->kill_at = monotonic_ms() + KILL_GRACE_MS;
        n = fmt_bounded(text,
                        "Sent SIGTERM to p%u; SIGKILL follows in %.0f s if it has not exited",
                        b->id, KILL_GRACE_MS / 1000.0);
    }
    return tool_ok(text, n);
}

static json_t *action_remove(struct bg *b)
{
    if (b->running)
        return tool_fail("p%u is still running: kill it first (process kill), then remove it",
                         b->id);
    char text[64];
    size_t n = fmt_bounded(text, "Removed p%u and its log", b->id);
    forget(b, true);
    return tool_ok(text, n);
}

json_t *tool_process(const json_t *args, const struct tool_env *env)
{
    (void)env;
    hutch_error err;
    const char *action = NULL, *id = NULL;
    size_t action_len = 0, id_len = 0;
    if (arg_string(args, "action", &action, &action_len, &err) < 0 ||
        arg_string(args, "id", &id, &id_len, &err) < 0)
        return tool_fail("process: %s", err.message);
    if (!action)
        return tool_fail("process needs an action: list, poll, log, write, kill or remove");
    if (strcmp(action, "list") == 0)
        return action_list();
    bool known = strcmp(action, "poll") == 0 || strcmp(action, "log") == 0 ||
                 strcmp(action, "write") == 0 || strcmp(action, "kill") == 0 ||
                 strcmp(action, "remove") == 0;
    if (!known)
        return tool_fail("process: unknown action %.32s: use list, poll, log, write, kill or "
                         "remove",
                         action);
    if (!id)
        return tool_fail("process %s needs the id of a background process (see process list)",
                         action);
    struct bg *b = find_id(id);
    if (!b)
        return tool_fail("no background process %.32s: process list shows them", id);
    if (strcmp(action, "poll") == 0)
        return action_poll(b);
    if (strcmp(action, "log") == 0)
        return action_log(b, args);
    if (strcmp(action, "write") == 0)
        return action_write(b, args);
    if (strcmp(action, "kill") == 0)
        return action_kill(b);
    return action_remove(b);
}
