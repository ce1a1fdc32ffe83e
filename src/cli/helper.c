/* The static musl hutch cannot load libcurl, so docker work (the docker
 * backend, images, skills) goes to hutch-docker: the same program linked
 * against glibc. It is looked for next to hutch (the build directory), then
 * in libexec/hutch/ relative to hutch's own directory (an installed tree,
 * also when moved or under DESTDIR), then where it was installed
 * (HUTCH_LIBEXECDIR; docs/install.md). */
#include <fcntl.h>
#include <limits.h>

#include "cli/cli.h"

char **cli_argv;

/* The first of the places above where hutch-docker can be run, else the
 * installed place (for the message). -1 when hutch's own path is unknown. */
static int helper_path(char *helper, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    int dir_len = (int)(slash - self);
    if (fmt_fits(helper, len, "%.*s/hutch-docker", dir_len, self) && access(helper, X_OK) == 0)
        return 0;
    if (HUTCH_LIBEXEC_FROM_BIN[0] &&
        fmt_fits(helper, len, "%.*s/%s/hutch-docker", dir_len, self, HUTCH_LIBEXEC_FROM_BIN) &&
        access(helper, X_OK) == 0)
        return 0;
    return fmt_fits(helper, len, "%s/hutch-docker", HUTCH_LIBEXECDIR) ? 0 : -1;
}

bool cli_docker_helper_present(void)
{
    char helper[PATH_MAX + 64];
    return helper_path(helper, sizeof helper) == 0 && access(helper, X_OK) == 0;
}

int cli_exec_docker_helper(void)
{
    char helper[PATH_MAX + 64];
    if (helper_path(helper, sizeof helper) < 0)
        return cli_error("cannot find hutch's own path (/proc/self/exe): %s", strerror(errno));
    /* hutch-docker writes the result to --result-fd itself. */
    if (cli_result_fd >= 0)
        fcntl(cli_result_fd, F_SETFD, 0);
    execv(helper, cli_argv);
    return cli_error("the docker backend lives in %s, which cannot be run (%s): reinstall hutch "
                     "with its hutch-docker helper",
                     helper, strerror(errno));
}
