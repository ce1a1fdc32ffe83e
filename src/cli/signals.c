/* SIGINT, SIGTERM and SIGHUP sent to hutch go to the command, through the
 * library's cancel fd: the command (its process group, its sandbox, its
 * container) is signalled, and hutch still cleans up and reports. */
#include <fcntl.h>
#include <signal.h>

#include "cli/cli.h"

static int cancel_write_fd = -1;
static int cancel_read_fd = -1;

int cli_cancel_fd(void)
{
    return cancel_read_fd;
}

static void forward_signal(int sig)
{
    int saved = errno;
    unsigned char byte = (unsigned char)sig;
    if (cancel_write_fd >= 0)
        (void)!write(cancel_write_fd, &byte, 1);
    errno = saved;
}

int cli_forward_signals(int *read_fd)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    cancel_write_fd = fds[1];
    cancel_read_fd = *read_fd = fds[0];
    struct sigaction sa = {.sa_handler = forward_signal};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    return 0;
}
