#include "drivers/native/landlock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/util.h"

/* Debian 12's header stops at ABI 2: newer rights are defined here. */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

/* The ruleset attribute as of ABI 6; older kernels get a shorter size. */
struct ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

#define WRITE_RIGHTS_ABI1                                                                   \
    (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |                        \
     LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |                        \
     LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK | \
     LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM)

int landlock_abi(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi < 0 ? 0 : (int)abi;
}

static int add_path(int ruleset, const char *path, uint64_t rights)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    struct landlock_path_beneath_attr rule = {.allowed_access = rights, .parent_fd = fd};
    long r = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    int saved = errno;
    close(fd);
    errno = saved;
    return r < 0 ? -1 : 0;
}

/* Every write right of the ABI (for directories), and those a file takes. */
static uint64_t dir_write_rights(int abi)
{
    uint64_t rights = WRITE_RIGHTS_ABI1;
    if (abi >= 2)
        rights |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        rights |= LANDLOCK_ACCESS_FS_TRUNCATE;
    return rights;
}

static uint64_t file_write_rights(int abi)
{
    return LANDLOCK_ACCESS_FS_WRITE_FILE | (abi >= 3 ? LANDLOCK_ACCESS_FS_TRUNCATE : 0);
}

/* A ruleset handling every write right; from ABI 6 on, scoped too. */
static int create_ruleset(int abi)
{
    struct ruleset_attr attr = {.handled_access_fs = dir_write_rights(abi)};
    size_t size = sizeof attr.handled_access_fs;
    if (abi >= 6) {
        attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
        size = sizeof attr;
    }
    return (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
}

int landlock_lock_down(int abi, const char *const *dirs, size_t n_dirs,
                       const char *const *files, size_t n_files)
{
    if (abi < 1)
        return 1;
    uint64_t dir_rights = dir_write_rights(abi), file_rights = file_write_rights(abi);
    int ruleset = create_ruleset(abi);
    if (ruleset < 0)
        return -1;
    int r = 0;
    for (size_t i = 0; r == 0 && i < n_dirs; i++)
        r = add_path(ruleset, dirs[i], dir_rights);
    for (size_t i = 0; r == 0 && i < n_files; i++)
        r = add_path(ruleset, files[i], file_rights);
    if (r == 0)
        r = (int)syscall(SYS_landlock_restrict_self, ruleset, 0);
    int saved = errno;
    close(ruleset);
    errno = saved;
    return r < 0 ? -1 : 0;
}

int landlock_ruleset_hiding(int abi, const char *hidden)
{
    if (abi < 1) {
        errno = EOPNOTSUPP;
        return -1;
    }
    uint64_t all = dir_write_rights(abi);
    int ruleset = create_ruleset(abi);
    if (ruleset < 0)
        return -1;
    /* / itself: what its mounts allow, but nothing that could take an entry
     * away or put a socket in its place, which holds in hidden too. */
    uint64_t at_root = all & ~(uint64_t)(LANDLOCK_ACCESS_FS_REMOVE_DIR |
                                         LANDLOCK_ACCESS_FS_REMOVE_FILE |
                                         LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_REFER);
    int r = add_path(ruleset, "/", at_root);
    DIR *d = r == 0 ? opendir("/") : NULL;
    if (r == 0 && !d)
        r = -1;
    struct dirent *e;
    while (r == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, hidden + (hidden[0] == '/')) == 0)
            continue;
        char path[300];
        fmt_bounded(path, "/%s", e->d_name);
        int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            continue;
        struct stat st = {0};
        int got = fstat(fd, &st);
        close(fd);
        if (got < 0 || S_ISLNK(st.st_mode))
            continue; /* a symlink's target has its own rule */
        /* A file gets what a file can take; a directory everything. */
        r = add_path(ruleset, path, S_ISDIR(st.st_mode) ? all : file_write_rights(abi));
    }
    int saved = errno;
    if (d)
        closedir(d);
    if (r < 0) {
        close(ruleset);
        errno = saved;
        return -1;
    }
    return ruleset;
}

int landlock_apply(int ruleset)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -1;
    return (int)syscall(SYS_landlock_restrict_self, ruleset, 0);
}
