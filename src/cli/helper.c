/* The static musl hutch cannot load libcurl, so docker work (the docker
 * backend, images, skills) goes to hutch-docker: the same program linked
 * against glibc, installed next to it. */
#include <limits.h>

#include "cli/cli.h"

char **cli_argv;

static int helper_path(char *helper, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    return fmt_fits(helper, len, "%.*s/hutch-docker", (int)(slash - self), self) ? 0 : -1;
}

bool cli_docker_helper_present(void)
{
    char helper[PATH_MAX + 16];
    return helper_path(helper, sizeof helper) == 0 && access(helper, X_OK) == 0;
}

int cli_exec_docker_helper(void)
{
    char helper[PATH_MAX + 16];
    if (helper_path(helper, sizeof helper) < 0)
        return cli_error("cannot find hutch's own path (/proc/self/exe): %s", strerror(errno));
    execv(helper, cli_argv);
    return cli_error("the docker backend lives in %s, which cannot be run (%s): reinstall hutch "
                     "with its hutch-docker companion",
                     helper, strerror(errno));
}
