#include "drivers/native/groups.h"

#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/wait.h>

#include "base/launch.h"
#include "base/util.h"

/* newgidmap is setuid: the system's copy only, never one found in PATH. */
static const char *const newgidmap_paths[] = {"/usr/bin/newgidmap", "/bin/newgidmap",
                                              "/usr/sbin/newgidmap"};

bool groups_held(void)
{
    gid_t groups[NGROUPS_MAX];
    int n = getgroups(NGROUPS_MAX, groups);
    gid_t own = getegid();
    for (int i = 0; i < n; i++)
        if (groups[i] != own)
            return true;
    return n < 0; /* cannot tell: assume the worst */
}

/* The names of the caller's supplementary groups, for the message: whole
 * names, as many as fit (at most 4). */
static void group_names(char *out, size_t len)
{
    gid_t groups[NGROUPS_MAX];
    int n = getgroups(NGROUPS_MAX, groups);
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0, shown = 0; i < n && shown < 4; i++) {
        if (groups[i] == getegid())
            continue;
        struct group *g = getgrgid(groups[i]);
        bool fit = g ? fmt_append(out, len, &used, "%s%s", shown ? ", " : "", g->gr_name)
                     : fmt_append(out, len, &used, "%s%u", shown ? ", " : "",
                                  (unsigned)groups[i]);
        if (!fit)
            break;
        shown++;
    }
}

/* The first subordinate gid of the caller (/etc/subgid: OWNER:START:COUNT,
 * OWNER a user name or uid); 0 when there is none. */
static unsigned long first_subgid(void)
{
    char uid[32];
    fmt_bounded(uid, "%u", (unsigned)getuid());
    struct passwd *pw = getpwuid(getuid());
    autofclose FILE *f = fopen("/etc/subgid", "re");
    if (!f)
        return 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *start = strchr(line, ':');
        if (!start)
            continue;
        *start++ = '\0';
        char *end;
        unsigned long first = strtoul(start, &end, 10);
        unsigned long count = *end == ':' ? strtoul(end + 1, NULL, 10) : 0;
        if (count > 0 && first > 0 &&
            (strcmp(line, uid) == 0 || (pw && strcmp(line, pw->pw_name) == 0)))
            return first;
    }
    return 0;
}

/* hint: what to do about it. */
static int unsupported(hutch_error *err, const char *hint)
{
    char names[256];
    group_names(names, sizeof names);
    return error_set(err, HUTCH_E_UNSUPPORTED,
                     "you are in supplementary groups (%s) that the sandbox would keep, and "
                     "only newgidmap can drop them: %s; or run hutch without those groups, or "
                     "as root",
                     names, hint);
}

int groups_map_dropping(pid_t pid, gid_t inside, gid_t outside, hutch_error *err)
{
    const char *tool = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(newgidmap_paths) && !tool; i++)
        if (access(newgidmap_paths[i], X_OK) == 0)
            tool = newgidmap_paths[i];
    if (!tool)
        return unsupported(err, "install it (apt install uidmap)");
    unsigned long sub = first_subgid();
    if (!sub) {
        struct passwd *pw = getpwuid(getuid());
        char hint[256];
        fmt_trunc(hint, sizeof hint,
                  "give yourself subordinate ids (sudo usermod --add-subuids 100000-165535 "
                  "--add-subgids 100000-165535 %s)",
                  pw ? pw->pw_name : "USER");
        return unsupported(err, hint);
    }
    /* The subordinate gid shows as an id nothing in the sandbox uses. */
    unsigned extra = inside == 65534 ? 65533 : 65534;
    char a[5][24];
    fmt_bounded(a[0], "%d", (int)pid);
    fmt_bounded(a[1], "%u", (unsigned)inside);
    fmt_bounded(a[2], "%u", (unsigned)outside);
    fmt_bounded(a[3], "%u", extra);
    fmt_bounded(a[4], "%lu", sub);
    char *argv[] = {(char *)tool, a[0], a[1], a[2], (char *)"1", a[3], a[4], (char *)"1", NULL};
    char said[256];
    int status;
    if (run_tool(tool, argv, said, sizeof said, &status, err) < 0)
        return -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return unsupported(err, *said ? said : "it failed");
    return 0;
}
