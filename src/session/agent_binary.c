#include "session/agent_binary.h"

#include <limits.h>

int agent_binary_path(char *out, size_t len, hutch_error *err)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        return error_sys(err, errno, "cannot find hutch's own path (/proc/self/exe)");
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
    snprintf(out, len, "%s/hutch-init", self);
    if (access(out, X_OK) == 0)
        return 0;
    snprintf(out, len, "%s/../libexec/hutch/hutch-init", self);
    if (access(out, X_OK) == 0) {
        char real[PATH_MAX];
        if (realpath(out, real))
            snprintf(out, len, "%s", real);
        return 0;
    }
    return error_set(err, HUTCH_E_UNSUPPORTED,
                     "sessions need hutch-init, which is neither in %s nor in "
                     "%s/../libexec/hutch: reinstall hutch with it",
                     self, self);
}
