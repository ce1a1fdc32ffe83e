/* limits.disk and limits.files: the tmpfs options every backend builds
 * (src/disk_limits.c), the native plan under the limits, and the write,
 * edit and bash tools on a full disk — a small tmpfs mounted in a user and
 * mount namespace of a child of the test's own, so that it runs
 * unprivileged too. Sessions, images and quotas: tests/integration/
 * test_disk_limits.py. */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "drivers/disk_limits.h"
#include "drivers/native/plan.h"
#include "policy/policy.h"
#include "tap.h"
#include "tools/tools.h"
#include "base/util.h"

static hutch_policy *limited(const char *disk, const char *files)
{
    hutch_policy *p = hutch_policy_new();
    hutch_error err;
    if (p && disk && hutch_policy_set(p, "limits.disk", disk, &err) < 0)
        printf("# %s\n", err.message);
    if (p && files && hutch_policy_set(p, "limits.files", files, &err) < 0)
        printf("# %s\n", err.message);
    return p;
}

static const char *options(const hutch_policy *p, const char *in)
{
    static char out[sizeof "error: " + ERROR_MESSAGE_MAX];
    hutch_error err;
    if (disk_tmpfs_options(p, in, 1, out, sizeof out, &err) < 0)
        snprintf(out, sizeof out, "error: %s", err.message);
    return out;
}

static void test_tmpfs_options(void)
{
    hutch_policy *none = limited(NULL, NULL);
    hutch_policy *disk = limited("8m", NULL);
    hutch_policy *files = limited(NULL, "200");
    hutch_policy *both = limited("8m", "200");
    CHECK(!disk_limited(none) && disk_limited(disk) && disk_limited(files), "disk_limited");
    CHECK_STR(options(none, "mode=1777"), "mode=1777", "no limits: options unchanged");
    CHECK_STR(options(none, "size=0"), "size=0", "no limits: even an unlimited size");
    CHECK_STR(options(disk, "mode=1777"), "mode=1777,size=8388608", "disk: size added");
    CHECK_STR(options(files, ""), "nr_inodes=201", "files: inodes added, one for the root");
    CHECK_STR(options(both, NULL), "size=8388608,nr_inodes=201", "both, no options");
    CHECK_STR(options(both, "size=4m"), "size=4m,nr_inodes=201", "a smaller size stays");
    CHECK_STR(options(both, "size=1g,mode=0700"), "mode=0700,size=8388608,nr_inodes=201",
              "a larger size gives way");
    CHECK_STR(options(disk, "size=50%"), "size=8388608", "a percentage gives way");
    CHECK_STR(options(disk, "size=0"), "size=8388608", "size=0 (unlimited) gives way");
    CHECK_STR(options(files, "nr_inodes=0"), "nr_inodes=201", "nr_inodes=0 gives way");
    CHECK_STR(options(files, "nr_inodes=50"), "nr_inodes=50", "fewer inodes stay");
    CHECK_STR(options(files, "nr_inodes=1k"), "nr_inodes=201", "more inodes give way");
    CHECK_STR(options(disk, "nr_blocks=16"), "nr_blocks=16", "fewer blocks stay");
    CHECK_STR(options(disk, "nr_blocks=100000"), "size=8388608", "more blocks give way");
    CHECK_STR(options(disk, "size=1g,size=4m"), "size=4m", "only a small size is kept");
    CHECK_STR(options(disk, "size=12x"), "size=8388608", "a size that does not parse gives way");
    CHECK_STR(options(disk, "size=99999999999999999999999"), "size=8388608",
              "an overflowing size gives way");
    CHECK_STR(options(disk, "mode=1777,,uid=5"), "mode=1777,uid=5,size=8388608",
              "empty items dropped");
    char small[16];
    hutch_error err;
    CHECK(disk_tmpfs_options(both, "mode=1777", 1, small, sizeof small, &err) < 0 &&
              strstr(err.message, "too long"),
          "options that do not fit are an error");
    CHECK_STR(disk_limit_names(disk), "limits.disk (--disk)", "names: disk");
    CHECK_STR(disk_limit_names(files), "limits.files (--files)", "names: files");
    hutch_policy_free(none);
    hutch_policy_free(disk);
    hutch_policy_free(files);
    hutch_policy_free(both);
}

static void test_plan(void)
{
    hutch_policy *p = limited("8m", "200");
    hutch_error err;
    if (hutch_policy_set(p, "filesystem.tmpfs", "/scratch:size=1m", &err) < 0 ||
        hutch_policy_set(p, "filesystem.readOnlyRoot", "false", &err) < 0)
        printf("# %s\n", err.message);
    struct plan pl;
    int r = plan_build(p, NULL, 1000, 1000, &pl, &err);
    CHECK(r == 0, "a plan under the limits");
    if (r < 0) {
        printf("# %s\n", err.message);
        hutch_policy_free(p);
        return;
    }
    char *text = plan_describe(&pl);
    CHECK_CONTAINS(text, "tmpfs /tmp (mode=1777,size=8388608,nr_inodes=201)", "/tmp bounded");
    CHECK_CONTAINS(text, "tmpfs /dev/shm (mode=1777,size=8388608,nr_inodes=201)",
                   "/dev/shm bounded");
    /* Setup's mount points and links in /dev and in the root do not count
     * against the sandbox's own files. */
    const char *dev = strstr(text, "tmpfs /dev (mode=0755,size=8388608,nr_inodes=");
    unsigned n = 0;
    CHECK(dev && sscanf(dev, "tmpfs /dev (mode=0755,size=8388608,nr_inodes=%u)", &n) == 1 &&
              n > 201 && n < 201 + 64,
          "/dev bounded, its device nodes and links counted in (%u)", n);
    CHECK_CONTAINS(text,
                   "tmpfs /workspace (mode=0755,uid=1000,gid=1000,size=8388608,nr_inodes=201)",
                   "the tmpfs workspace bounded");
    CHECK_CONTAINS(text, "tmpfs /scratch (mode=0755,uid=1000,gid=1000,size=1m,nr_inodes=201)",
                   "a --tmpfs keeps its smaller size");
    n = 0;
    CHECK(sscanf(pl.root_options, "mode=0755,uid=1000,gid=1000,size=8388608,nr_inodes=%u", &n) ==
                  1 &&
              n > 201 && n < 201 + 64,
          "a writable root bounded, its mount points counted in (%s)", pl.root_options);
    free(text);
    plan_free(&pl);
    hutch_policy_free(p);
}

/* ---- the tools on a full disk ---------------------------------------------------- */

/* Results of the child, one line each: "ok|not ok\tdescription\tdetail". */
static FILE *report;

static void child_check(bool ok, const char *what, const char *detail)
{
    fprintf(report, "%s\t%s\t%s\n", ok ? "ok" : "not ok", what, detail ? detail : "");
    fflush(report);
}

static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int r = write_all(fd, text, strlen(text));
    close(fd);
    return r;
}

static bool same_content(const char *path, const char *text)
{
    char buf[256];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return n == (ssize_t)strlen(text) && memcmp(buf, text, (size_t)n) == 0;
}

static bool no_temporaries(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls -a %s | grep -q '^\\.hutch-'", dir);
    return system(cmd) != 0;
}

static json_t *tool(const struct tool_env *env, const char *name, json_t *args)
{
    json_t *result = NULL;
    if (tool_run(name, args, -1, env, &result) < 0)
        result = NULL;
    json_decref(args);
    return result;
}

static const char *error_of(json_t *r)
{
    const char *e = json_string_value(json_object_get(r, "error"));
    return e ? e : "";
}

/* Fills the filesystem of dir: bytes, or inodes. */
static void fill(const char *dir, bool inodes)
{
    char cmd[512];
    if (inodes)
        snprintf(cmd, sizeof cmd, "i=0; while : 2>/dev/null > %s/i$i; do i=$((i+1)); done", dir);
    else
        snprintf(cmd, sizeof cmd, "head -c 1m /dev/zero > %s/filler 2>/dev/null", dir);
    (void)!system(cmd);
}

static void unfill(const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -f %s/filler %s/i*", dir, dir);
    (void)!system(cmd);
}

static void full_disk_scenarios(const char *dir)
{
    const char *roots[1] = {dir};
    char out_dir[320], keep[320], fresh[320];
    snprintf(out_dir, sizeof out_dir, "%s/hutch-output", dir);
    snprintf(keep, sizeof keep, "%s/keep.txt", dir);
    snprintf(fresh, sizeof fresh, "%s/new.txt", dir);
    static char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct tool_env env = {
        .roots = {.workspace = dir, .readable = roots, .n_readable = 1, .writable = roots,
                  .n_writable = 1},
        .envp = envp,
        .output_dir = out_dir,
        .cancel_fd = -1,
    };
    static const char original[] = "original line\n";
    if (write_text(keep, original) < 0) {
        child_check(false, "set up the file to keep", strerror(errno));
        return;
    }
    /* Content bigger than what is left. */
    size_t big_len = 256 * 1024;
    char *big = malloc(big_len + 1);
    if (!big)
        return;
    memset(big, 'x', big_len);
    big[big_len] = '\0';

    for (int inodes = 0; inodes <= 1; inodes++) {
        const char *how = inodes ? "no inodes left" : "no bytes left";
        char what[128];
        fill(dir, inodes);
        json_t *r = tool(&env, "write", json_pack("{s:s, s:s}", "path", "keep.txt", "content",
                                                  inodes ? "small" : big));
        snprintf(what, sizeof what, "write on a full disk (%s) fails", how);
        child_check(r && json_is_false(json_object_get(r, "ok")), what, error_of(r));
        snprintf(what, sizeof what, "write (%s) says the file was not changed", how);
        child_check(strstr(error_of(r), "no space left") &&
                        strstr(error_of(r), "keep.txt was not changed"),
                    what, error_of(r));
        json_decref(r);
        snprintf(what, sizeof what, "write (%s) leaves the file byte for byte", how);
        child_check(same_content(keep, original), what, NULL);
        snprintf(what, sizeof what, "write (%s) leaves no temporary file", how);
        child_check(no_temporaries(dir), what, NULL);

        r = tool(&env, "edit", json_pack("{s:s, s:s, s:s}", "path", "keep.txt", "oldText",
                                         "original", "newText", inodes ? "changed" : big));
        snprintf(what, sizeof what, "edit (%s) fails, saying the file was not changed", how);
        child_check(r && strstr(error_of(r), "keep.txt was not changed"), what, error_of(r));
        json_decref(r);
        snprintf(what, sizeof what, "edit (%s) leaves the file byte for byte", how);
        child_check(same_content(keep, original) && no_temporaries(dir), what, NULL);

        r = tool(&env, "write", json_pack("{s:s, s:s}", "path", "new.txt", "content",
                                          inodes ? "small" : big));
        snprintf(what, sizeof what, "a new file (%s) is not created, and that is said", how);
        child_check(r && strstr(error_of(r), "new.txt was not created") &&
                        access(fresh, F_OK) < 0 && no_temporaries(dir),
                    what, error_of(r));
        json_decref(r);

        /* The agent is not stuck: bash runs (the command that frees space). */
        r = tool(&env, "bash", json_pack("{s:s}", "command", "echo still here"));
        const char *text = json_string_value(json_object_get(r, "text"));
        snprintf(what, sizeof what, "bash still runs (%s)", how);
        child_check(r && json_is_true(json_object_get(r, "ok")) && text &&
                        strncmp(text, "still here\n", 11) == 0,
                    what, text ? text : error_of(r));
        if (inodes) {
            child_check(text && strstr(text, "not kept in a file") &&
                            json_is_null(json_object_get(r, "output_file")),
                        "without a log, bash says its output is not kept", text);
        }
        json_decref(r);
        unfill(dir);
    }
    /* With room again, the write goes through. */
    json_t *r = tool(&env, "write", json_pack("{s:s, s:s}", "path", "keep.txt", "content", "new"));
    child_check(r && json_is_true(json_object_get(r, "ok")) && same_content(keep, "new"),
                "with space again, write works", error_of(r));
    json_decref(r);
    free(big);
}

static int write_proc(const char *file, const char *text)
{
    int fd = open(file, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = write_all(fd, text, strlen(text));
    close(fd);
    return r;
}

/* In a child: a user and mount namespace (mapping the caller onto itself),
 * a small tmpfs, the scenarios; the results come back as lines. */
static void test_full_disk(const char *base)
{
    int fds[2];
    if (pipe(fds) < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        report = fdopen(fds[1], "w");
        uid_t uid = geteuid();
        gid_t gid = getegid();
        char map[64];
        int flags = CLONE_NEWNS | (uid ? CLONE_NEWUSER : 0);
        if (unshare(flags) < 0) {
            child_check(false, "unshare a mount namespace", strerror(errno));
            _exit(0);
        }
        if (uid) {
            snprintf(map, sizeof map, "%u %u 1", (unsigned)uid, (unsigned)uid);
            if (write_proc("/proc/self/setgroups", "deny") < 0 ||
                write_proc("/proc/self/uid_map", map) < 0)
                child_check(false, "map the user", strerror(errno));
            snprintf(map, sizeof map, "%u %u 1", (unsigned)gid, (unsigned)gid);
            if (write_proc("/proc/self/gid_map", map) < 0)
                child_check(false, "map the group", strerror(errno));
        }
        char dir[300];
        snprintf(dir, sizeof dir, "%s/full", base);
        /* Never seen outside: the test's mounts stay in its namespace. */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 || mkdir(dir, 0700) < 0 ||
            mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=192k,nr_inodes=24") < 0) {
            child_check(false, "mount a small tmpfs", strerror(errno));
            _exit(0);
        }
        full_disk_scenarios(dir);
        fclose(report);
        _exit(0);
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    char line[2048];
    int lines = 0;
    while (in && fgets(line, sizeof line, in)) {
        line[strcspn(line, "\n")] = '\0';
        char *what = strchr(line, '\t');
        char *detail = what ? strchr(what + 1, '\t') : NULL;
        if (!what || !detail)
            continue;
        *what++ = '\0';
        *detail++ = '\0';
        CHECK(strcmp(line, "ok") == 0, "%s", what);
        if (strcmp(line, "ok") != 0 && *detail)
            printf("#   %s\n", detail);
        lines++;
    }
    if (in)
        fclose(in);
    int status;
    waitpid(pid, &status, 0);
    CHECK(lines >= 18 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "every full-disk scenario ran (%d results)", lines);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    char base[] = "/tmp/hutch-disk-XXXXXX";
    if (!mkdtemp(base))
        return 1;
    test_tmpfs_options();
    test_plan();
    test_full_disk(base);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    (void)!system(cmd);
    return tap_done();
}
