#include <stdlib.h>

#include "cli/cli.h"
#include "policy/fields.h"
#include "policy/policy.h"
#include "tap.h"

static int parse(struct run_args *ra, hutch_error *err, int argc, char **argv)
{
    memset(ra, 0, sizeof *ra);
    hutch_error_clear(err);
    return run_args_parse(argc, argv, ra, err);
}

int main(void)
{
    struct run_args ra;
    hutch_error err;
    setenv("XDG_CONFIG_HOME", "/nonexistent-hutch-test", 1);

    char *a1[] = {"run", "--json", "--memory", "1g", "--", "echo", "--json", NULL};
    CHECK(parse(&ra, &err, 7, a1) == 1, "run with -- parses");
    CHECK(ra.json && ra.command && strcmp(ra.command[0], "echo") == 0 &&
              strcmp(ra.command[1], "--json") == 0,
          "options after -- belong to the command");
    CHECK(ra.policy.len == 1, "one policy option collected");
    hutch_policy *p = policy_args_build(&ra.policy, &err);
    CHECK(p && p->limits.memory == 1073741824, "--memory 1g applied");
    hutch_policy_free(p);
    policy_args_free(&ra.policy);

    char *a2[] = {"run", "--timeout=5", "ls", "-l", NULL};
    CHECK(parse(&ra, &err, 4, a2) == 1 && strcmp(ra.command[0], "ls") == 0 &&
              strcmp(ra.command[1], "-l") == 0,
          "the first non-option starts the command; --x=v form");
    p = policy_args_build(&ra.policy, &err);
    CHECK(p && p->limits.timeout_ms == 5000, "--timeout=5 is 5 seconds");
    hutch_policy_free(p);
    policy_args_free(&ra.policy);

    char *a3[] = {"run", "--bogus", "x", NULL};
    CHECK(parse(&ra, &err, 3, a3) < 0, "unknown option refused");
    CHECK_STR(err.message, "unknown option --bogus (put the command after --, or see 'hutch help run')",
              "unknown option message");
    policy_args_free(&ra.policy);

    char *a4[] = {"run", "--memory", NULL};
    CHECK(parse(&ra, &err, 2, a4) < 0, "missing value refused");
    CHECK_STR(err.message, "--memory needs a value", "missing value message");
    policy_args_free(&ra.policy);

    char *a5[] = {"run", "--json", NULL};
    CHECK(parse(&ra, &err, 2, a5) < 0, "no command refused");
    CHECK_CONTAINS(err.message, "nothing to run", "no command message");
    policy_args_free(&ra.policy);

    char *a6[] = {"run", "-c", "echo $1", "--", "zero", "one", NULL};
    CHECK(parse(&ra, &err, 6, a6) == 1 && strcmp(ra.shell, "echo $1") == 0 &&
              strcmp(ra.command[0], "zero") == 0,
          "-c with arguments after --");
    policy_args_free(&ra.policy);

    char *a7[] = {"run", "--read-only-root=maybe", "true", NULL};
    CHECK(parse(&ra, &err, 3, a7) < 0, "bool flag with a bad inline value refused");
    policy_args_free(&ra.policy);

    char *a8[] = {"run", "--memory", "12q", "true", NULL};
    CHECK(parse(&ra, &err, 4, a8) == 1, "values are checked when applied");
    p = policy_args_build(&ra.policy, &err);
    CHECK(p == NULL, "bad size refused when building the policy");
    CHECK_STR(err.message, "--memory: \"12q\" is not a size like 512m", "flag error names the flag");
    policy_args_free(&ra.policy);

    char *a9[] = {"run", "--config", "/nonexistent/hutch.json", "true", NULL};
    CHECK(parse(&ra, &err, 4, a9) == 1, "--config parses");
    p = policy_args_build(&ra.policy, &err);
    CHECK(p == NULL, "missing --config file refused");
    CHECK_STR(err.message, "cannot read config file /nonexistent/hutch.json: No such file or directory",
              "missing config message");
    policy_args_free(&ra.policy);

    char *a10[] = {"run", "--net", "allow:Example.com", "--env", "A=b c", "--ro", "/opt:/o", "true", NULL};
    CHECK(parse(&ra, &err, 8, a10) == 1, "list and net flags parse");
    p = policy_args_build(&ra.policy, &err);
    CHECK(p && p->network.mode == NET_ALLOW &&
              strcmp(p->network.allowed_domains.items[0], "example.com") == 0,
          "--net allow:DOMAIN");
    CHECK(p && strcmp(p->env.items[0], "A=b c") == 0, "--env keeps spaces");
    CHECK(p && strcmp(p->filesystem.read_only.items[0], "/opt:/o") == 0, "--ro SRC:DST");
    hutch_policy_free(p);
    policy_args_free(&ra.policy);

    char name[64];
    const char *value;
    CHECK(split_long_option("--a=b=c", name, sizeof name, &value) && strcmp(name, "a") == 0 &&
              strcmp(value, "b=c") == 0,
          "split at the first =");
    CHECK(!split_long_option("-c", name, sizeof name, &value), "short options are not long");
    CHECK(!split_long_option("--", name, sizeof name, &value), "-- is not an option");
    return tap_done();
}
