#include "base/proctag.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/syscall.h>

#include "base/util.h"

/* Whether the process's initial environment holds exactly the entry needle.
 * Streams the file: environments can be megabytes. */
static bool environ_has(int dirfd, long pid, const char *needle, size_t nlen)
{
    char path[64];
    fmt_bounded(path, "%ld/environ", pid);
    autoclose int fd = TEMP_FAILURE_RETRY(openat(dirfd, path, O_RDONLY | O_CLOEXEC));
    if (fd < 0)
        return false;
    char buf[4096];
    size_t matched = 0;
    bool matching = true; /* the current entry is still a prefix of needle */
    for (;;) {
        ssize_t n = TEMP_FAILURE_RETRY(read(fd, buf, sizeof buf));
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\0') {
                if (matching && matched == nlen)
                    return true;
                matched = 0;
                matching = true;
            } else if (matching && matched < nlen && buf[i] == needle[matched]) {
                matched++;
            } else {
                matching = false;
            }
        }
    }
    return matching && matched == nlen;
}

void proctag_signal(const char *entry, int sig)
{
    size_t nlen = strlen(entry);
    DIR *proc = opendir("/proc");
    if (!proc)
        return;
    pid_t self = getpid();
    struct dirent *e;
    while ((e = readdir(proc))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid == self)
            continue;
        autoclose int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
        if (pidfd < 0 && errno != ENOSYS)
            continue;
        if (!environ_has(dirfd(proc), pid, entry, nlen))
            continue;
        /* Without pidfds (before Linux 5.3) the plain kill is all there is. */
        if (pidfd < 0 ||
            (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 && errno == ENOSYS))
            (void)kill((pid_t)pid, sig);
    }
    closedir(proc);
}
