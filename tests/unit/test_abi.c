/* The versioned structs of the public API (include/hutch.h): callers
 * compiled against an older or a newer hutch.h. */
#include <stddef.h>

#include "hutch.h"
#include "base/result.h"
#include "tap.h"

/* What a program built against a later hutch.h passes: more fields. */
struct newer_command {
    hutch_command base;
    int later_field;
};
struct newer_result {
    hutch_result base;
    char *later_field;
};

static hutch_policy *host_policy(void)
{
    hutch_policy *p = hutch_policy_new();
    hutch_error err;
    if (hutch_policy_set(p, "backend", "host", &err) < 0)
        printf("# %s\n", err.message);
    return p;
}

static void too_small(void)
{
    hutch_policy *p = host_policy();
    const char *argv[] = {"true", NULL};
    hutch_command cmd;
    hutch_command_init(&cmd);
    cmd.argv = argv;
    hutch_result r;
    hutch_error err;
    CHECK(hutch_run_v1(p, &cmd, 8, &r, sizeof r, &err) < 0 && err.status == HUTCH_E_INVALID &&
              strstr(err.message, "smaller than any hutch_command"),
          "a command smaller than the first version is refused: %s", err.message);
    CHECK(hutch_run_v1(p, &cmd, sizeof cmd, &r, 16, &err) < 0 && err.status == HUTCH_E_INVALID &&
              strstr(err.message, "smaller than any hutch_result"),
          "a result smaller than the first version is refused: %s", err.message);
    CHECK(HUTCH_COMMAND_V1_SIZE <= sizeof(hutch_command) &&
              HUTCH_RESULT_V1_SIZE <= sizeof(hutch_result),
          "the first version's fields are a prefix of this one's");
    memset(&r, 0xaa, sizeof r);
    CHECK(hutch_run(NULL, &cmd, &r, &err) < 0 && r.out.data == NULL && r.error == NULL,
          "a call that fails still leaves a result that can be freed");
    hutch_result_free(&r);
    hutch_policy_free(p);
}

static void newer_caller(void)
{
    hutch_policy *p = host_policy();
    const char *argv[] = {"sh", "-c", "echo hi", NULL};
    struct newer_command cmd;
    hutch_command_init_v1(&cmd.base, sizeof cmd);
    cmd.base.argv = argv;
    struct newer_result r;
    memset(&r, 0xaa, sizeof r);
    hutch_error err;
    int rc = hutch_run_v1(p, &cmd.base, sizeof cmd, &r.base, sizeof r, &err);
    CHECK(rc == 0 && r.base.exit_code == 0 && r.base.out.data &&
              strcmp(r.base.out.data, "hi\n") == 0,
          "a newer caller's command runs: %s", rc == 0 ? "ok" : err.message);
    CHECK(r.later_field == NULL, "fields this library does not know come back zeroed");
    char *json = hutch_result_to_json_v1(&r.base, sizeof r);
    CHECK(json && strstr(json, "\"stdout\":\"hi\\n\""), "its result as JSON: %s",
          json ? json : "(null)");
    free(json);
    r.later_field = (char *)"set";
    hutch_result_free_v1(&r.base, sizeof r);
    CHECK(r.later_field == NULL && r.base.out.data == NULL, "free clears the caller's whole struct");

    cmd.later_field = 1;
    CHECK(hutch_run_v1(p, &cmd.base, sizeof cmd, &r.base, sizeof r, &err) < 0 &&
              strstr(err.message, "does not know"),
          "a field this library does not know, when set, is refused (not ignored): %s",
          err.message);
    hutch_policy_free(p);
}

static void same_version(void)
{
    hutch_policy *p = host_policy();
    const char *argv[] = {"sh", "-c", "exit 3", NULL};
    hutch_command cmd;
    hutch_command_init(&cmd);
    cmd.argv = argv;
    hutch_result r;
    hutch_error err;
    CHECK(hutch_run(p, &cmd, &r, &err) == 0 && r.exit_code == 3 && strcmp(r.backend, "host") == 0,
          "the macros pass this version's sizes");
    hutch_result_free(&r);
    CHECK(hutch_tool_allowed(p, "bash") == 1 && hutch_tool_allowed(p, "browser") == 1,
          "every tool name is offered by default");
    hutch_error e2;
    CHECK(hutch_policy_set(p, "tools.deny", "browser", &e2) == 0 &&
              hutch_tool_allowed(p, "browser") == 0 && hutch_tool_allowed(p, "bash") == 1,
          "tools.deny names a harness's own tool");
    CHECK(hutch_session_status("any", NULL, &e2) < 0 && e2.status == HUTCH_E_INVALID &&
              hutch_session_list(NULL, &e2) < 0 && hutch_prune(p, 1, 0, NULL, &e2) < 0,
          "a missing place for a JSON answer is an error, not a crash: %s", e2.message);
    hutch_policy_free(p);
}

/* A caller built against 0.2.0: its struct ended before tty_fd, so what its
 * memory holds there is not read. */
static void first_version_caller(void)
{
    hutch_policy *p = host_policy();
    const char *argv[] = {"true", NULL};
    hutch_command cmd;
    memset(&cmd, 0, sizeof cmd); /* not initialised: tty_fd 0 would be stdin */
    cmd.argv = argv;
    cmd.stdin_fd = cmd.stdout_fd = cmd.stderr_fd = cmd.cancel_fd = -1;
    hutch_result r;
    hutch_error err;
    int rc = hutch_run_v1(p, &cmd, offsetof(hutch_command, tty_fd), &r, sizeof r, &err);
    CHECK(rc == 0 && r.exit_code == 0, "a first-version command has no terminal: %s",
          rc == 0 ? "ok" : err.message);
    hutch_result_free(&r);
    CHECK(offsetof(hutch_command, tty_fd) >= 48 || sizeof(void *) < 8,
          "fields after the first version start after its 48 bytes");
    hutch_command_init(&cmd);
    CHECK(cmd.tty_fd == -1, "hutch_command_init: no terminal");
    cmd.argv = argv;
    cmd.tty_fd = 0;
    CHECK(hutch_run(p, &cmd, &r, &err) < 0 && strstr(err.message, "session"),
          "a terminal is for session commands: %s", err.message);
    hutch_result_free(&r);
    hutch_policy_free(p);
}

/* The schema as the CLI and harnesses see it. */
static void policy_keys(void)
{
    size_t n = 0, flags = 0;
    const hutch_key_info *k;
    for (; (k = hutch_policy_key_at(n)); n++)
        flags += k->flag != NULL;
    CHECK(n > 40 && flags > 20, "every key is listed (%zu keys, %zu flags)", n, flags);
    k = hutch_policy_key_by_flag("memory");
    CHECK(k && strcmp(k->key, "limits.memory") == 0 && !k->is_switch, "--memory is limits.memory");
    k = hutch_policy_key_by_flag("timeout");
    CHECK(k && k->per_run, "--timeout may change per exec");
    CHECK(hutch_policy_key_by_flag("nope") == NULL, "an unknown flag has no key");
    hutch_policy *p = hutch_policy_new();
    hutch_error err;
    CHECK(hutch_policy_is_set(p, "limits.memory") == 0, "a default is not set");
    CHECK(hutch_policy_set_flag(p, "memory", "64m", &err) == 0 &&
              hutch_policy_is_set(p, "sandbox.limits.memory") == 1,
          "a flag sets its key");
    char *v = hutch_policy_get(p, "limits.memory");
    CHECK(v && strcmp(v, "64m") == 0, "its value in config-file form: %s", v ? v : "(null)");
    free(v);
    v = hutch_policy_get(p, "backend");
    CHECK(v && strcmp(v, "native") == 0, "a string comes bare: %s", v ? v : "(null)");
    free(v);
    CHECK(hutch_policy_get(p, "no.such.key") == NULL, "an unknown key has no value");
    CHECK(hutch_policy_set_flag(p, "memory", "lots", &err) < 0 && strstr(err.message, "--memory"),
          "a bad flag value names the flag: %s", err.message);
    CHECK(hutch_policy_set_origin(p, "/etc/x.json", "{}", &err) < 0,
          "an origin's settings must be a JSON array");
    CHECK(hutch_policy_set_origin(p, "/etc/x.json", "[]", &err) == 0, "a JSON array is kept");
    hutch_tool_options opts;
    hutch_tool_options_init(&opts);
    CHECK(opts.content_fd == -1 && opts.cancel_fd == -1, "tool options default to no fds");
    hutch_policy_free(p);
}

/* The calls of images, skills and checks: what they refuse before any
 * engine is asked. */
static void images_and_skills(void)
{
    hutch_policy *p = hutch_policy_new();
    hutch_error err;
    const char *names[] = {"a", NULL};
    CHECK(hutch_doctor(NULL, &err) < 0 && hutch_image_list(p, 0, NULL, &err) < 0 &&
              hutch_image_remove(p, names, NULL, &err) < 0 &&
              hutch_image_prune(p, NULL, 0, NULL, &err) < 0 &&
              hutch_skill_build(p, ".", NULL, 0, -1, NULL, &err) < 0 &&
              hutch_skill_run(p, "img", "act", NULL, -1, NULL, &err) < 0 &&
              err.status == HUTCH_E_INVALID,
          "a missing place for a JSON answer is an error, not a crash: %s", err.message);
    char *json = (char *)"untouched";
    CHECK(hutch_skill_run(p, NULL, "act", NULL, -1, &json, &err) < 0 && json == NULL &&
              err.status == HUTCH_E_INVALID,
          "a failed call leaves no answer to free: %s", err.message);
    CHECK(hutch_skill_run(p, "img", "act", "{nope", -1, &json, &err) < 0 &&
              strstr(err.message, "not JSON"),
          "arguments that are not JSON are refused: %s", err.message);
    hutch_error e2;
    CHECK(hutch_policy_set(p, "docker.container", "box", &e2) == 0 &&
              hutch_skill_run(p, "img", "act", "{}", -1, &json, &err) < 0 &&
              strstr(err.message, "docker.container"),
          "a skill does not run in an adopted container: %s", err.message);
    const char *bad[] = {"ok", "\xff", NULL};
    CHECK(hutch_image_remove(p, bad, &json, &err) < 0 && strstr(err.message, "UTF-8"),
          "image names must be text for the answer: %s", err.message);
    CHECK(hutch_image_build(p, ".", NULL, NULL, 0, -1, &err) < 0 &&
              err.status == HUTCH_E_INVALID,
          "a build needs a tag: %s", err.message);
    CHECK(HUTCH_BUILD_NO_CACHE == 1 && HUTCH_BUILD_QUIET == 2, "the build flags keep their values");
    CHECK(hutch_image_prune(p, NULL, 2, &json, &err) < 0 && json == NULL &&
              err.status == HUTCH_E_INVALID && strstr(err.message, "HUTCH_PRUNE_DRY_RUN"),
          "a prune flag this library does not know is refused: %s", err.message);
    CHECK(HUTCH_PRUNE_DRY_RUN == 1, "the prune flag keeps its value");
    hutch_policy_free(p);
}

int main(void)
{
    first_version_caller();
    policy_keys();
    too_small();
    newer_caller();
    same_version();
    images_and_skills();
    return tap_done();
}
