/* One rule for each setting docker.* keys and general keys share
 * (src/policy_resolve.c): the same policy resolves the same way for a run,
 * a session exec and a tool call. */
#include "base/command.h"
#include "policy/policy_resolve.h"
#include "tap.h"

static hutch_policy *policy(const char *const *settings)
{
    hutch_policy *p = hutch_policy_new();
    hutch_error err = {0};
    for (size_t i = 0; settings[i]; i += 2)
        if (hutch_policy_set(p, settings[i], settings[i + 1], &err) < 0)
            printf("# %s: %s\n", settings[i], err.message);
    return p;
}

static const char *env_of(const struct strlist *env, const char *name)
{
    long i = strlist_find_env(env, name, strlen(name));
    return i < 0 ? NULL : strchr(env->items[i], '=') + 1;
}

static void env_rule(void)
{
    const char *settings[] = {"env", "SHARED=general", "docker.env", "SHARED=docker",
                              "docker.env", "ONLY_DOCKER=1", "env", "ONLY_GENERAL=1",
                              "docker.env", "PATH=/opt/bin", NULL};
    hutch_policy *p = policy(settings);
    struct strlist docker = {0}, native = {0};
    hutch_error err = {0};
    CHECK(command_env(p, ENV_DOCKER, &docker, &err) == 0, "docker env");
    CHECK(command_env(p, ENV_SANDBOX, &native, &err) == 0, "native env");
    CHECK_STR(env_of(&docker, "SHARED"), "general", "env wins over docker.env for one name");
    CHECK_STR(env_of(&docker, "ONLY_DOCKER"), "1", "docker.env alone applies to docker");
    CHECK_STR(env_of(&docker, "PATH"), "/opt/bin", "docker.env replaces a default, once");
    long first = strlist_find_env(&docker, "SHARED", 6);
    size_t count = 0;
    for (size_t i = 0; i < docker.len; i++)
        count += strncmp(docker.items[i], "SHARED=", 7) == 0;
    CHECK(first >= 0 && count == 1, "each name once (%zu)", count);
    CHECK(env_of(&native, "ONLY_DOCKER") == NULL, "docker.env does not reach native");
    CHECK_STR(env_of(&native, "SHARED"), "general", "native: env");
    strlist_clear(&docker);
    strlist_clear(&native);
    hutch_policy_free(p);

    const char *allow[] = {"network.mode", "allow", "network.allowedDomains", "example.com",
                           "docker.env", "HTTP_PROXY=http://evil:1", NULL};
    p = policy(allow);
    CHECK(command_env(p, ENV_DOCKER, &docker, &err) == 0, "allowlist env");
    const char *proxy = env_of(&docker, "HTTP_PROXY");
    CHECK(proxy && !strstr(proxy, "evil"), "the proxy's variables win over docker.env: %s",
          proxy ? proxy : "(none)");
    strlist_clear(&docker);
    hutch_policy_free(p);
}

static void workdir_rule(void)
{
    struct resolved_policy rp;
    hutch_error err = {0};
    const char *none[] = {NULL};
    hutch_policy *p = policy(none);
    CHECK(policy_resolve(p, BACKEND_NATIVE, &rp, &err) == 0, "resolves");
    CHECK_STR(rp.workdir, "/workspace", "no workdir: /workspace");
    hutch_policy_free(p);

    const char *rel[] = {"workdir", "src", "docker.workdir", "/app", NULL};
    p = policy(rel);
    policy_resolve(p, BACKEND_NATIVE, &rp, &err);
    CHECK_STR(rp.workdir, "/workspace/src", "relative workdir is under /workspace");
    policy_resolve(p, BACKEND_DOCKER, &rp, &err);
    CHECK_STR(rp.workdir, "/app", "docker.workdir wins for docker");
    hutch_policy_free(p);
}

static void setup_rule(void)
{
    struct resolved_policy rp;
    hutch_error err = {0};
    const char *both[] = {"setupCommand", "echo general", "docker.setupCommand", "echo docker",
                          NULL};
    hutch_policy *p = policy(both);
    policy_resolve(p, BACKEND_NATIVE, &rp, &err);
    CHECK_STR(rp.session_setup, "echo general", "native sessions: setupCommand");
    CHECK(rp.run_setup == NULL, "native runs: no setup");
    policy_resolve(p, BACKEND_DOCKER, &rp, &err);
    CHECK_STR(rp.session_setup, "echo docker", "docker sessions: docker.setupCommand wins");
    CHECK_STR(rp.run_setup, "echo docker", "docker runs: docker.setupCommand");
    hutch_policy_free(p);

    const char *general[] = {"setupCommand", "echo general", NULL};
    p = policy(general);
    policy_resolve(p, BACKEND_DOCKER, &rp, &err);
    CHECK_STR(rp.session_setup, "echo general", "docker sessions fall back to setupCommand");
    CHECK(rp.run_setup == NULL, "docker runs do not run setupCommand");
    hutch_policy_free(p);
}

static void docker_keys(void)
{
    struct resolved_policy rp;
    hutch_error err = {0};
    const char *s[] = {"user", "1234", "network.mode", "host", "filesystem.readOnlyRoot", "false",
                       NULL};
    hutch_policy *p = policy(s);
    CHECK(policy_resolve(p, BACKEND_DOCKER, &rp, &err) == 0, "resolves");
    CHECK_STR(rp.user, "1234", "user applies to docker");
    CHECK_STR(rp.network, "host", "network.mode host: docker network host");
    CHECK(!rp.read_only_root, "filesystem.readOnlyRoot applies when docker's is not set");
    hutch_policy_free(p);

    const char *conflict[] = {"network.mode", "allow", "network.allowedDomains", "a.example",
                              "docker.network", "bridge", NULL};
    p = policy(conflict);
    CHECK(policy_resolve(p, BACKEND_DOCKER, &rp, &err) < 0 &&
              strstr(err.message, "docker.network"),
          "docker.network with the allowlist is refused, naming the key");
    hutch_policy_free(p);
}

int main(void)
{
    env_rule();
    workdir_rule();
    setup_rule();
    docker_keys();
    return tap_done();
}
