#include <stdlib.h>

#include "policy/fields.h"
#include "hutch.h"
#include "policy/policy.h"
#include "tap.h"

static hutch_error err;

static hutch_policy *load(const char *json)
{
    hutch_policy *p = hutch_policy_new();
    hutch_error_clear(&err);
    if (hutch_policy_load_json(p, json, strlen(json), "t.json", &err) < 0) {
        hutch_policy_free(p);
        return NULL;
    }
    return p;
}

static void load_fails(const char *json, const char *message, const char *what)
{
    hutch_policy *p = load(json);
    CHECK(p == NULL, "%s: refused", what);
    CHECK_STR(err.message, message, "%s: message", what);
    CHECK(err.status == HUTCH_E_INVALID, "%s: status is HUTCH_E_INVALID", what);
    hutch_policy_free(p);
}

static const char *design_example =
    "{\"sandbox\": {\"backend\": \"docker\", \"mode\": \"non-main\", \"mainSession\": \"main\","
    " \"perSession\": true, \"workspaceRoot\": \"~/.local/share/hutch/workspaces\","
    " \"fallback\": \"none\","
    " \"limits\": {\"memory\": \"512m\", \"cpus\": 1.0, \"pids\": 256,"
    "   \"timeoutSeconds\": 1800, \"outputBytes\": 51200},"
    " \"network\": {\"mode\": \"none\", \"allowedDomains\": [], \"deniedDomains\": []},"
    " \"filesystem\": {\"denyRead\": [\"~/.ssh\", \"~/.aws\"], \"allowWrite\": [],"
    "   \"denyWrite\": [], \"readOnly\": []},"
    " \"docker\": {\"image\": \"hutch-sandbox:bookworm-slim\", \"containerPrefix\": \"hutch-sbx-\","
    "   \"workdir\": \"/workspace\", \"readOnlyRoot\": true, \"tmpfs\": [\"/tmp\", \"/var/tmp\", \"/run\"],"
    "   \"network\": \"none\", \"user\": \"1000:1000\", \"capDrop\": [\"ALL\"],"
    "   \"env\": {\"LANG\": \"C.UTF-8\"}, \"setupCommand\": \"\", \"runtime\": \"\", \"host\": \"\"},"
    " \"tools\": {\"allow\": [\"bash\", \"process\", \"read\", \"write\", \"edit\"],"
    "   \"deny\": [\"browser\", \"canvas\", \"nodes\", \"cron\", \"discord\", \"gateway\"]},"
    " \"prune\": {\"idleHours\": 24, \"maxAgeDays\": 7}}}";

static void test_design_example(void)
{
    setenv("HOME", "/home/tester", 1);
    hutch_policy *p = load(design_example);
    CHECK(p != NULL, "the DESIGN.md example loads (%s)", err.message);
    if (!p)
        return;
    CHECK(p->backend == BACKEND_DOCKER, "backend docker");
    CHECK(p->mode == MODE_NON_MAIN, "mode non-main");
    CHECK(p->limits.memory == 512u * 1024 * 1024, "memory 512m");
    CHECK(p->limits.cpus == 1.0, "cpus 1");
    CHECK(p->limits.pids == 256, "pids 256");
    CHECK(p->limits.timeout_ms == 1800000, "timeout 1800 s");
    CHECK(p->limits.output_bytes == 51200, "outputBytes 51200");
    CHECK(p->filesystem.deny_read.len == 2, "two denyRead paths");
    CHECK_STR(p->filesystem.deny_read.items[0], "/home/tester/.ssh", "~ is expanded");
    CHECK_STR(p->workspace_root, "/home/tester/.local/share/hutch/workspaces", "workspaceRoot");
    CHECK(p->docker.runtime == NULL, "empty runtime means none");
    CHECK_STR(p->docker.network, "none", "docker.network");
    CHECK(p->tools.deny.len == 6, "six denied tools");
    CHECK(p->set[F_LIMIT_MEMORY] && !p->set[F_LIMIT_FILE_SIZE], "explicit keys are tracked");

    /* The effective config loads back to the same document. */
    char *once = hutch_policy_to_json(p);
    hutch_policy *q = load(once);
    CHECK(q != NULL, "to_json output loads back (%s)", err.message);
    char *twice = q ? hutch_policy_to_json(q) : NULL;
    CHECK_STR(twice, once, "to_json round-trips");
    free(once);
    free(twice);
    hutch_policy_free(q);
    hutch_policy_free(p);
}

static void test_errors(void)
{
    load_fails("{\"sandbox\": {\"limits\": {\"memory\": \"12q\"}}}",
               "t.json: sandbox.limits.memory: \"12q\" is not a size like 512m", "bad size");
    load_fails("{\"sandbox\": {\"limits\": {\"memroy\": 1}}}",
               "t.json: sandbox.limits.memroy: unknown key (known keys here: memory, cpus, pids, "
               "timeoutSeconds, outputBytes, fileSize, disk, files, rlimitFallback)",
               "misspelt key");
    load_fails("{\"sandbox\": {\"colour\": 1}}",
               "t.json: sandbox.colour: unknown key (known keys here: backend, fallback, fallbackKeep, mode, "
               "mainSession, perSession, workspaceRoot, setupCommand, autoCreate, workspace, workdir, "
               "user, allowRootUser, env, "
               "inheritEnv, limits, network, filesystem, docker, tools, approval, prune)",
               "unknown top key");
    load_fails("{\"sandbox\": {\"perSession\": \"yes\"}}",
               "t.json: sandbox.perSession: \"yes\" is not true or false", "bool as string");
    load_fails("{\"sandbox\": {\"tools\": {\"allow\": [\"bash\", 1]}}}",
               "t.json: sandbox.tools.allow[1]: 1 is not a tool name like bash", "list item type");
    load_fails("{\"sandbox\": {\"tools\": {\"allow\": \"bash\"}}}",
               "t.json: sandbox.tools.allow: \"bash\" is not a list of strings", "list as string");
    load_fails("{\"sandbox\": {\"limits\": 5}}",
               "t.json: sandbox.limits: expected an object with keys among: memory, cpus, pids, "
               "timeoutSeconds, outputBytes, fileSize, disk, files, rlimitFallback",
               "group as number");
    load_fails("{\"sandbox\": {\"backend\": \"vm\"}}",
               "t.json: sandbox.backend: \"vm\" is not one of host, spawn, native, docker",
               "bad enum");
    load_fails("{\"sandbox\": {\"limits\": {\"pids\": -3}}}",
               "t.json: sandbox.limits.pids: -3 is not a whole number like 256", "negative count");
    load_fails("{\"sandbox\": {\"limits\": {\"cpus\": 2000}}}",
               "t.json: sandbox.limits.cpus: 2000 is not a CPU count like 0.5 or 2", "too many cpus");
    load_fails("{\"sandbox\": {\"limits\": {\"timeoutSeconds\": \"soon\"}}}",
               "t.json: sandbox.limits.timeoutSeconds: \"soon\" is not a duration like 30s, 500ms "
               "or 5m",
               "bad duration");
    load_fails("{\"sandbox\": {\"env\": {\"1X\": \"v\"}}}",
               "t.json: sandbox.env: \"1X\" is not NAME=VALUE with NAME made of letters, digits "
               "and _",
               "bad env name");
    load_fails("{\"sandbox\": {\"env\": {\"X\": \"a\\u0000b\"}}}",
               "t.json: sandbox.env.X: \"a\\x00b\" is not a string without NUL bytes",
               "NUL in a JSON string");
    load_fails("{\"sandbox\": {\"docker\": {\"network\": \"container:abc\"}}}",
               "t.json: sandbox.docker.network: \"container:abc\" is not none, bridge, host or a "
               "network name",
               "joining another container's network");
    load_fails("{\"sandbox\": {\"network\": {\"mode\": \"none\", \"allowedDomains\": [\"a.com\"]}}}",
               "t.json: network.allowedDomains is set but network.mode is \"none\": use mode "
               "\"allow\" (flag: --net allow:DOMAIN[,DOMAIN...]) or drop the domains",
               "allowlist with mode none");
    load_fails("{\"sandbox\": {\"network\": {\"mode\": \"allow\"}}}",
               "t.json: network.mode is \"allow\" but network.allowedDomains is empty: list the "
               "domains, or use mode \"none\"",
               "mode allow without domains");
    load_fails("{\"sandbox\": {\"network\": {\"allowedDomains\": [\"*.com\"]}}}",
               "t.json: sandbox.network.allowedDomains[0]: \"*.com\" is not a domain like "
               "example.com or *.example.com",
               "wildcard top-level domain");
    load_fails("{\"sandbox\": {\"network\": {\"allowedDomains\": [\"10.0.0.1\"]}}}",
               "t.json: sandbox.network.allowedDomains[0]: \"10.0.0.1\" is not a domain like "
               "example.com or *.example.com",
               "IP literal as domain");
    load_fails("{\"sandbox\": {\"filesystem\": {\"readOnly\": [\"/src:relative\"]}}}",
               "t.json: sandbox.filesystem.readOnly[0]: \"/src:relative\" is not a mount like "
               "/opt/tools, /opt/tools:/tools or /opt/tools:/tools:ro",
               "relative mount destination");
    load_fails("{\"sandbox\": {\"limits\": {}, \"limits\": {}}}",
               "t.json:1:28: invalid JSON5: the key \"limits\" appears twice in this object",
               "duplicate key");
    load_fails("{\"sandbox\": {",
               "t.json:1:14: invalid JSON5: expected a key or '}', found the end of the file",
               "truncated JSON");
    load_fails("[1]", "t.json: the top level must be an object like {\"sandbox\": {...}}",
               "array at the top");
    load_fails("{\"sandbx\": {}}",
               "t.json: sandbx: unknown top-level key: expected {\"sandbox\": {...}} (see hutch-config(5))",
               "misspelt top-level key");
    load_fails("{\"sandbox\": {}, \"extra\": 1}",
               "t.json: extra: unknown top-level key (hutch reads only \"sandbox\")",
               "extra top-level key");
}

static void test_normalization(void)
{
    setenv("HOME", "/home/tester", 1);
    hutch_policy *p = load("{\"sandbox\": {\"network\": {\"allowedDomains\": [\"Example.COM.\","
                           " \"*.npmjs.org\"]}, \"filesystem\": {\"readOnly\": "
                           "[\"~/data:/data\", \"/a/./b/../c\"], \"tmpfs\": [\"/scratch:size=64m\"]},"
                           " \"limits\": {\"timeoutSeconds\": 1.5, \"outputBytes\": \"64k\"}}}");
    CHECK(p != NULL, "normalization sample loads (%s)", err.message);
    if (!p)
        return;
    CHECK(p->network.mode == NET_ALLOW, "an allowlist without a mode means mode allow");
    CHECK_STR(p->network.allowed_domains.items[0], "example.com", "domain lower-cased, dot dropped");
    CHECK_STR(p->network.allowed_domains.items[1], "*.npmjs.org", "wildcard kept");
    CHECK_STR(p->filesystem.read_only.items[0], "/home/tester/data:/data", "mount with ~ and DST");
    CHECK_STR(p->filesystem.read_only.items[1], "/a/c", "lexical . and ..");
    CHECK_STR(p->filesystem.tmpfs.items[0], "/scratch:size=64m", "tmpfs options kept");
    CHECK(p->limits.timeout_ms == 1500, "fractional timeoutSeconds");
    CHECK(p->limits.output_bytes == 65536, "outputBytes as a size string");
    hutch_policy_free(p);
}

static void test_gateway_shape(void)
{
    hutch_policy *p = load("{\"agent\": {\"model\": \"some-model\", \"sandbox\": {\"mode\": "
                           "\"non-main\", \"perSession\": false, \"docker\": {\"pidsLimit\": 64,"
                           " \"memory\": \"1g\", \"cpus\": 0.5, \"binds\": [\"/srv/a:/a:ro\","
                           " \"/srv/b:/b\"]}}}, \"channels\": {\"slack\": {}}}");
    CHECK(p != NULL, "gateway shape loads (%s)", err.message);
    if (!p)
        return;
    CHECK(p->mode == MODE_NON_MAIN, "gateway: mode");
    CHECK(!p->per_session, "gateway: perSession");
    CHECK(p->limits.pids == 64, "gateway: docker.pidsLimit -> limits.pids");
    CHECK(p->limits.memory == 1073741824, "gateway: docker.memory -> limits.memory");
    CHECK(p->limits.cpus == 0.5, "gateway: docker.cpus -> limits.cpus");
    CHECK(p->filesystem.read_only.len == 1 && p->filesystem.allow_write.len == 1,
          "gateway: binds become read-only and read-write mounts");
    hutch_policy_free(p);

    p = load("{\"agents\": {\"defaults\": {\"sandbox\": {\"scope\": \"session\"}}}}");
    CHECK(p && p->per_session, "gateway: agents.defaults.sandbox with scope session");
    hutch_policy_free(p);

    load_fails("{\"agent\": {\"sandbox\": {\"docker\": {\"imgae\": \"x\"}}}}",
               "t.json: agent.sandbox.docker.imgae: unknown key (known keys here: image, "
               "containerPrefix, container, workdir, readOnlyRoot, tmpfs, network, user, "
               "capDrop, env, setupCommand, runtime, host)",
               "gateway: unknown keys inside the sandbox section are errors");
}

static void test_runtime_settings_shape(void)
{
    setenv("HOME", "/home/tester", 1);
    hutch_policy *p = load("{\"network\": {\"allowedDomains\": [\"github.com\", \"*.npmjs.org\"],"
                           " \"deniedDomains\": [\"evil.github.com\"], \"allowLocalBinding\": true},"
                           " \"filesystem\": {\"denyRead\": [\"~/.ssh\"], \"allowWrite\": [\"/tmp\"],"
                           " \"denyWrite\": [\"/tmp/keep\"]}, \"enableWeakerNestedSandbox\": false}");
    CHECK(p != NULL, "runtime settings shape loads (%s)", err.message);
    if (!p)
        return;
    CHECK(p->network.mode == NET_ALLOW && p->network.allowed_domains.len == 2,
          "runtime: allowedDomains become an allowlist");
    CHECK(p->network.denied_domains.len == 1, "runtime: deniedDomains");
    CHECK_STR(p->filesystem.deny_read.items[0], "/home/tester/.ssh", "runtime: denyRead");
    CHECK_STR(p->filesystem.allow_write.items[0], "/tmp", "runtime: allowWrite");
    CHECK(hutch_policy_warning_count(p) == 2, "runtime: ignored settings are warnings");
    CHECK_CONTAINS(hutch_policy_warning(p, 0), "network.allowLocalBinding is ignored",
                   "runtime: warning names the key");
    hutch_policy_free(p);

    p = load("{\"network\": {\"allowedDomains\": []}, \"filesystem\": {\"denyRead\": []}}");
    CHECK(p && p->network.mode == NET_NONE, "runtime: an empty allowlist means no network");
    hutch_policy_free(p);

    load_fails("{\"network\": {\"allowedDomain\": []}}",
               "t.json: network.allowedDomain: unknown key (known keys here: allowedDomains, "
               "deniedDomains, deniedResolvedAddresses, deniedDomainReasons, allowUnixSockets, "
               "allowAllUnixSockets, allowLocalBinding, allowMachLookup, httpProxyPort, "
               "socksProxyPort, mitmProxy, parentProxy, tlsTerminate, strictAllowlist)",
               "runtime: misspelt key");
}

static void test_set(void)
{
    hutch_policy *p = hutch_policy_new();
    hutch_error_clear(&err);
    CHECK(hutch_policy_set(p, "limits.memory", "1g", &err) == 0 &&
              p->limits.memory == 1073741824,
          "set limits.memory");
    CHECK(hutch_policy_set(p, "sandbox.limits.pids", "12", &err) == 0 && p->limits.pids == 12,
          "set accepts the sandbox. prefix");
    CHECK(hutch_policy_set(p, "filesystem.denyRead", "/etc/shadow", &err) == 0 &&
              hutch_policy_set(p, "filesystem.denyRead", "/root", &err) == 0 &&
              p->filesystem.deny_read.len == 2,
          "set appends to lists");
    CHECK(hutch_policy_set(p, "env", "A=1=2", &err) == 0 &&
              strcmp(p->env.items[0], "A=1=2") == 0,
          "env value may contain =");
    CHECK(hutch_policy_set(p, "network.mode", "allow:a.example.com,B.example.org", &err) == 0 &&
              p->network.mode == NET_ALLOW && p->network.allowed_domains.len == 2,
          "network.mode allow:LIST");
    CHECK(hutch_policy_set(p, "network.mode", "none", &err) == 0 &&
              p->network.allowed_domains.len == 0,
          "network.mode none drops the allowlist");
    CHECK(hutch_policy_set(p, "network.mode", "allow", &err) < 0, "bare allow is refused");
    CHECK(hutch_policy_set(p, "limits.memroy", "1g", &err) < 0, "unknown key refused");
    CHECK_CONTAINS(err.message, "limits.memroy: unknown key (known keys: backend,",
                   "unknown key message lists the keys");
    CHECK(hutch_policy_set(p, "user", "1000:abc", &err) < 0, "non-numeric user refused");
    CHECK(hutch_policy_set(p, "docker.user", "1000:1000", &err) == 0 &&
              hutch_policy_set(p, "user", "1001", &err) == 0 && p->docker.user == NULL,
          "the general user overrides docker.user when set like a flag");
    CHECK(hutch_policy_validate(p, &err) == 0, "policy validates");
    hutch_policy_free(p);
}

static void test_json5_shapes(void)
{
    setenv("HOME", "/home/tester", 1);
    hutch_policy *p = load("{\n  agent: {\n    sandbox: {\n      mode: 'non-main', // comment\n"
                           "      docker: {image: 'gw:1', setupCommand: 'true',},\n"
                           "      tools: {deny: ['browser', 'canvas'],},\n    },\n  },\n}\n");
    CHECK(p != NULL, "gateway JSON5 loads (%s)", err.message);
    if (p) {
        CHECK(p->backend == BACKEND_DOCKER, "gateway: backend docker without saying so");
        CHECK_STR(p->docker.image, "gw:1", "gateway: the image");
        CHECK(hutch_tool_allowed(p, "bash") == 1 && hutch_tool_allowed(p, "browser") == 0,
              "gateway: deny list with the gateway's own tool names");
    }
    hutch_policy_free(p);
    p = load("{agents: {defaults: {sandbox: {backend: 'native'}}}}");
    CHECK(p && p->backend == BACKEND_NATIVE, "gateway: a backend the file names wins");
    hutch_policy_free(p);

    load_fails("{sandbox: {prune: {idleHours: Infinity}}}",
               "t.json:1:31: sandbox.prune.idleHours: Infinity is not a finite number, and no "
               "setting takes one",
               "Infinity in a setting");
    p = load("{agent: {model: {temperature: NaN}, sandbox: {mode: 'all'}}}");
    CHECK(p != NULL, "NaN outside the sandbox section is the gateway's business (%s)",
          err.message);
    hutch_policy_free(p);
    load_fails("{sandbox: {limits: {pids: 12,,}}}",
               "t.json:1:30: invalid JSON5: expected a key or '}' after ',', found ','",
               "two commas");
}

static void test_runtime_mappings(void)
{
    setenv("HOME", "/home/tester", 1);
    hutch_policy *p = load("{network: {allowedDomains: ['*'], deniedDomains: ['evil.com:22', "
                           "'127.0.0.1']}, filesystem: {denyRead: ['/srv/**'], "
                           "allowWrite: ['/srv/out/**', 'src/**/*.ts'], denyWrite: []}}");
    CHECK(p != NULL, "runtime: \"*\", ports, globs (%s)", err.message);
    if (p) {
        CHECK(p->network.mode == NET_ALLOW && p->network.allowed_domains.len == 1 &&
                  strcmp(p->network.allowed_domains.items[0], "*") == 0,
              "runtime: [\"*\"] is every name through the proxy");
        CHECK(p->network.denied_domains.len == 1 &&
                  strcmp(p->network.denied_domains.items[0], "evil.com") == 0,
              "runtime: a denied port denies the name on every port; a loopback literal drops");
        CHECK_STR(p->filesystem.deny_read.items[0], "/srv", "runtime: /** is the directory");
        CHECK(p->filesystem.allow_write.len == 1, "runtime: a writable glob is skipped");
        CHECK(hutch_policy_warning_count(p) == 3, "runtime: each change is a warning");
    }
    hutch_policy_free(p);
    load_fails("{network: {allowedDomains: ['api.example.com:443']}}",
               "t.json: network.allowedDomains[0]: \"api.example.com:443\" allows one port, which "
               "hutch's allowlist cannot say (it allows a name on every port): drop the port to "
               "allow them all",
               "runtime: an allowed port");
    load_fails("{network: {allowedDomains: ['[::1]:3000']}}",
               "t.json: network.allowedDomains[0]: \"[::1]:3000\" is an address: hutch's "
               "allowlist holds names (in hutch's own config, network.allowedAddresses lets the "
               "proxy reach an address a name resolves to)",
               "runtime: an allowed address");
    load_fails("{network: {allowedDomains: [], deniedResolvedAddresses: ['8.8.8.0/24']}}",
               "t.json: network.deniedResolvedAddresses[0]: \"8.8.8.0/24\": hutch's proxy refuses "
               "loopback, private, link-local and metadata addresses, and cannot refuse others: "
               "drop it, or deny the names that resolve there",
               "runtime: a public range to refuse");
    p = load("{network: {allowedDomains: [], deniedResolvedAddresses: ['10.0.0.0/8', "
             "'172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7']}}");
    CHECK(p != NULL, "runtime: the README's private ranges are refused anyway (%s)", err.message);
    hutch_policy_free(p);
    load_fails("{filesystem: {denyRead: ['**/.env']}}",
               "t.json: filesystem.denyRead[0]: \"**/.env\" is a glob: hutch denies the paths "
               "listed; list each file or directory",
               "runtime: a deny glob");
    p = load("{network: {allowedDomains: []}, credentials: {files: [{path: '~/.aws', mode: "
             "'mask'}], envVars: [{name: 'TOKEN', mode: 'deny'}]}}");
    CHECK(p && p->filesystem.deny_read.len == 1 &&
              strcmp(p->filesystem.deny_read.items[0], "/home/tester/.aws") == 0,
          "runtime: credential files are denied");
    hutch_policy_free(p);
}

static void test_executor_and_skill_shapes(void)
{
    hutch_policy *p = load("{\n  mode: 'docker',          // 'spawn' | 'docker' | 'none'\n"
                           "  timeout: 60000,          // milliseconds\n"
                           "  memoryLimit: 512,        // MiB\n  networkEnabled: false,\n"
                           "  workdir: '/workspace',\n  readOnlyRoot: true,\n}");
    CHECK(p != NULL, "executor options load (%s)", err.message);
    if (p) {
        CHECK(p->backend == BACKEND_DOCKER, "executor: mode docker");
        CHECK(p->limits.timeout_ms == 60000, "executor: timeout is milliseconds");
        CHECK(p->limits.memory == 512u * 1024 * 1024, "executor: memoryLimit is MiB");
        CHECK(p->network.mode == NET_NONE, "executor: networkEnabled false");
        CHECK_STR(p->docker.workdir, "/workspace", "executor: workdir");
    }
    hutch_policy_free(p);
    p = load("{mode: 'docker'}");
    CHECK(p && p->limits.memory == 256u * 1024 * 1024, "executor: docker's default 256 MiB");
    hutch_policy_free(p);
    p = load("{mode: 'none'}");
    CHECK(p && p->backend == BACKEND_HOST && hutch_policy_warning_count(p) == 1,
          "executor: mode none is the host, with a warning");
    hutch_policy_free(p);
    load_fails("{mode: 'docker', memoryLimit: 0.5}",
               "t.json: memoryLimit (MiB): 512k is too little memory for a sandbox to start (the "
               "least is 6m; 0 = no limit)",
               "executor: half a MiB");
    p = load("{mode: 'spawn', requireApproval: true}");
    CHECK(p && p->approval.require.len == 1 &&
              strcmp(p->approval.require.items[0], "command:*") == 0,
          "executor: requireApproval true asks about every command");
    hutch_policy_free(p);
    p = load("{mode: 'spawn', requireApproval: false}");
    CHECK(p && p->approval.require.len == 0, "executor: requireApproval false asks nothing");
    hutch_policy_free(p);
    load_fails("{mode: 'spawn', requireApproval: 'yes'}",
               "t.json: requireApproval: expected true or false", "executor: approval not a bool");

    p = load("{'cpu_limit': 0.5, 'memory_limit': '256m', 'network_mode': 'bridge'}");
    CHECK(p != NULL, "skill sandbox_config loads (%s)", err.message);
    if (p) {
        CHECK(p->backend == BACKEND_DOCKER && p->limits.cpus == 0.5 &&
                  p->limits.memory == 256u * 1024 * 1024 && p->network.mode == NET_BRIDGE,
              "skill: docker, 0.5 CPU, 256 MiB, bridge");
    }
    hutch_policy_free(p);
}

static void test_floors(void)
{
    load_fails("{\"sandbox\": {\"limits\": {\"memory\": 512}}}",
               "t.json: sandbox.limits.memory: 512 bytes is too little memory for a sandbox to "
               "start (the least is 6m; 0 = no limit): a bare number is bytes; for MiB write "
               "\"512m\"",
               "512 bytes of memory");
    load_fails("{\"sandbox\": {\"limits\": {\"pids\": 1}}}",
               "t.json: sandbox.limits.pids: 1 is too few processes for a sandbox (the least is "
               "2: its init and the command; 0 = no limit)",
               "one process");
    load_fails("{\"sandbox\": {\"limits\": {\"cpus\": 0.001}}}",
               "t.json: sandbox.limits.cpus: 0.001 is less CPU than a sandbox can be given (the "
               "least is 0.01; 0 = no limit)",
               "a thousandth of a CPU");
    hutch_policy *p = load("{\"sandbox\": {\"limits\": {\"memory\": 0, \"pids\": 0, \"cpus\": 0}}}");
    CHECK(p != NULL, "0 is no limit");
    hutch_policy_free(p);
}

static void test_sandbox_flag(void)
{
    struct {
        const char *value;
        int backend;
        const char *container;
    } cases[] = {
        {"none", BACKEND_HOST, NULL},     {"host", BACKEND_HOST, NULL},
        {"spawn", BACKEND_SPAWN, NULL},   {"native", BACKEND_NATIVE, NULL},
        {"docker", BACKEND_DOCKER, NULL}, {"docker:mom-sandbox", BACKEND_DOCKER, "mom-sandbox"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        hutch_policy *p = hutch_policy_new();
        hutch_error_clear(&err);
        int r = hutch_policy_set_flag(p, "sandbox", cases[i].value, &err);
        CHECK(r == 0 && p->backend == cases[i].backend &&
                  (cases[i].container ? p->docker.container &&
                                            strcmp(p->docker.container, cases[i].container) == 0
                                      : p->docker.container == NULL),
              "--sandbox %s", cases[i].value);
        if (strcmp(cases[i].value, "none") == 0)
            CHECK(hutch_policy_warning_count(p) == 1, "--sandbox none warns");
        hutch_policy_free(p);
    }
    hutch_policy *p = hutch_policy_new();
    hutch_error_clear(&err);
    CHECK(hutch_policy_set_flag(p, "sandbox", "mom-sandbox", &err) < 0, "--sandbox NAME refused");
    CHECK_STR(err.message,
              "--sandbox: \"mom-sandbox\" is not one of none (the host, unisolated), host, "
              "spawn, native, docker, or docker:NAME (an existing container to adopt)",
              "--sandbox NAME: the forms");
    hutch_policy_free(p);
}

int main(void)
{
    test_design_example();
    test_errors();
    test_normalization();
    test_gateway_shape();
    test_runtime_settings_shape();
    test_set();
    test_json5_shapes();
    test_runtime_mappings();
    test_executor_and_skill_shapes();
    test_floors();
    test_sandbox_flag();
    return tap_done();
}
