/* The host side of the agent protocol (src/agent/client.c), against the real
 * hutch-init (its path is argv[1]) and against a fake, hostile agent on a
 * socketpair. */
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "agent/client.h"
#include "tap.h"

static char dir[] = "/tmp/hutch-agent-client-XXXXXX";
static char sock_path[256];
static pid_t agent_pid = -1;

static int start_agent(const char *binary)
{
    if (!mkdtemp(dir))
        return -1;
    snprintf(sock_path, sizeof sock_path, "%s/agent.sock", dir);
    agent_pid = fork();
    if (agent_pid == 0) {
        execl(binary, binary, "--socket", sock_path, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        struct agent_conn c;
        if (agent_connect(sock_path, (uid_t)-1, &c, NULL) == 0) {
            agent_close(&c);
            return 0;
        }
        usleep(10000);
    }
    return -1;
}

static void stop_agent(void)
{
    if (agent_pid > 0) {
        kill(agent_pid, SIGTERM);
        int status;
        waitpid(agent_pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "hutch-init exits 0 on SIGTERM");
    }
    rmdir(dir);
}

static ssize_t read_all(int fd, char *buf, size_t size)
{
    size_t got = 0;
    ssize_t n;
    while (got < size - 1 && (n = read(fd, buf + got, size - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    return (ssize_t)got;
}

/* Runs argv; returns the exit and puts stdout in out. */
static int run(char *const *argv, char *const *envp, const char *cwd, uint64_t timeout_ms,
               struct agent_run_start *st, struct agent_exit *ex, char *out, size_t size,
               hutch_error *err)
{
    struct agent_conn c;
    if (agent_connect(sock_path, getuid(), &c, err) < 0)
        return -1;
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC), pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return -1;
    struct agent_run_request req = {.argv = argv,
                                    .envp = envp,
                                    .cwd = cwd,
                                    .timeout_ms = timeout_ms,
                                    .stdio = {in, pipefd[1], pipefd[1]}};
    int r = agent_run_start(&c, &req, st, err);
    close(in);
    close(pipefd[1]);
    if (r == 0 && st->started) {
        read_all(pipefd[0], out, size);
        r = agent_run_wait(&c, -1, ex, err);
    }
    close(pipefd[0]);
    agent_close(&c);
    return r;
}

static void test_real_agent(void)
{
    hutch_error err = {0};
    struct agent_conn c;
    CHECK(agent_connect(sock_path, getuid(), &c, &err) == 0, "connect (%s)", err.message);

    struct agent_hello hello;
    CHECK(agent_hello(&c, 5000, &hello, &err) == 0, "hello (%s)", err.message);
    CHECK(hello.version == AGENT_VERSION && hello.pid == (uint64_t)agent_pid,
          "hello: version and the agent's pid");
    CHECK_STR(hello.features, "run signal stats tools", "hello: features");

    struct agent_stats stats;
    CHECK(agent_stats(&c, 5000, &stats, &err) == 0 && stats.pids >= 1 && stats.memory > 0,
          "stats on the same connection (%s)", err.message);
    agent_close(&c);
    CHECK(c.fd == -1, "agent_close forgets the fd");

    char *echo[] = {"sh", "-c", "echo \"out $A\"; echo err >&2; exit 3", NULL};
    char *env[] = {"A=1", "PATH=/usr/bin:/bin", NULL};
    struct agent_run_start st;
    struct agent_exit ex;
    char out[256];
    int r = run(echo, env, "/", 0, &st, &ex, out, sizeof out, &err);
    CHECK(r == 0 && st.started && st.pid > 0, "a run starts (%s)", err.message);
    CHECK_STR(out, "out 1\nerr\n", "its output arrives through the passed fds");
    CHECK(ex.exited && ex.code == 3 && !ex.timed_out, "its exit status comes back");

    char *missing[] = {"no-such-command-hutch-test", NULL};
    r = run(missing, env, NULL, 0, &st, &ex, out, sizeof out, &err);
    CHECK(r == 0 && !st.started && st.exec_errno == ENOENT && !st.cwd_failed,
          "a missing command is started=false, ENOENT");

    char *truecmd[] = {"true", NULL};
    r = run(truecmd, env, "/no/such/dir", 0, &st, &ex, out, sizeof out, &err);
    CHECK(r == 0 && !st.started && st.cwd_failed && st.exec_errno == ENOENT,
          "a missing working directory is cwd_failed");

    char *sleeper[] = {"sleep", "30", NULL};
    r = run(sleeper, env, NULL, 200, &st, &ex, out, sizeof out, &err);
    CHECK(r == 0 && !ex.exited && ex.signal == SIGTERM && ex.timed_out,
          "a timeout ends in SIGTERM, timed_out");

    /* SIGNAL over the run's connection. */
    CHECK(agent_connect(sock_path, (uid_t)-1, &c, &err) == 0, "connect again");
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    struct agent_run_request req = {.argv = sleeper, .envp = env, .stdio = {null, null, null}};
    CHECK(agent_run_start(&c, &req, &st, &err) == 0 && st.started, "a sleep starts");
    CHECK(agent_run_signal(&c, SIGINT, &err) == 0, "signal sent");
    CHECK(agent_run_wait(&c, -1, &ex, &err) == 0 && !ex.exited && ex.signal == SIGINT && !ex.timed_out,
          "and the run dies of it");
    CHECK(agent_run_signal(&c, 0, &err) == -1 && err.status == HUTCH_E_INVALID,
          "signal 0 is refused before sending");
    CHECK(agent_run_wait(&c, -1, &ex, &err) == -1, "waiting after the end is an error");
    agent_close(&c);
    close(null);

    /* Refusals. */
    CHECK(agent_connect(sock_path, (uid_t)-1, &c, &err) == 0, "connect again");
    char *noargs[] = {NULL};
    req = (struct agent_run_request){.argv = noargs, .stdio = {0, 1, 2}};
    CHECK(agent_run_start(&c, &req, &st, &err) == -1 && err.status == HUTCH_E_INVALID,
          "no argv is refused locally");
    char *badenv[] = {"NOEQUALS", NULL};
    req = (struct agent_run_request){.argv = truecmd, .envp = badenv, .stdio = {0, 1, 2}};
    CHECK(agent_run_start(&c, &req, &st, &err) == -1 && err.status == HUTCH_E_INVALID,
          "an env entry without '=' is refused locally");
    req = (struct agent_run_request){.argv = truecmd, .cwd = "rel", .stdio = {0, 1, 2}};
    CHECK(agent_run_start(&c, &req, &st, &err) == -1 && err.status == HUTCH_E_INVALID,
          "a relative cwd is refused locally");
    agent_close(&c);
}

static void test_connect_checks(void)
{
    hutch_error err = {0};
    struct agent_conn c;
    char path[300];

    snprintf(path, sizeof path, "%s/missing.sock", dir);
    CHECK(agent_connect(path, (uid_t)-1, &c, &err) == -1 && err.status == HUTCH_E_UNSUPPORTED &&
              c.fd == -1,
          "no socket: HUTCH_E_UNSUPPORTED");
    CHECK_CONTAINS(err.message, "nothing listens on", "and says so");

    snprintf(path, sizeof path, "%s/link.sock", dir);
    CHECK(symlink(sock_path, path) == 0, "a symlink to the socket");
    CHECK(agent_connect(path, (uid_t)-1, &c, &err) == -1 && err.status == HUTCH_E_SYSTEM,
          "is not followed");
    CHECK_CONTAINS(err.message, "is not a socket", "and named");
    unlink(path);

    snprintf(path, sizeof path, "%s/file.sock", dir);
    close(open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    CHECK(agent_connect(path, (uid_t)-1, &c, &err) == -1, "a regular file is refused");
    unlink(path);

    CHECK(agent_connect(sock_path, getuid() + 1, &c, &err) == -1 && err.status == HUTCH_E_SYSTEM,
          "a socket of another owner is refused");
    CHECK_CONTAINS(err.message, "belongs to uid", "and the owner named");

    /* A socket file nobody listens on (a dead agent). */
    snprintf(path, sizeof path, "%s/dead.sock", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    CHECK(fmt_fits(addr.sun_path, sizeof addr.sun_path, "%s", path) &&
              bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0,
          "a dead socket");
    close(fd);
    CHECK(agent_connect(path, (uid_t)-1, &c, &err) == -1 && err.status == HUTCH_E_UNSUPPORTED,
          "a dead socket: HUTCH_E_UNSUPPORTED (ECONNREFUSED)");
    unlink(path);
}

/* A fake agent sends bytes (and then, with close_after, nothing more): the
 * client's HELLO must fail cleanly. */
static int fake_reply(const void *bytes, size_t len, bool close_after, hutch_error *err)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    if (len)
        (void)!write(sv[1], bytes, len);
    if (close_after)
        shutdown(sv[1], SHUT_WR); /* still takes the request, answers no more */
    struct agent_conn c = {.fd = sv[0], .cancel_fd = -1};
    struct agent_hello h;
    int r = agent_hello(&c, 300, &h, err);
    agent_close(&c);
    close(sv[1]);
    return r;
}

static void test_hostile_agent(void)
{
    hutch_error err = {0};
    struct agent_buf b = {0};

    CHECK(fake_reply(NULL, 0, false, &err) == -1, "silence times out");
    CHECK_CONTAINS(err.message, "did not answer in time", "and says so");
    CHECK(fake_reply(NULL, 0, true, &err) == -1, "a closed connection is an error");
    CHECK(fake_reply("garbage-garbage", 15, true, &err) == -1, "garbage is an error");
    CHECK_CONTAINS(err.message, "bad reply", "named a bad reply");

    uint8_t head[AGENT_HEADER_SIZE];
    uint32_t magic = AGENT_MAGIC, huge = 0x7fffffff;
    uint16_t version = AGENT_VERSION, type = AT_HELLO_OK;
    memcpy(head, &magic, 4);
    memcpy(head + 4, &version, 2);
    memcpy(head + 6, &type, 2);
    memcpy(head + 8, &huge, 4);
    CHECK(fake_reply(head, sizeof head, true, &err) == -1, "a 2 GiB reply is refused");

    version = 7;
    memcpy(head + 4, &version, 2);
    CHECK(fake_reply(head, sizeof head, true, &err) == -1 && err.status == HUTCH_E_UNSUPPORTED,
          "another protocol version: HUTCH_E_UNSUPPORTED");
    CHECK_CONTAINS(err.message, "version 7", "and names it");

    agent_msg_begin(&b, AT_STARTED);
    agent_put_u64(&b, AF_PID, 5);
    agent_msg_end(&b);
    CHECK(fake_reply(b.data, b.len, true, &err) == -1, "a reply of the wrong type is refused");

    agent_msg_begin(&b, AT_HELLO_OK);
    agent_put_u64(&b, AF_VERSION, 1);
    agent_msg_end(&b);
    CHECK(fake_reply(b.data, b.len, true, &err) == -1, "HELLO_OK without a pid is refused");

    agent_msg_begin(&b, AT_HELLO_OK);
    agent_put_u64(&b, AF_VERSION, 1);
    agent_put_u64(&b, AF_PID, 1);
    agent_msg_end(&b);
    CHECK(fake_reply(b.data, b.len - 3, true, &err) == -1, "a reply cut short is an error");
    CHECK_CONTAINS(err.message, "mid-message", "named");

    agent_msg_begin(&b, AT_ERROR);
    agent_put_u64(&b, AF_ERROR_KIND, AE_BUSY);
    agent_put_str(&b, AF_MESSAGE, "too\x1b[31m busy\tnow");
    agent_msg_end(&b);
    CHECK(fake_reply(b.data, b.len, true, &err) == -1 && err.status == HUTCH_E_SYSTEM,
          "an AT_ERROR becomes an error");
    CHECK_CONTAINS(err.message, "too?[31m busy?now", "with its message, control bytes masked");

    /* Refused and closed at once, before the request (AE_BUSY at accept). */
    int sp[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp);
    (void)!write(sp[1], b.data, b.len);
    close(sp[1]);
    struct agent_conn busy = {.fd = sp[0]};
    struct agent_hello bh;
    CHECK(agent_hello(&busy, 300, &bh, &err) == -1 && strstr(err.message, "busy"),
          "a refusal sent before the request was read is reported, not EPIPE (%s)", err.message);
    agent_close(&busy);

    char features[600];
    memset(features, 'f', sizeof features - 1);
    features[sizeof features - 1] = '\0';
    agent_msg_begin(&b, AT_HELLO_OK);
    agent_put_u64(&b, AF_VERSION, 1);
    agent_put_u64(&b, AF_PID, 1);
    agent_put_str(&b, AF_FEATURES, features);
    agent_msg_end(&b);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    (void)!write(sv[1], b.data, b.len);
    struct agent_conn c = {.fd = sv[0], .cancel_fd = -1};
    struct agent_hello h;
    CHECK(agent_hello(&c, 300, &h, &err) == 0 && strlen(h.features) == sizeof h.features - 1,
          "long features are cut to the buffer");
    agent_close(&c);
    close(sv[1]);
    agent_buf_free(&b);
}

/* ---- tool calls ------------------------------------------------------------------ */

static int tool(const char *name, const char *args, const char *ws, int content_fd, char **out,
                hutch_error *err)
{
    struct agent_conn c;
    if (agent_connect(sock_path, getuid(), &c, err) < 0)
        return -1;
    const char *roots[] = {ws};
    char out_dir[300];
    snprintf(out_dir, sizeof out_dir, "%s/out", dir);
    char *env[] = {"PATH=/usr/bin:/bin", NULL};
    struct agent_tool_request req = {.name = name,
                                     .args_json = args,
                                     .envp = env,
                                     .timeout_ms = 10000,
                                     .read_roots = roots,
                                     .n_read_roots = 1,
                                     .write_roots = roots,
                                     .n_write_roots = 1,
                                     .output_dir = out_dir,
                                     .content_fd = content_fd};
    int r = agent_tool(&c, &req, out, err);
    agent_close(&c);
    return r;
}

static void test_real_tools(void)
{
    hutch_error err = {0};
    char ws[300];
    snprintf(ws, sizeof ws, "%s/ws", dir);
    mkdir(ws, 0700);
    char *out = NULL;
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe");
    (void)!write(p[1], "from a pipe\n", 12);
    close(p[1]);
    CHECK(tool("write", "{\"path\": \"d/f.txt\"}", ws, p[0], &out, &err) == 0,
          "tool: write with content from a descriptor (%s)", err.message);
    close(p[0]);
    CHECK_CONTAINS(out, "\"text\":\"Wrote 12 bytes to d/f.txt\"", "tool: its result");
    free(out);
    out = NULL;
    CHECK(tool("read", "{\"path\": \"d/f.txt\"}", ws, -1, &out, &err) == 0 && out,
          "tool: read");
    CHECK_CONTAINS(out, "\"text\":\"from a pipe\\n\"", "tool: what was written");
    free(out);
    out = NULL;
    CHECK(tool("bash", "{\"command\": \"echo $PATH; exit 2\"}", ws, -1, &out, &err) == 0,
          "tool: bash");
    CHECK_CONTAINS(out, "\"text\":\"/usr/bin:/bin\\n\\nExit code 2\"", "tool: bash's output");
    free(out);
    out = NULL;
    CHECK(tool("read", "{\"path\": \"/etc/passwd\"}", ws, -1, &out, &err) == 0 &&
              strstr(out, "\"ok\":false"),
          "tool: a refusal is a result, not an error");
    free(out);
    out = NULL;

    /* Checked before anything is sent. */
    struct agent_conn c = {.fd = -1, .cancel_fd = -1};
    const char *rel[] = {"ws"};
    struct agent_tool_request bad = {.name = "read", .args_json = "{}", .read_roots = rel,
                                     .n_read_roots = 1, .content_fd = -1};
    CHECK(agent_tool_send(&c, &bad, &err) == -1, "tool: not connected");
    CHECK(agent_connect(sock_path, getuid(), &c, &err) == 0, "connect");
    CHECK(agent_tool_send(&c, &bad, &err) == -1 && strstr(err.message, "not absolute"),
          "tool: relative roots are refused: %s", err.message);
    bad.n_read_roots = 0;
    CHECK(agent_tool_send(&c, &bad, &err) == -1 && strstr(err.message, "workspace"),
          "tool: no root is refused");
    agent_close(&c);

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s/ws %s/out", dir, dir);
    (void)!system(cmd);
}

/* A fake agent answers a tool call with bytes (from a child: they may be
 * more than a socket buffer holds). */
static int fake_tool(const void *bytes, size_t len, char **out, hutch_error *err)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        size_t off = 0;
        while (off < len) {
            ssize_t n = write(sv[1], (const char *)bytes + off, len - off);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
        _exit(0);
    }
    close(sv[1]);
    struct agent_conn c = {.fd = sv[0], .cancel_fd = -1};
    int r = agent_tool_wait(&c, -1, out, err);
    agent_close(&c);
    waitpid(pid, NULL, 0);
    return r;
}

static void put_piece(uint8_t **all, size_t *len, const char *s, size_t n, bool more)
{
    struct agent_buf b = {0};
    agent_msg_begin(&b, AT_TOOL_RESULT);
    agent_put_strn(&b, AF_RESULT, s, n);
    if (more)
        agent_put_u64(&b, AF_MORE, 1);
    agent_msg_end(&b);
    *all = realloc(*all, *len + b.len);
    memcpy(*all + *len, b.data, b.len);
    *len += b.len;
    agent_buf_free(&b);
}

static void test_hostile_tool_results(void)
{
    hutch_error err = {0};
    char *out = NULL;
    uint8_t *all = NULL;
    size_t len = 0;
    put_piece(&all, &len, "{\"ok\":", 6, true);
    put_piece(&all, &len, "true,\"text\":\"x\"}", 16, false);
    CHECK(fake_tool(all, len, &out, &err) == 0, "tool result: pieces are joined (%s)",
          err.message);
    CHECK_STR(out, "{\"ok\":true,\"text\":\"x\"}", "tool result: as one text");
    free(out);
    out = NULL;
    free(all);
    all = NULL;
    len = 0;

    put_piece(&all, &len, "[1, 2]", 6, false);
    CHECK(fake_tool(all, len, &out, &err) == -1 && !out && strstr(err.message, "not a JSON object"),
          "tool result: not an object is refused");
    free(all);
    all = NULL;
    len = 0;

    put_piece(&all, &len, "{\"ok\":", 6, true);
    CHECK(fake_tool(all, len, &out, &err) == -1 && !out, "tool result: cut after a piece");
    free(all);
    all = NULL;
    len = 0;

    /* 17 pieces of 1 MiB: past AGENT_MAX_RESULT. */
    size_t piece = AGENT_MAX_BODY - 64;
    char *big = malloc(piece);
    memset(big, ' ', piece);
    for (int i = 0; i < 17; i++)
        put_piece(&all, &len, big, piece, true);
    CHECK(fake_tool(all, len, &out, &err) == -1 && !out && strstr(err.message, "over 16 MiB"),
          "tool result: more than 16 MiB is refused (%s)", err.message);
    free(big);
    free(all);
    all = NULL;
    len = 0;

    struct agent_buf b = {0};
    agent_msg_begin(&b, AT_STARTED);
    agent_put_u64(&b, AF_PID, 3);
    agent_msg_end(&b);
    CHECK(fake_tool(b.data, b.len, &out, &err) == -1 && strstr(err.message, "message type 102"),
          "tool result: another reply type is refused");
    agent_msg_begin(&b, AT_ERROR);
    agent_put_u64(&b, AF_ERROR_KIND, AE_BUSY);
    agent_put_str(&b, AF_MESSAGE, "64 tool calls run already");
    agent_msg_end(&b);
    CHECK(fake_tool(b.data, b.len, &out, &err) == -1 && strstr(err.message, "64 tool calls"),
          "tool result: an AT_ERROR is an error with its message");
    agent_buf_free(&b);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    test_hostile_agent();
    test_hostile_tool_results();
    if (argc < 2 || start_agent(argv[1]) < 0) {
        CHECK(0, "hutch-init starts (%s)", argc < 2 ? "no path given" : argv[1]);
        return tap_done();
    }
    test_real_agent();
    test_real_tools();
    test_connect_checks();
    stop_agent();
    return tap_done();
}
