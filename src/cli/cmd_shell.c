/* hutch session shell KEY: an interactive shell in the session on a pseudo
 * terminal. hutch opens the pty, the agent makes its other end the shell's
 * controlling terminal, and hutch relays between it and the caller's
 * terminal (in raw mode), passing window size changes on. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>

#include <pthread.h>

#include "cli/cli.h"
#include "cli/session_common.h"

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

/* The shell runs in a thread (hutch_session_exec waits for it) while this
 * one relays the terminal. */
struct shell_run {
    const hutch_policy *policy;
    const char *key;
    int tty;     /* the pty's slave side: the shell's terminal */
    int done_fd; /* written once the call returned */
    int rc;
    hutch_result result;
    hutch_error err;
};

static void make_raw(const struct termios *saved)
{
    struct termios t = *saved;
    cfmakeraw(&t);
    tcsetattr(STDIN_FILENO, TCSANOW, &t);
}

static void *run_shell(void *arg)
{
    struct shell_run *run = arg;
    static const char *const shell_argv[] = {"/bin/sh", "-c", shell_script, NULL};
    hutch_command cmd;
    hutch_command_init(&cmd);
    cmd.argv = shell_argv;
    cmd.tty_fd = run->tty;
    run->rc = hutch_session_exec(run->policy, run->key, &cmd, &run->result, &run->err);
    (void)!write(run->done_fd, "", 1);
    return NULL;
}

static int parse_shell_args(int argc, char **argv, struct policy_args *call, const char **key,
                            hutch_error *err)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help_topic("session", stdout);
            return 0;
        }
        int r = argv[i][0] == '-' ? policy_args_parse(call, argc, argv, &i, err) : 0;
        if (r < 0)
            return -1;
        if (r == 1)
            continue;
        if (argv[i][0] == '-' || *key)
            return cli_fail(err, "unexpected argument '%s': hutch session shell KEY", argv[i]);
        *key = argv[i];
    }
    if (!*key)
        return cli_fail(err, "hutch session shell needs a session key: hutch session shell KEY");
    return 1;
}

int cmd_session_shell(int argc, char **argv)
{
    auto_policy_args struct policy_args call = {0};
    const char *key = NULL;
    hutch_error err = {0};
    int parsed = parse_shell_args(argc, argv, &call, &key, &err);
    if (parsed <= 0)
        return parsed == 0 ? 0 : cli_error("%s", err.message);
    auto_policy hutch_policy *policy =
        cli_session_policy(&key, &call, "hutch session shell", &err);
    if (!policy)
        return cli_error("%s", err.message);

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
    int done[2];
    if (pipe2(done, O_CLOEXEC) < 0)
        return cli_error("cannot make a pipe: %s", strerror(errno));
    autoclose int done_read = done[0];
    autoclose int done_write = done[1];

    struct shell_run run = {.policy = policy, .key = key, .tty = slave, .done_fd = done_write};
    /* Window size changes are this thread's to see. */
    sigset_t winch, old_mask;
    sigemptyset(&winch);
    sigaddset(&winch, SIGWINCH);
    pthread_sigmask(SIG_BLOCK, &winch, &old_mask);
    pthread_t thread;
    int started = pthread_create(&thread, NULL, run_shell, &run);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    if (started != 0)
        return cli_error("cannot start a thread: %s", strerror(started));

    /* approval.require may ask on the terminal from the shell's thread:
     * the terminal is left as it is, and unread, until the shell has
     * said something (or the call ended). */
    bool asking = hutch_policy_is_set(policy, "approval.require") == 1;
    struct termios saved;
    bool raw = interactive && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (raw && !asking)
        make_raw(&saved);
    struct sigaction sa = {.sa_handler = on_winch};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGWINCH, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    bool stdin_open = true;
    for (;;) {
        if (resized) {
            resized = 0;
            copy_window_size(master);
        }
        struct pollfd pfd[3] = {
            {.fd = stdin_open && !asking ? STDIN_FILENO : -1, .events = POLLIN},
            {.fd = master, .events = POLLIN},
            {.fd = done_read, .events = POLLIN},
        };
        if (poll(pfd, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfd[1].revents && asking) {
            asking = false;
            if (raw)
                make_raw(&saved);
        }
        if (pfd[1].revents && !relay(master, STDOUT_FILENO))
            pfd[1].fd = -1;
        if (pfd[0].revents && !relay(STDIN_FILENO, master)) {
            stdin_open = false;
            (void)!write(master, "\004", 1); /* end of input, as Ctrl-D */
        }
        if (pfd[2].revents)
            break;
    }
    pthread_join(thread, NULL);
    /* What the shell wrote last is still in the pty; a process it left
     * behind may go on writing there, which is not for this terminal: a
     * moment, then the pty is closed. */
    struct pollfd last = {.fd = master, .events = POLLIN};
    double until = monotonic_ms() + 200;
    while (run.rc == 0 && monotonic_ms() < until && poll(&last, 1, 50) > 0 &&
           relay(master, STDOUT_FILENO))
        ;
    if (raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    if (run.rc < 0) {
        if (run.err.status == HUTCH_E_INVALID || run.err.status == HUTCH_E_NO_DRIVER)
            return cli_session_failed(&run.err);
        return cli_error("cannot start a shell in session %s: %s", key, run.err.message);
    }
    int status = run.result.exit_code;
    hutch_result_free(&run.result);
    return status;
}
