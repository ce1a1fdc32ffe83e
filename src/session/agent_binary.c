#include "session/agent_binary.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>

#ifndef HUTCH_LIBEXECDIR
#define HUTCH_LIBEXECDIR "/usr/local/libexec/hutch"
#endif

static bool try_dir(const char *dir, char *out, size_t len)
{
    return fmt_fits(out, len, "%s/hutch-init", dir) && access(out, X_OK) == 0;
}

/* Looked for next to the program (the hutch command in the build
 * directory, hutch-docker in libexec/hutch/), in libexec/hutch/ relative to
 * the program's directory (the hutch command in an installed tree, also
 * when moved or under DESTDIR), next to libhutch (a program using the
 * library from the build directory), then where it is installed.
 * HUTCH_INIT overrides. */
int agent_binary_path(char *out, size_t len, hutch_error *err)
{
    const char *forced = getenv("HUTCH_INIT");
    if (forced && forced[0] == '/') {
        if (fmt_checked(err, out, len, "%s", forced) < 0) {
            error_prefix(err, "HUTCH_INIT");
            return -1;
        }
        return access(out, X_OK) == 0
                   ? 0
                   : error_sys(err, errno, "HUTCH_INIT names %s, which cannot be run", forced);
    }
    char dir[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n > 0) {
        dir[n] = '\0';
        *strrchr(dir, '/') = '\0';
        if (try_dir(dir, out, len))
            return 0;
        char installed[PATH_MAX + 64];
        if (HUTCH_LIBEXEC_FROM_BIN[0] &&
            fmt_fits(installed, sizeof installed, "%s/%s", dir, HUTCH_LIBEXEC_FROM_BIN) &&
            try_dir(installed, out, len))
            return 0;
    }
    Dl_info info;
    if (dladdr((void *)agent_binary_path, &info) && info.dli_fname &&
        realpath(info.dli_fname, dir)) {
        *strrchr(dir, '/') = '\0';
        if (try_dir(dir, out, len))
            return 0;
    }
    if (try_dir(HUTCH_LIBEXECDIR, out, len))
        return 0;
    return error_set(err, HUTCH_E_UNSUPPORTED,
                     "native runs, sessions and docker containers need hutch-init, which is "
                     "neither next to this program nor in %s: reinstall hutch with it, or point "
                     "HUTCH_INIT at it",
                     HUTCH_LIBEXECDIR);
}

int agent_binary_open(hutch_error *err)
{
    char path[PATH_MAX];
    if (agent_binary_path(path, sizeof path, err) < 0)
        return -1;
    int fd = TEMP_FAILURE_RETRY(open(path, O_PATH | O_CLOEXEC));
    return fd >= 0 ? fd : error_sys(err, errno, "cannot open hutch-init at %s", path);
}
