/* The native sandbox's mount plan and cgroup parsing: pure logic, no
 * namespaces needed. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hutch.h"
#include "drivers/native/cgroup.h"
#include "drivers/native/plan.h"
#include "drivers/native/sandbox.h"
#include "policy/policy.h"
#include "tap.h"

static char dir[64];

static void make_tree(void)
{
    snprintf(dir, sizeof dir, "/tmp/hutch-plan-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    char path[256];
    snprintf(path, sizeof path, "%s/data", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/data/secret", dir);
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "%s/data/keys", dir);
    mkdir(path, 0755);
}

static char *describe(hutch_policy *p, const char *workspace, hutch_error *err)
{
    struct plan plan;
    if (plan_build(p, workspace, 1000, 1000, &plan, err) < 0)
        return NULL;
    char *text = plan_describe(&plan);
    plan_free(&plan);
    return text;
}

static void test_default_plan(void)
{
    hutch_policy *p = hutch_policy_new();
    hutch_error err = {0};
    char *text = describe(p, NULL, &err);
    CHECK(text != NULL, "default plan builds (%s)", err.message);
    CHECK_CONTAINS(text, "bind ro /usr <- /usr\n", "usr is a read-only bind");
    CHECK_CONTAINS(text, "bind ro /etc <- /etc\n", "etc is a read-only bind");
    CHECK_CONTAINS(text, "proc /proc\n", "fresh proc");
    CHECK_CONTAINS(text, "device /dev/null <- /dev/null\n", "dev/null bound");
    CHECK_CONTAINS(text, "devpts /dev/pts\n", "private devpts");
    CHECK_CONTAINS(text, "symlink /dev/ptmx <- pts/ptmx\n", "ptmx link");
    CHECK_CONTAINS(text, "tmpfs /tmp (mode=1777)\n", "tmp is a tmpfs");
    CHECK_CONTAINS(text, "tmpfs /workspace (mode=0755,uid=1000,gid=1000)\n",
                   "no workspace given: a tmpfs owned by the sandbox user");
    CHECK_CONTAINS(text, "mask /etc/shadow\n", "shadow is hidden");
    CHECK_CONTAINS(text, "root read-only\n", "the root is read-only by default");
    CHECK(strstr(text, "/home") == NULL && strstr(text, "/root") == NULL,
          "no home directories in the plan");
    free(text);
    hutch_policy_free(p);
}

static void test_user_mounts_and_masks(void)
{
    hutch_policy *p = hutch_policy_new();
    hutch_error err = {0};
    char spec[256], secret[256], keys[256];
    snprintf(spec, sizeof spec, "%s/data:/opt/deep/data", dir);
    snprintf(secret, sizeof secret, "%s/data/secret", dir);
    snprintf(keys, sizeof keys, "%s/data/keys", dir);
    hutch_policy_set(p, "filesystem.readOnly", spec, &err);
    hutch_policy_set(p, "filesystem.denyRead", secret, &err);
    hutch_policy_set(p, "filesystem.denyRead", "/opt/deep/data/keys", &err);
    hutch_policy_set(p, "filesystem.denyRead", "/nonexistent/anywhere", &err);
    hutch_policy_set(p, "filesystem.tmpfs", "/scratch:size=8m", &err);
    char *text = describe(p, dir, &err);
    CHECK(text != NULL, "plan with mounts builds (%s)", err.message);
    if (!text)
        return;
    char expect[512];
    snprintf(expect, sizeof expect, "bind rw /workspace <- %s\n", dir);
    CHECK_CONTAINS(text, expect, "workspace bound read-write");
    CHECK_CONTAINS(text, "mkdir /opt\nmkdir /opt/deep\nbind ro /opt/deep/data", "parents created once, before the bind");
    CHECK_CONTAINS(text, "mask /opt/deep/data/secret\n", "a host path is hidden where it is visible");
    CHECK_CONTAINS(text, "mask /workspace/data/secret\n", "... in every place it is visible");
    CHECK_CONTAINS(text, "pin /workspace/data\n", "... and pinned where the sandbox can write");
    CHECK_CONTAINS(text, "mask /opt/deep/data/keys\n", "a path inside the sandbox can be hidden too");
    CHECK(strstr(text, "nonexistent") == NULL, "paths that are not visible need no mask");
    CHECK_CONTAINS(text, "tmpfs /scratch (mode=0755,uid=1000,gid=1000,size=8m)\n", "tmpfs options kept");
    const char *mask = strstr(text, "mask /opt");
    const char *bind = strstr(text, "bind ro /opt/deep/data");
    CHECK(mask && bind && mask > bind, "masks come after the mounts they cover");
    free(text);
    hutch_policy_free(p);

    p = hutch_policy_new();
    hutch_policy_set(p, "filesystem.readOnly", "/nonexistent-hutch:/x", &err);
    CHECK(describe(p, NULL, &err) == NULL, "a missing mount source fails");
    CHECK_STR(err.message,
              "filesystem.readOnly (--ro): cannot mount /nonexistent-hutch: No such file or directory",
              "the error names the setting and the path");
    hutch_policy_free(p);

    p = hutch_policy_new();
    hutch_policy_set(p, "filesystem.readOnlyRoot", "false", &err);
    text = describe(p, NULL, &err);
    CHECK_CONTAINS(text, "root writable\n", "a writable root on request");
    free(text);
    hutch_policy_free(p);
}

/* Deny rules in a writable workspace: the directories on the way are
 * pinned, before the masks; a missing target, a symlink on the way or a
 * file with other links fail closed (deny.h). */
static void test_deny_rules(void)
{
    char ws[128], path[256], other[256];
    snprintf(ws, sizeof ws, "%s/ws", dir);
    snprintf(path, sizeof path, "%s/ws/a/b", dir);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && echo k > %s/key && mkdir -p %s/ws/c/.git", path,
             path, dir);
    if (system(cmd) != 0)
        abort();
    hutch_policy *p = hutch_policy_new();
    hutch_error err = {0};
    snprintf(path, sizeof path, "%s/ws/a/b/key", dir);
    hutch_policy_set(p, "filesystem.denyRead", path, &err);
    snprintf(path, sizeof path, "%s/ws/c/.git", dir);
    hutch_policy_set(p, "filesystem.denyWrite", path, &err);
    char *text = describe(p, ws, &err);
    CHECK(text != NULL, "a plan with deny rules builds (%s)", err.message);
    if (text) {
        CHECK_CONTAINS(text, "pin /workspace/c\npin /workspace/a\npin /workspace/a/b\n",
                       "every directory between the workspace and a target is pinned, "
                       "shallowest first");
        const char *pin = strstr(text, "pin /workspace/a/b\n");
        const char *ro = strstr(text, "read-only /workspace/c/.git\n");
        const char *mask = strstr(text, "mask /workspace/a/b/key\n");
        CHECK(pin && ro && mask && pin < ro && ro < mask,
              "pins, then read-only targets, then masks");
        CHECK(strstr(text, "pin /workspace/c/.git") == NULL, "a target is not pinned itself");
    }
    free(text);
    hutch_policy_free(p);

    p = hutch_policy_new();
    snprintf(path, sizeof path, "%s/ws/a/gone", dir);
    hutch_policy_set(p, "filesystem.denyRead", path, &err);
    CHECK(describe(p, ws, &err) == NULL && strstr(err.message, "is not there") &&
              strstr(err.message, "filesystem.denyRead (--deny-read)"),
          "a missing target the sandbox would see fails closed (%s)", err.message);
    hutch_policy_free(p);

    p = hutch_policy_new();
    hutch_policy_set(p, "filesystem.denyRead", "/nonexistent-hutch/x", &err);
    text = describe(p, ws, &err);
    CHECK(text != NULL, "a path nowhere in the sandbox's view needs nothing");
    free(text);
    hutch_policy_free(p);

    snprintf(other, sizeof other, "%s/ws/l", dir);
    snprintf(path, sizeof path, "%s/ws/a", dir);
    if (symlink(path, other) < 0)
        abort();
    p = hutch_policy_new();
    snprintf(path, sizeof path, "%s/ws/l/b/key", dir);
    hutch_policy_set(p, "filesystem.denyRead", path, &err);
    CHECK(describe(p, ws, &err) == NULL && strstr(err.message, "leads through the symlink"),
          "a symlink inside a mount is not followed (%s)", err.message);
    hutch_policy_free(p);
    unlink(other);

    snprintf(path, sizeof path, "%s/ws/a/b/key", dir);
    snprintf(other, sizeof other, "%s/ws/other", dir);
    if (link(path, other) < 0)
        abort();
    p = hutch_policy_new();
    hutch_policy_set(p, "filesystem.denyRead", path, &err);
    CHECK(describe(p, ws, &err) == NULL && strstr(err.message, "2 hard links"),
          "a file with another name is refused (%s)", err.message);
    hutch_policy_free(p);
    unlink(other);
}

static void test_cgroup_parse(void)
{
    struct cgroup_system sys;
    memset(&sys, 0, sizeof sys);
    cgroup_parse_self(&sys, "12:pids:/user.slice\n4:memory:/a/b\n2:cpu,cpuacct:/c\n0::/user.slice/x.scope\n");
    CHECK_STR(sys.v2_own, "/user.slice/x.scope", "v2 path from the 0:: line");
    CHECK_STR(sys.v1_own[CG_MEMORY], "/a/b", "v1 memory path");
    CHECK_STR(sys.v1_own[CG_PIDS], "/user.slice", "v1 pids path");
    CHECK_STR(sys.v1_own[CG_CPU], "/c", "cpu found in a joint cpu,cpuacct hierarchy");
    memset(&sys, 0, sizeof sys);
    cgroup_parse_self(&sys, "0::/\n");
    CHECK_STR(sys.v2_own, "/", "unified root");
    CHECK(sys.v1_own[CG_MEMORY][0] == '\0', "no v1 on a unified system");
}

static void on_signal(int sig)
{
    (void)sig;
}

static void *wait_to_be_cancelled(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

/* What the sandbox's init resets: the caller's caught and ignored signals,
 * read from /proc/self/status, the same as asking sigaction() each. */
static void test_changed_signals(void)
{
    /* glibc catches a signal of its own (32) once a thread is cancelled:
     * /proc lists it, sigaction() does not answer for it. */
    pthread_t t;
    if (pthread_create(&t, NULL, wait_to_be_cancelled, NULL) == 0) {
        pthread_cancel(t);
        pthread_join(t, NULL);
    }
    signal(SIGUSR1, on_signal);
    signal(SIGUSR2, SIG_IGN);
    signal(SIGRTMIN + 3, on_signal);
    uint64_t mask = sandbox_changed_signals();
    CHECK(mask & (1ULL << (SIGUSR1 - 1)), "a caught signal is changed");
    CHECK(mask & (1ULL << (SIGUSR2 - 1)), "so is an ignored one");
    CHECK(mask & (1ULL << (SIGRTMIN + 3 - 1)), "and a caught real-time one");
    CHECK(!(mask & (1ULL << (SIGTERM - 1))), "a default one is not");
    uint64_t asked = 0;
    for (int sig = 1; sig < 64; sig++) {
        struct sigaction sa;
        if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL)
            asked |= 1ULL << (sig - 1);
    }
    CHECK(mask == asked, "the mask is what sigaction says of every signal (%llx, %llx)",
          (unsigned long long)mask, (unsigned long long)asked);
    signal(SIGUSR1, SIG_DFL);
    signal(SIGUSR2, SIG_DFL);
    signal(SIGRTMIN + 3, SIG_DFL);
    CHECK(!(sandbox_changed_signals() & (1ULL << (SIGUSR1 - 1))), "and a reset one is not");
}

int main(void)
{
    test_changed_signals();
    make_tree();
    test_default_plan();
    test_user_mounts_and_masks();
    test_deny_rules();
    test_cgroup_parse();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return tap_done();
}
