/* approval.require: its entries, the matcher, command lines, and the
 * library's handler (approve, refuse, none) for hutch_run, session
 * commands and tool calls. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "policy/approval_rules.h"
#include "tap.h"

static hutch_policy *with(const char *const *entries)
{
    hutch_policy *p = hutch_policy_new();
    hutch_error err;
    for (size_t i = 0; entries[i]; i++)
        if (hutch_policy_set(p, "approval.require", entries[i], &err) < 0)
            printf("# %s\n", err.message);
    return p;
}

static void entries(void)
{
    const char *good[] = {"bash", "*", "command:git push*", "browser", "my_tool.v2", NULL};
    hutch_policy *p = with(good);
    CHECK(p->approval.require.len == 5, "tool names, * and command:GLOB are entries");
    hutch_policy_free(p);
    const char *bad[] = {"", "command:", "cmd x", "a/b", "cmd:x y", NULL};
    for (size_t i = 0; bad[i]; i++) {
        p = hutch_policy_new();
        hutch_error err;
        CHECK(hutch_policy_set(p, "approval.require", bad[i], &err) < 0 &&
                  strstr(err.message, "command:GLOB"),
              "\"%s\" is refused, naming the forms: %s", bad[i], err.message);
        hutch_policy_free(p);
    }
    hutch_error err;
    p = hutch_policy_new();
    const char *file = "{\"sandbox\": {\"approval\": {\"require\": [\"*\", \"command:rm *\"]}}}";
    CHECK(hutch_policy_load_json(p, file, strlen(file), "t.json", &err) == 0 &&
              p->approval.require.len == 2,
          "the config file's approval.require (%s)", err.message);
    hutch_key_info const *k = hutch_policy_key_by_flag("require-approval");
    CHECK(k && strcmp(k->key, "approval.require") == 0 && k->per_run,
          "--require-approval sets approval.require, a per-run key");
    hutch_policy_free(p);
}

static void matching(void)
{
    const char *list[] = {"read", "command:git push*", "command:*rm -rf*", NULL};
    hutch_policy *p = with(list);
    CHECK_STR(approval_rule(p, "read", NULL), "read", "a tool by its name");
    CHECK(approval_rule(p, "write", NULL) == NULL, "a tool not named is not asked about");
    CHECK_STR(approval_rule(p, NULL, "git push origin main"), "command:git push*",
              "a command by a pattern");
    CHECK_STR(approval_rule(p, "bash", "git push"), "command:git push*",
              "bash's command by a pattern");
    CHECK(approval_rule(p, "bash", "git pull") == NULL, "a command no pattern matches");
    CHECK_STR(approval_rule(p, NULL, "cd /tmp && rm -rf /home/x\necho done"), "command:*rm -rf*",
              "* matches / and newlines");
    CHECK(approval_rule(p, NULL, "GIT PUSH") == NULL, "patterns are case-sensitive");
    hutch_policy_free(p);

    const char *star[] = {"*", NULL};
    p = with(star);
    CHECK_STR(approval_rule(p, "browser", NULL), "*", "* is every tool, a harness's too");
    CHECK(approval_rule(p, NULL, "ls") == NULL, "* is not every command");
    CHECK(hutch_approval_required(p, "canvas", NULL) == 1 &&
              hutch_approval_required(p, NULL, "ls") == 0,
          "hutch_approval_required answers for a harness's tools");
    hutch_policy_free(p);

    const char *all[] = {"command:*", NULL};
    p = with(all);
    CHECK(approval_rule(p, "bash", "true") && approval_rule(p, NULL, "") &&
              !approval_rule(p, "read", NULL),
          "command:* is every command, bash's too, and no other tool");
    hutch_policy_free(p);
    CHECK(hutch_approval_required(NULL, "bash", NULL) == 0, "no policy: nothing to ask");
}

static void command_lines(void)
{
    hutch_command cmd;
    hutch_command_init(&cmd);
    const char *argv[] = {"echo", "hi there", "it's", "", "a/b-c=1,2", "$HOME", NULL};
    cmd.argv = argv;
    char *line = approval_command_line(&cmd);
    CHECK_STR(line, "echo 'hi there' 'it'\\''s' '' a/b-c=1,2 '$HOME'",
              "argv as a shell line, quoted where sh needs it");
    free(line);
    const char *args[] = {"x", "y z", NULL};
    cmd.shell = "rm -rf \"$1\"";
    cmd.argv = args;
    line = approval_command_line(&cmd);
    CHECK_STR(line, "rm -rf \"$1\" x 'y z'", "a shell command as it is, its arguments quoted");
    free(line);
}

/* ---- the handler --------------------------------------------------------------- */

struct seen {
    int calls;
    int answer;
    const char *reason;
    hutch_approval_request req;
    char tool[32], command[256], session[64], rule[64], args[256];
};

static void keep(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "(null)");
}

static int handler(const hutch_approval_request *req, char *reason, size_t len, void *ctx)
{
    struct seen *s = ctx;
    s->calls++;
    s->req = *req;
    keep(s->tool, sizeof s->tool, req->tool);
    keep(s->command, sizeof s->command, req->command);
    keep(s->session, sizeof s->session, req->session);
    keep(s->rule, sizeof s->rule, req->rule);
    keep(s->args, sizeof s->args, req->args_json);
    if (s->reason)
        snprintf(reason, len, "%s", s->reason);
    return s->answer;
}

static int run_echo(hutch_policy *p, hutch_result *r, hutch_error *err)
{
    const char *argv[] = {"sh", "-c", "echo hi", NULL};
    hutch_command cmd;
    hutch_command_init(&cmd);
    cmd.argv = argv;
    return hutch_run(p, &cmd, r, err);
}

static void library_handler(void)
{
    const char *all[] = {"command:*", NULL};
    hutch_policy *p = with(all);
    hutch_error err;
    hutch_policy_set(p, "backend", "spawn", &err);
    hutch_result r;

    hutch_set_approval_handler(NULL, NULL);
    CHECK(run_echo(p, &r, &err) < 0 && err.status == HUTCH_E_NOT_APPROVED &&
              strstr(err.message, "not approved: ") == err.message &&
              strstr(err.message, "hutch_set_approval_handler") &&
              strstr(err.message, "approval.require"),
          "no handler: refused, saying how to approve: %s", err.message);

    struct seen s = {.answer = HUTCH_REFUSE, .reason = "not now\nor ever"};
    hutch_set_approval_handler(handler, &s);
    CHECK(run_echo(p, &r, &err) < 0 && err.status == HUTCH_E_NOT_APPROVED &&
              strcmp(err.message, "not approved: not now or ever") == 0,
          "refused: the handler's reason, on one line: %s", err.message);
    CHECK(s.calls == 1 && s.req.size == sizeof(hutch_approval_request) &&
              s.req.kind == HUTCH_APPROVAL_COMMAND && strcmp(s.command, "sh -c 'echo hi'") == 0 &&
              strcmp(s.tool, "(null)") == 0 && strcmp(s.session, "(null)") == 0 &&
              strcmp(s.rule, "command:*") == 0,
          "the request: a command, its line, no session, the entry (%s, %s)", s.command, s.rule);

    s.reason = NULL;
    CHECK(run_echo(p, &r, &err) < 0 && strcmp(err.message, "not approved: the approval handler "
                                                           "refused it") == 0,
          "refused without a reason: %s", err.message);
    s.answer = 2;
    CHECK(run_echo(p, &r, &err) < 0 && err.status == HUTCH_E_NOT_APPROVED,
          "any answer but HUTCH_APPROVE refuses");

    s.answer = HUTCH_APPROVE;
    int rc = run_echo(p, &r, &err);
    CHECK(rc == 0 && r.exit_code == 0 && r.out.data && strcmp(r.out.data, "hi\n") == 0,
          "approved: the command runs (%s)", rc < 0 ? err.message : "ran");
    if (rc == 0)
        hutch_result_free(&r);

    const char *other[] = {"command:rm *", NULL};
    hutch_policy *q = with(other);
    hutch_policy_set(q, "backend", "spawn", &err);
    s.calls = 0;
    s.answer = HUTCH_REFUSE;
    rc = run_echo(q, &r, &err);
    CHECK(rc == 0 && s.calls == 0, "a command no entry names is not asked about");
    if (rc == 0)
        hutch_result_free(&r);
    hutch_policy_free(q);
    hutch_policy_free(p);
    hutch_set_approval_handler(NULL, NULL);
}

/* Sessions: refused before anything is made. */
static void session_calls(const char *state)
{
    const char *list[] = {"bash", "command:*", NULL};
    hutch_policy *p = with(list);
    hutch_error err;
    struct seen s = {.answer = HUTCH_REFUSE, .reason = "no"};
    hutch_set_approval_handler(handler, &s);

    char *json = NULL;
    int rc = hutch_tool_call(p, "appr", "bash", "{\"command\": \"rm -rf /x\"}", &json, &err);
    CHECK(rc == 0 && json && strstr(json, "\"ok\":false") &&
              strstr(json, "\"error\":\"not approved: no\""),
          "a refused tool call is an ordinary refused result: %s", json ? json : err.message);
    free(json);
    CHECK(s.req.kind == HUTCH_APPROVAL_TOOL && strcmp(s.tool, "bash") == 0 &&
              strcmp(s.command, "rm -rf /x") == 0 && strcmp(s.session, "appr") == 0 &&
              strcmp(s.args, "{\"command\":\"rm -rf /x\"}") == 0 && strcmp(s.rule, "bash") == 0,
          "the request: the tool, its arguments, bash's command, the session (%s)", s.args);

    json = NULL;
    rc = hutch_tool_call(p, "appr", "bash", "{\"command\": 7}", &json, &err);
    CHECK(rc == 0 && json && strstr(json, "must be a string") && s.calls == 1,
          "bad arguments are refused before anyone is asked: %s", json ? json : err.message);
    free(json);

    const char *argv[] = {"true", NULL};
    hutch_command cmd;
    hutch_command_init(&cmd);
    cmd.argv = argv;
    hutch_result r;
    CHECK(hutch_session_exec(p, "appr", &cmd, &r, &err) < 0 &&
              err.status == HUTCH_E_NOT_APPROVED && strcmp(err.message, "not approved: no") == 0,
          "a refused session command: %s", err.message);
    CHECK(s.req.kind == HUTCH_APPROVAL_COMMAND && strcmp(s.command, "true") == 0 &&
              strcmp(s.session, "appr") == 0,
          "the request names the session");

    char *path = NULL;
    struct stat st;
    CHECK(hutch_session_audit_path("appr", 0, &path, &err) == 0 && path &&
              stat(path, &st) < 0 && errno == ENOENT,
          "no session was made for refused calls (under %s)", state);
    free(path);
    hutch_policy_free(p);
    hutch_set_approval_handler(NULL, NULL);
}

int main(void)
{
    char state[] = "/tmp/hutch-test-approval-XXXXXX";
    if (!mkdtemp(state))
        return 1;
    setenv("HUTCH_STATE_DIR", state, 1);
    entries();
    matching();
    command_lines();
    library_handler();
    session_calls(state);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", state);
    if (system(rm) != 0)
        printf("# could not remove %s\n", state);
    return tap_done();
}
