/* hutch session shell KEY: an interactive shell in the session on a pseudo
 * terminal. hutch opens the pty, the agent makes its other end the shell's
 * controlling terminal, and hutch relays between it and the caller's
 * terminal (in raw mode), passing window size changes on. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>

#include "cli/cli.h"
#include "cli/session_common.h"
#include "base/command.h"
#include "base/error.h"

static volatile sig_atomic_t resized;

static void on_winch(int sig)
{
    (void)sig;
    resized = 1;
}

static void copy_window_size(int master)
{
    struct winsize ws;
    if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
        (void)ioctl(master, TIOCSWINSZ, &ws);
}

/* Copies what is there now; false at end of file or on an error. */
static bool relay(int from, int to)
{
    char buf[8192];
    ssize_t n = TEMP_FAILURE_RETRY(read(from, buf, sizeof buf));
    if (n <= 0)
        return false;
    return write_all(to, buf, (size_t)n) == 0;
}

static const char shell_script[] =
    "if command -v bash >/dev/null 2>&1; then exec bash -i; else exec sh -i; fi";

int cmd_session_shell(int argc, char **argv)
{
    struct policy_args call = {0};
    const char *key = NULL;
    hutch_error err = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help_topic("session", stdout);
            return 0;
        }
        int r = argv[i][0] == '-' ? policy_args_parse(&call, argc, argv, &i, &err) : 0;
        if (r < 0) {
            policy_args_free(&call);
            return cli_error("%s", err.message);
        }
        if (r == 1)
            continue;
        if (argv[i][0] == '-' || key) {
            policy_args_free(&call);
            return cli_error("unexpected argument '%s': hutch session shell KEY", argv[i]);
        }
        key = argv[i];
    }
    auto_policy_args struct policy_args owned = call;
    if (!key)
        return cli_error("hutch session shell needs a session key: hutch session shell KEY");
    auto_session struct session s;
    auto_policy hutch_policy *policy =
        session_open_policy(&s, key, true, &owned, "hutch session shell", &err);
    if (!policy)
        return cli_error("%s", err.message);
    struct session_use use = {.create_if_missing = policy->auto_create};
    struct agent_conn conn = {.fd = -1, .cancel_fd = -1};
    int failed = cli_session_ensure(&s, policy, &use, &conn);
    if (failed)
        return failed;
    if (conn.fd < 0)
        return cli_error("session %s has no agent to open a shell with (%s): use hutch exec %s "
                         "-- COMMAND",
                         key,
                         session_on_host(&s)
                             ? "it runs on the host"
                             : "an adopted container, or a TCP engine's",
                         key);

    autoclose int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    char name[128];
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
        ptsname_r(master, name, sizeof name) != 0)
        return cli_error("cannot open a pseudo terminal: %s", strerror(errno));
    autoclose int slave = TEMP_FAILURE_RETRY(open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (slave < 0)
        return cli_error("cannot open the pseudo terminal %s: %s", name, strerror(errno));
    bool interactive = isatty(STDIN_FILENO);
    if (interactive)
        copy_window_size(master);

    autostrlist struct strlist env = {0};
    if (command_env(policy, ENV_SANDBOX, &env, &err) < 0)
        return cli_error("%s", err.message);
    char *shell_argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)shell_script, NULL};
    struct agent_run_request req = {
        .argv = shell_argv,
        .envp = env.items,
        .cwd = "/workspace",
        .tty = true,
        .stdio = {slave, slave, slave},
    };
    struct agent_run_start started;
    if (agent_run_start(&conn, &req, &started, &err) < 0 || !started.started) {
        agent_close(&conn);
        return cli_error("cannot start a shell in session %s: %s", key,
                         err.message[0] ? err.message : strerror(started.exec_errno));
    }
    close_fd(&slave);

    struct termios saved;
    bool raw = interactive && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (raw) {
        struct termios t = saved;
        cfmakeraw(&t);
        tcsetattr(STDIN_FILENO, TCSANOW, &t);
    }
    struct sigaction sa = {.sa_handler = on_winch};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGWINCH, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    bool stdin_open = true;
    struct agent_exit exit_status = {.exited = true, .code = 125};
    for (;;) {
        if (resized) {
            resized = 0;
            copy_window_size(master);
        }
        struct pollfd pfd[3] = {
            {.fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN},
            {.fd = master, .events = POLLIN},
            {.fd = conn.fd, .events = POLLIN},
        };
        if (poll(pfd, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfd[1].revents && !relay(master, STDOUT_FILENO))
            pfd[1].fd = -1;
        if (pfd[0].revents && !relay(STDIN_FILENO, master)) {
            stdin_open = false;
            (void)!write(master, "\004", 1); /* end of input, as Ctrl-D */
        }
        if (pfd[2].revents) {
            if (agent_run_wait(&conn, monotonic_ms() + 5000, &exit_status, &err) < 0)
                exit_status = (struct agent_exit){.exited = true, .code = 125};
            /* What the shell wrote last is still in the pty; a process it
             * left behind may go on writing there, which is not for this
             * terminal: a moment, then the pty is closed. */
            struct pollfd last = {.fd = master, .events = POLLIN};
            double until = monotonic_ms() + 200;
            while (monotonic_ms() < until && poll(&last, 1, 50) > 0 &&
                   relay(master, STDOUT_FILENO))
                ;
            break;
        }
    }
    if (raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    agent_close(&conn);
    return exit_status.exited ? exit_status.code : 128 + exit_status.signal;
}
