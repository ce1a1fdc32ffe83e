/* The CLI's approval handler (approval.require, docs/config.md): asks on
 * the controlling terminal, /dev/tty, never on stdin or stdout, which
 * belong to the command and to JSON output. Without a terminal, refused. */
#include <fcntl.h>
#include <poll.h>
#include <termios.h>

#include "cli/cli.h"

/* Longer than this, a call is not shown, and so not approved: a question
 * whose middle scrolled away is not one to say yes to. */
#define SHOWN_MAX (64 * 1024)

/* Text for the terminal: bytes outside printable ASCII as \xNN (and,
 * with escape_backslash, \ as \\), so that a call cannot move the cursor,
 * rewrite the question or hide a part of itself. */
static size_t shown(char *out, size_t size, size_t used, const char *text, bool escape_backslash)
{
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        char buf[5];
        size_t n = 0;
        if (*c == '\\' && escape_backslash) {
            buf[n++] = '\\';
            buf[n++] = '\\';
        } else if (*c >= 0x20 && *c < 0x7f) {
            buf[n++] = (char)*c;
        } else {
            buf[n++] = '\\';
            buf[n++] = 'x';
            buf[n++] = hex[*c >> 4];
            buf[n++] = hex[*c & 15];
        }
        if (used + n >= size)
            return size; /* does not fit */
        memcpy(out + used, buf, n);
        used += n;
    }
    out[used] = '\0';
    return used;
}

/* The question, or false when it is too long to show whole. */
static bool question(const hutch_approval_request *req, char *out, size_t size)
{
    size_t used = 0;
    const char *parts[][2] = {
        {"hutch: approve ", NULL},
        {req->kind == HUTCH_APPROVAL_TOOL ? req->tool : "the command", "plain"},
        {" ", NULL},
        {req->kind == HUTCH_APPROVAL_TOOL ? req->args_json : req->command, "text"},
        {req->session ? " in session " : "", NULL},
        {req->session ? req->session : "", "text"},
        {"? [y/N] ", NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
        const char *text = parts[i][0] ? parts[i][0] : "";
        bool json = req->kind == HUTCH_APPROVAL_TOOL && i == 3;
        used = shown(out, size, used, text, parts[i][1] && !json);
        if (used >= size)
            return false;
    }
    return true;
}

/* A line from the terminal, lowercased, up to 15 characters kept; false at
 * its end or when the call is cancelled (Ctrl-C: cli_cancel_fd). */
static bool read_answer(int fd, char *answer, size_t size)
{
    size_t len = 0;
    for (;;) {
        struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN},
                                {.fd = cli_cancel_fd(), .events = POLLIN}};
        if (TEMP_FAILURE_RETRY(poll(pfd, pfd[1].fd >= 0 ? 2 : 1, -1)) < 0 || pfd[1].revents)
            return false;
        char c;
        ssize_t n = TEMP_FAILURE_RETRY(read(fd, &c, 1));
        if (n <= 0)
            return false;
        if (c == '\n')
            break;
        if (len + 1 < size)
            answer[len++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    answer[len] = '\0';
    return true;
}

static int ask_on_terminal(const hutch_approval_request *req, char *reason, size_t reason_len,
                           void *ctx)
{
    (void)ctx;
    autoclose int fd = TEMP_FAILURE_RETRY(open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (fd < 0) {
        fmt_trunc(reason, reason_len,
                  "approval.require has \"%s\" and there is no terminal to ask on: run it from "
                  "a terminal, or take the entry out of approval.require",
                  req->rule);
        return HUTCH_REFUSE;
    }
    autofree char *text = malloc(SHOWN_MAX);
    if (!text || !question(req, text, SHOWN_MAX)) {
        fmt_trunc(reason, reason_len,
                  "the call is too long to show on the terminal (over %d KiB), so it was not "
                  "asked about",
                  SHOWN_MAX / 1024);
        return HUTCH_REFUSE;
    }
    /* What was typed before the question does not answer it. */
    tcflush(fd, TCIFLUSH);
    char answer[16];
    if (write_all(fd, text, strlen(text)) < 0 || !read_answer(fd, answer, sizeof answer)) {
        (void)!write(fd, "\n", 1);
        fmt_trunc(reason, reason_len, "no answer on the terminal");
        return HUTCH_REFUSE;
    }
    if (strcmp(answer, "y") == 0 || strcmp(answer, "yes") == 0)
        return HUTCH_APPROVE;
    fmt_trunc(reason, reason_len, "refused on the terminal");
    return HUTCH_REFUSE;
}

void cli_set_approval_prompt(void)
{
    hutch_set_approval_handler(ask_on_terminal, NULL);
}
