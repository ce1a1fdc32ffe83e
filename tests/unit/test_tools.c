/* The tool engine (src/tools/) called in-process, as the host does for
 * unsandboxed sessions: mostly here so that the sanitizer builds run every
 * tool's code. The behaviour in detail is tested through hutch-init in
 * tests/integration/test_agent_tools.py. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tap.h"
#include "tools/tools.h"
#include "base/util.h"

static char base[] = "/tmp/hutch-tools-XXXXXX";
static char ws[256], ro[256], out_dir[256];
static const char *readable[2], *writable[1];
static char *envp[] = {"PATH=/usr/bin:/bin", NULL};
static struct tool_env env;

/* Runs a tool with args given as JSON text; the result (to json_decref). */
static json_t *call(const char *name, const char *args_text)
{
    json_error_t e;
    json_t *args = json_loads(args_text, JSON_ALLOW_NUL, &e);
    json_t *result = NULL;
    int r = tool_run(name, args, -1, &env, &result);
    json_decref(args);
    return r == 0 ? result : NULL;
}

static bool is_ok(json_t *r)
{
    return r && json_is_true(json_object_get(r, "ok"));
}

static const char *str(json_t *r, const char *key)
{
    const char *s = json_string_value(json_object_get(r, key));
    return s ? s : "";
}

static void test_files(void)
{
    json_t *r = call("write", "{\"path\": \"a/b.txt\", \"content\": \"one\\ntwo\\n\"}");
    CHECK(is_ok(r), "write creates parents");
    CHECK_STR(str(r, "text"), "Wrote 8 bytes to a/b.txt", "and says so");
    json_decref(r);

    r = call("read", "{\"path\": \"a/b.txt\", \"offset\": 2}");
    CHECK_STR(str(r, "text"), "two\n", "read from an offset");
    json_decref(r);

    r = call("edit", "{\"path\": \"a/b.txt\", \"oldText\": \"two\", \"newText\": \"2\"}");
    CHECK(is_ok(r), "edit");
    CHECK_CONTAINS(str(r, "diff"), "-two\n+2\n", "with its diff");
    json_decref(r);

    r = call("edit", "{\"path\": \"a/b.txt\", \"oldText\": \"zzz\", \"newText\": \"2\"}");
    CHECK(!is_ok(r), "edit: not found");
    CHECK_CONTAINS(str(r, "error"), "a/b.txt: oldText not found", "is a result with a message");
    json_decref(r);

    int fds[2];
    CHECK(pipe2(fds, O_CLOEXEC) == 0, "pipe");
    (void)!write(fds[1], "piped", 5);
    close(fds[1]);
    json_t *args = json_pack("{s:s}", "path", "p.txt");
    r = NULL;
    CHECK(tool_run("write", args, fds[0], &env, &r) == 0 && is_ok(r),
          "write from a descriptor");
    close(fds[0]);
    json_decref(args);
    json_decref(r);

    char big[70000];
    memset(big, 'x', sizeof big);
    for (size_t i = 99; i < sizeof big; i += 100)
        big[i] = '\n';
    char path[300];
    snprintf(path, sizeof path, "%s/big.txt", ws);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    (void)!write(fd, big, sizeof big);
    close(fd);
    r = call("read", "{\"path\": \"big.txt\"}");
    CHECK_CONTAINS(str(r, "text"), "[Showing lines 1-512 of 700 (50 KiB limit). Use offset=513",
                   "read keeps the head");
    json_decref(r);

    r = call("read", "{\"path\": \"../../etc/passwd\"}");
    CHECK(!is_ok(r) && strstr(str(r, "error"), "leads outside"), "read: .. is refused");
    json_decref(r);
    r = call("write", "{\"path\": \"/etc/hutch-test\", \"content\": \"x\"}");
    CHECK(!is_ok(r) && strstr(str(r, "error"), "not in a writable place"),
          "write: outside the roots is refused");
    json_decref(r);
    snprintf(path, sizeof path, "{\"path\": \"%s/x\", \"content\": \"x\"}", ro);
    r = call("write", path);
    CHECK(!is_ok(r), "write: a read-only root is refused");
    json_decref(r);
    r = call("read", "{\"path\": 3}");
    CHECK(!is_ok(r) && strstr(str(r, "error"), "path must be a string"), "bad types are results");
    json_decref(r);
    r = call("read", "{\"path\": \"a/b.txt\", \"offset\": 1.5}");
    CHECK(!is_ok(r) && strstr(str(r, "error"), "offset must be a whole number"),
          "a fraction is not a whole number");
    json_decref(r);
    r = call("read", "{\"path\": \"a/b.txt\", \"offset\": 0}");
    CHECK(!is_ok(r) && strstr(str(r, "error"), "offset must be from 1 to"),
          "a number out of range names the range");
    json_decref(r);
    r = call("read", "{\"path\": \"a/b.txt\", \"offset\": 2.0, \"limit\": null}");
    CHECK(is_ok(r) && strcmp(str(r, "text"), "2\n") == 0,
          "2.0 is a whole number and null is no argument");
    json_decref(r);
    r = call("edit", "{\"path\": \"a/b.txt\", \"oldText\": \"2\", \"newText\": \"3\", "
                     "\"dryRun\": \"yes\"}");
    CHECK(!is_ok(r) && strstr(str(r, "error"), "dryRun must be true or false"),
          "a flag must be a boolean");
    json_decref(r);
    r = call("frobnicate", "{}");
    CHECK(!is_ok(r) && strstr(str(r, "error"), "unknown tool"), "unknown tools are results");
    json_decref(r);
    r = NULL;
    CHECK(tool_run("read", NULL, -1, &env, &r) == 0 && !is_ok(r), "NULL args are a result");
    json_decref(r);
}

static void test_bash(void)
{
    json_t *r = call("bash", "{\"command\": \"seq 1 3000; echo err >&2; exit 5\"}");
    CHECK(is_ok(r) && json_integer_value(json_object_get(r, "exit_code")) == 5, "bash: exit code");
    CHECK_CONTAINS(str(r, "text"), "showing the last 2000 lines of 3001", "bash: the tail");
    CHECK_CONTAINS(str(r, "text"), "Exit code 5", "bash: says the exit code");
    json_decref(r);

    env.timeout_ms = 300;
    r = call("bash", "{\"command\": \"sleep 20\"}");
    CHECK(is_ok(r) && json_is_true(json_object_get(r, "timed_out")), "bash: timeout");
    json_decref(r);
    env.timeout_ms = 0;

    /* Cancellation: a readable cancel_fd ends the call at once. */
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe");
    (void)!write(p[1], "x", 1);
    env.cancel_fd = p[0];
    double start = monotonic_ms();
    r = call("bash", "{\"command\": \"sleep 20\"}");
    CHECK(!is_ok(r) && strstr(str(r, "error"), "cancelled") && monotonic_ms() - start < 5000,
          "bash: cancelled");
    json_decref(r);
    env.cancel_fd = -1;
    close(p[0]);
    close(p[1]);
}

/* Reaps like the agent: the group first, then the pid, then the table. */
static void reap_background(void)
{
    for (;;) {
        siginfo_t si = {0};
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
            return;
        if (tool_process_has(si.si_pid))
            kill(-si.si_pid, SIGKILL);
        int status;
        waitpid(si.si_pid, &status, 0);
        tool_process_exited(si.si_pid, status);
    }
}

static void pump_until(double ms)
{
    double end = monotonic_ms() + ms;
    while (monotonic_ms() < end) {
        struct pollfd fds[TOOL_PROCESS_MAX];
        int n = tool_process_pollfds(fds, TOOL_PROCESS_MAX);
        poll(fds, (nfds_t)n, 20);
        tool_process_events(fds, n);
        reap_background();
        (void)tool_process_tick();
    }
}

static void test_background(void)
{
    json_t *r = call("bash", "{\"command\": \"echo hi; read x; echo got $x\", "
                             "\"background\": true}");
    CHECK(is_ok(r) && strcmp(str(r, "id"), "p1") == 0, "background: started as p1");
    json_decref(r);
    pump_until(200);
    r = call("process", "{\"action\": \"write\", \"id\": \"p1\", \"data\": \"yes\\n\"}");
    CHECK(is_ok(r), "process write");
    json_decref(r);
    pump_until(300);
    r = call("process", "{\"action\": \"poll\", \"id\": \"p1\"}");
    CHECK_STR(str(r, "output"), "hi\ngot yes\n", "process poll");
    CHECK_CONTAINS(str(r, "text"), "exited with code 0", "and the state");
    json_decref(r);
    r = call("process", "{\"action\": \"log\", \"id\": \"p1\", \"offset\": 2}");
    CHECK_STR(str(r, "text"), "got yes\n", "process log");
    json_decref(r);
    r = call("process", "{\"action\": \"list\"}");
    CHECK(json_array_size(json_object_get(r, "processes")) == 1, "process list");
    json_decref(r);

    r = call("bash", "{\"command\": \"sleep 30\", \"background\": true}");
    json_decref(r);
    r = call("process", "{\"action\": \"remove\", \"id\": \"p2\"}");
    CHECK(!is_ok(r), "a running process cannot be removed");
    json_decref(r);
    r = call("process", "{\"action\": \"kill\", \"id\": \"p2\"}");
    CHECK(is_ok(r), "process kill");
    json_decref(r);
    pump_until(300);
    r = call("process", "{\"action\": \"remove\", \"id\": \"p2\"}");
    CHECK(is_ok(r), "then it can be removed");
    json_decref(r);
    tool_process_forget_all();
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(base))
        return 1;
    snprintf(ws, sizeof ws, "%s/ws", base);
    snprintf(ro, sizeof ro, "%s/ro", base);
    snprintf(out_dir, sizeof out_dir, "%s/out", base);
    mkdir(ws, 0700);
    mkdir(ro, 0700);
    readable[0] = ws;
    readable[1] = ro;
    writable[0] = ws;
    env = (struct tool_env){
        .roots = {.workspace = ws, .readable = readable, .n_readable = 2, .writable = writable,
                  .n_writable = 1},
        .envp = envp,
        .output_dir = out_dir,
        .cancel_fd = -1,
    };
    test_files();
    test_bash();
    test_background();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    (void)!system(cmd);
    return tap_done();
}
