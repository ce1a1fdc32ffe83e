#include "drivers/engine_sockets.h"

#include <glob.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/util.h"

static const char *const fixed_sockets[] = {
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/podman/podman.sock",
    "/run/containerd/containerd.sock",
    "/run/containerd/containerd.sock.ttrpc",
    "/run/docker/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/run/buildkit/buildkitd.sock",
};

/* Per-user engines (rootless Docker and Podman). */
static const char *const user_patterns[] = {
    "/run/user/*/docker.sock",
    "/run/user/*/podman/podman.sock",
};

/* 1 when socket (any spelling of it) lies at or below real_source. */
static int check(const char *real_source, const char *socket, char found[PATH_MAX])
{
    char real[PATH_MAX];
    if (!socket || !*socket || !realpath(socket, real) || !path_under(real, real_source, NULL))
        return 0;
    memcpy(found, real, strlen(real) + 1);
    return 1;
}

int engine_sockets_refuse(const char *real_source, const char *what, const char *extra,
                          hutch_error *err)
{
    char found[PATH_MAX];
    int hit = check(real_source, extra, found);
    const char *docker_host = getenv("DOCKER_HOST");
    if (!hit && docker_host && strncmp(docker_host, "unix://", 7) == 0)
        hit = check(real_source, docker_host + 7, found);
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    char per_user[PATH_MAX];
    if (!hit && runtime && *runtime) {
        /* A path that does not fit is no socket realpath() could find. */
        hit = fmt_fits(per_user, sizeof per_user, "%s/docker.sock", runtime) &&
              check(real_source, per_user, found);
        if (!hit)
            hit = fmt_fits(per_user, sizeof per_user, "%s/podman/podman.sock", runtime) &&
                  check(real_source, per_user, found);
    }
    for (size_t i = 0; !hit && i < ARRAY_SIZE(fixed_sockets); i++)
        hit = check(real_source, fixed_sockets[i], found);
    /* Other users' engines matter only for a mount as wide as /run/user. */
    bool wide = path_under("/run/user", real_source, NULL);
    for (size_t i = 0; !hit && wide && i < ARRAY_SIZE(user_patterns); i++) {
        glob_t g;
        if (glob(user_patterns[i], GLOB_NOSORT, NULL, &g) != 0)
            continue;
        for (size_t j = 0; !hit && j < g.gl_pathc; j++)
            hit = check(real_source, g.gl_pathv[j], found);
        globfree(&g);
    }
    if (!hit)
        return 0;
    return error_set(err, HUTCH_E_INVALID,
                     "%s %s would show the container engine's socket %s, which gives root on "
                     "the host (a read-only mount does not stop connect()): mount a directory "
                     "that does not contain it",
                     what, real_source, found);
}
