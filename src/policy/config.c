/* Loading config files into the policy. Files are JSON5 (base/json5.c), so
 * plain JSON too. These shapes are accepted (docs/config.md, docs/migrating.md):
 *   {"sandbox": {...}}                    hutch's own
 *   {"agent": {"sandbox": {...}}, ...}    chat-gateway agents with per-session
 *                                         docker sandboxes (or under
 *                                         agents.defaults); other keys are the
 *                                         gateway's own and are left alone
 *   {"network": {...}, "filesystem": {...}}  the settings file of the
 *                                         bubblewrap-based agent sandbox runtime
 *   {"mode": "docker", "timeout": 60000, ...}  a coding agent's executor options
 *   {"cpu_limit": 0.5, "memory_limit": "256m", ...}  a skill runner's sandbox_config
 * Every error names the file, the key path, the value and the expected form. */
#include <jansson.h>

#include <netinet/in.h>

#include "base/error.h"
#include "base/json5.h"
#include "net/rules.h"
#include "policy/approval_rules.h"
#include "policy/fields.h"
#include "policy/policy.h"

#define CONFIG_MAX_BYTES (1024 * 1024)

enum shape { SHAPE_HUTCH, SHAPE_GATEWAY, SHAPE_SANDBOX_RUNTIME, SHAPE_EXECUTOR, SHAPE_SKILL };

struct loader {
    struct hutch_policy *policy;
    enum shape shape;
    const char *origin;
    hutch_error *err;
    const struct json5_options *json5; /* Infinity and NaN the file holds */
    bool positioned; /* err already starts with origin:line:column */
};

static int fail_unknown(struct loader *ld, const char *where, const char *group)
{
    char known[1024];
    field_group_children(group, known, sizeof known);
    return error_set(ld->err, HUTCH_E_INVALID, "%s: unknown key (known keys here: %s)", where,
                     known);
}

/* Keys of the gateway shape that map onto hutch keys. */
static int load_gateway_alias(struct loader *ld, const char *key, json_t *value,
                              const char *where, bool *handled)
{
    static const struct {
        const char *alias;
        enum field_id id;
    } aliases[] = {
        {"docker.pidsLimit", F_LIMIT_PIDS},
        {"docker.memory", F_LIMIT_MEMORY},
        {"docker.cpus", F_LIMIT_CPUS},
    };
    *handled = true;
    for (size_t i = 0; i < ARRAY_SIZE(aliases); i++)
        if (strcmp(key, aliases[i].alias) == 0)
            return field_set_json(ld->policy, &fields[aliases[i].id], value, where, ld->err);

    if (strcmp(key, "scope") == 0) {
        const char *scope = json_string_value(value);
        if (!scope || (strcmp(scope, "session") != 0 && strcmp(scope, "agent") != 0 &&
                       strcmp(scope, "shared") != 0))
            return error_set(ld->err, HUTCH_E_INVALID,
                             "%s: expected one of session, agent, shared", where);
        ld->policy->per_session = strcmp(scope, "session") == 0;
        ld->policy->set[F_PER_SESSION] = true;
        return 0;
    }
    if (strcmp(key, "docker.binds") == 0) {
        if (!json_is_array(value))
            return error_set(ld->err, HUTCH_E_INVALID,
                             "%s: expected a list like [\"/src:/dst:ro\"]", where);
        size_t i;
        json_t *item;
        json_array_foreach(value, i, item) {
            char item_where[400];
            fmt_trunc(item_where, sizeof item_where, "%s[%zu]", where, i); /* for messages */
            const char *bind = json_string_value(item);
            if (!bind)
                return error_set(ld->err, HUTCH_E_INVALID,
                                 "%s: expected a string like \"/src:/dst:ro\"", item_where);
            size_t len = strlen(bind);
            bool read_only = len > 3 && strcmp(bind + len - 3, ":ro") == 0;
            bool read_write = len > 3 && strcmp(bind + len - 3, ":rw") == 0;
            autofree char *spec = strndup(bind, read_only || read_write ? len - 3 : len);
            if (!spec)
                return error_set(ld->err, HUTCH_E_SYSTEM, "out of memory");
            enum field_id id = read_only ? F_FS_READ_ONLY : F_FS_ALLOW_WRITE;
            if (field_set_text(ld->policy, &fields[id], spec, item_where, ld->err) < 0)
                return -1;
        }
        return 0;
    }
    *handled = false;
    return 0;
}

static int load_group(struct loader *ld, json_t *obj, const char *group, const char *shown)
{
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value) {
        /* The key is looked up: whole, or refused. where is for messages. */
        char full[256], where[320];
        if (!fmt_fits(full, sizeof full, "%s%s%s", group, *group ? "." : "", key))
            return error_set(ld->err, HUTCH_E_INVALID, "%s.%s%s%.64s...: unknown key (too long)",
                             shown, group, *group ? "." : "", key);
        fmt_trunc(where, sizeof where, "%s.%s", shown, full);

        const struct field *f = field_by_key(full);
        if (f) {
            if (field_set_json(ld->policy, f, value, where, ld->err) < 0)
                return -1;
            continue;
        }
        if (ld->shape == SHAPE_GATEWAY) {
            bool handled;
            if (load_gateway_alias(ld, full, value, where, &handled) < 0)
                return -1;
            if (handled)
                continue;
        }
        if (field_group_exists(full)) {
            if (!json_is_object(value)) {
                char known[512];
                field_group_children(full, known, sizeof known);
                return error_set(ld->err, HUTCH_E_INVALID,
                                 "%s: expected an object with keys among: %s", where, known);
            }
            if (load_group(ld, value, full, shown) < 0)
                return -1;
            continue;
        }
        return fail_unknown(ld, where, group);
    }
    return 0;
}

/* ---- the agent sandbox runtime's settings file ------------------------- */

/* How a key of that file is read. Each one either means the same in hutch,
 * or is accepted with a warning saying why hutch does not need it, and only
 * where ignoring it leaves the sandbox at least as strict
 * (docs/config.md lists them). */
enum runtime_map {
    RT_FIELD,       /* the hutch field as it is */
    RT_ALLOWED,     /* network.allowedDomains: names and "*" */
    RT_DENIED,      /* network.deniedDomains: names and "*"; a port widens to all */
    RT_RESOLVED,    /* network.deniedResolvedAddresses */
    RT_DENY_PATHS,  /* denyRead, denyWrite: a trailing slash-star-star dropped, other globs
                     * refused */
    RT_WRITABLE,    /* allowWrite: the same, other globs skipped, as the runtime does */
    RT_CREDENTIALS, /* credential files denied */
    RT_IGNORED,
};

struct runtime_key {
    const char *key;
    enum runtime_map map;
    int field;           /* a hutch field, or -1 */
    const char *ignored; /* RT_IGNORED: why hutch does not need it */
};

static const struct runtime_key runtime_keys[] = {
    {"network.allowedDomains", RT_ALLOWED, F_NET_ALLOWED, NULL},
    {"network.deniedDomains", RT_DENIED, F_NET_DENIED, NULL},
    {"network.deniedResolvedAddresses", RT_RESOLVED, -1, NULL},
    {"filesystem.denyRead", RT_DENY_PATHS, F_FS_DENY_READ, NULL},
    {"filesystem.allowWrite", RT_WRITABLE, F_FS_ALLOW_WRITE, NULL},
    {"filesystem.denyWrite", RT_DENY_PATHS, F_FS_DENY_WRITE, NULL},
    {"credentials", RT_CREDENTIALS, -1, NULL},
    {"network.deniedDomainReasons", RT_IGNORED, -1, "hutch's denials name the host, not a reason"},
    {"network.allowUnixSockets", RT_IGNORED, -1,
     "hutch does not pass host unix sockets into sandboxes"},
    {"network.allowAllUnixSockets", RT_IGNORED, -1,
     "hutch does not pass host unix sockets into sandboxes"},
    {"network.allowLocalBinding", RT_IGNORED, -1, "sandboxes have their own network namespace"},
    {"network.allowMachLookup", RT_IGNORED, -1, "macOS only"},
    {"network.httpProxyPort", RT_IGNORED, -1, "hutch runs its own filtering proxy"},
    {"network.socksProxyPort", RT_IGNORED, -1, "hutch runs its own filtering proxy"},
    {"network.mitmProxy", RT_IGNORED, -1, "hutch runs its own filtering proxy"},
    {"network.parentProxy", RT_IGNORED, -1, "hutch runs its own filtering proxy"},
    {"network.tlsTerminate", RT_IGNORED, -1,
     "hutch does not terminate TLS; the allowlist applies as it is"},
    {"network.strictAllowlist", RT_IGNORED, -1, "hutch's allowlist is always strict"},
    {"filesystem.allowRead", RT_IGNORED, -1, "hutch never re-opens a denied path"},
    {"filesystem.allowGitConfig", RT_IGNORED, -1, "hutch keeps its write rules as listed"},
    {"filesystem.disabled", RT_IGNORED, -1, "hutch always enforces its filesystem policy"},
    {"ignoreViolations", RT_IGNORED, -1, "hutch reports every violation"},
    {"enableWeakerNestedSandbox", RT_IGNORED, -1, "hutch never weakens its sandbox"},
    {"enableWeakerNetworkIsolation", RT_IGNORED, -1, "macOS only"},
    {"allowAppleEvents", RT_IGNORED, -1, "macOS only"},
    {"allowPty", RT_IGNORED, -1, "macOS only"},
    {"windows", RT_IGNORED, -1, "Windows only"},
    {"ripgrep", RT_IGNORED, -1, "hutch does not scan for dangerous files"},
    {"mandatoryDenySearchDepth", RT_IGNORED, -1, "hutch does not scan for dangerous files"},
    {"seccomp", RT_IGNORED, -1, "hutch builds its own seccomp filter"},
    {"bwrapPath", RT_IGNORED, -1, "hutch does not use bubblewrap"},
    {"socatPath", RT_IGNORED, -1, "hutch does not use socat"},
    {"javaAgentJarPath", RT_IGNORED, -1, "hutch's proxy is set through the environment"},
    {"git", RT_IGNORED, -1, "hutch sets no git configuration"},
};

/* The address a deny list names when it is one ("10.0.0.1", "[::1]:443",
 * "10.0.0.0/8"), with port and brackets off; false for a name. */
static bool address_entry(const char *entry, char *out, size_t len)
{
    const char *start = entry, *stop = entry + strlen(entry);
    if (*entry == '[') {
        const char *close = strchr(entry, ']');
        if (!close)
            return false;
        start = entry + 1;
        stop = close;
    } else if (strchr(entry, ':') == strrchr(entry, ':') && strchr(entry, ':')) {
        stop = strchr(entry, ':'); /* one colon: NAME:PORT or ADDRESS:PORT */
    }
    if (!fmt_fits(out, len, "%.*s", (int)(stop - start), start))
        return false;
    struct net_cidr range;
    return net_cidr_parse(out, &range) == 0;
}

/* True when hutch's proxy refuses every address of the range whatever the
 * rules say (loopback, private, link-local, metadata...). Its first and last
 * address of one kind: the kinds are CIDR blocks, and so is the range. */
static bool range_refused_anyway(const char *text)
{
    struct net_cidr r;
    if (net_cidr_parse(text, &r) < 0)
        return false;
    size_t bytes = r.family == AF_INET ? 4 : 16;
    uint8_t first[16], last[16];
    for (size_t i = 0; i < bytes; i++) {
        unsigned bits = i * 8 >= r.prefix ? 0 : r.prefix - i * 8 >= 8 ? 8 : r.prefix - i * 8;
        uint8_t mask = (uint8_t)(bits ? 0xff << (8 - bits) : 0);
        first[i] = r.addr[i] & mask;
        last[i] = (uint8_t)(first[i] | ~mask);
    }
    const char *kinds[2];
    for (int k = 0; k < 2; k++) {
        const uint8_t *a = k ? last : first;
        struct sockaddr_storage ss = {0};
        if (r.family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            in->sin_family = AF_INET;
            memcpy(&in->sin_addr, a, 4);
        } else {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            in6->sin6_family = AF_INET6;
            memcpy(&in6->sin6_addr, a, 16);
        }
        kinds[k] = net_address_special((struct sockaddr *)&ss);
    }
    return kinds[0] && kinds[1] && strcmp(kinds[0], kinds[1]) == 0;
}

/* A list of strings rewritten for a hutch field: each item is kept (the
 * field's own check follows), changed, or refused, by kind. */
static int runtime_list(struct loader *ld, const struct runtime_key *rk, json_t *value)
{
    if (!json_is_array(value))
        return error_set(ld->err, HUTCH_E_INVALID, "%s: expected a list of strings", rk->key);
    json_t *out = json_array();
    if (!out)
        return error_set(ld->err, HUTCH_E_SYSTEM, "out of memory");
    size_t i;
    json_t *item;
    json_array_foreach(value, i, item) {
        const char *text = json_string_value(item);
        char shown[128], addr[128];
        if (!text || strlen(text) != json_string_length(item)) {
            json_decref(out);
            return error_set(ld->err, HUTCH_E_INVALID, "%s[%zu]: expected a string", rk->key, i);
        }
        quote_for_message(text, strlen(text), shown, sizeof shown);
        autofree char *kept = strdup(text);
        if (!kept) {
            json_decref(out);
            return error_set(ld->err, HUTCH_E_SYSTEM, "out of memory");
        }
        const char *colon = strrchr(text, ':');
        bool is_address = address_entry(text, addr, sizeof addr);
        switch (rk->map) {
        case RT_ALLOWED:
            if (is_address) {
                json_decref(out);
                return error_set(ld->err, HUTCH_E_INVALID,
                                 "%s[%zu]: %s is an address: hutch's allowlist holds names "
                                 "(in hutch's own config, network.allowedAddresses lets the "
                                 "proxy reach an address a name resolves to)",
                                 rk->key, i, shown);
            }
            if (colon) {
                json_decref(out);
                return error_set(ld->err, HUTCH_E_INVALID,
                                 "%s[%zu]: %s allows one port, which hutch's allowlist cannot "
                                 "say (it allows a name on every port): drop the port to allow "
                                 "them all",
                                 rk->key, i, shown);
            }
            break;
        case RT_DENIED:
            if (is_address) {
                if (!range_refused_anyway(addr)) {
                    json_decref(out);
                    return error_set(ld->err, HUTCH_E_INVALID,
                                     "%s[%zu]: %s: hutch cannot refuse a public address that an "
                                     "allowed name resolves to; deny the names instead",
                                     rk->key, i, shown);
                }
                policy_add_warning(ld->policy,
                                   "%s: %s[%zu] %s is refused by hutch's proxy anyway (it "
                                   "refuses address literals, and %s addresses)",
                                   ld->origin, rk->key, i, shown, "local and private");
                continue;
            }
            if (colon) {
                kept[colon - text] = '\0';
                policy_add_warning(ld->policy,
                                   "%s: %s[%zu] %s denies %s on every port, not only %s",
                                   ld->origin, rk->key, i, shown, kept, colon + 1);
            }
            break;
        case RT_DENY_PATHS:
        case RT_WRITABLE: {
            size_t n = strlen(kept);
            if (n > 3 && strcmp(kept + n - 3, "/**") == 0)
                kept[n - 3] = '\0'; /* the directory and all below it */
            if (strpbrk(kept, "*?[")) {
                if (rk->map == RT_WRITABLE) {
                    policy_add_warning(ld->policy,
                                       "%s: %s[%zu] %s is skipped: a glob is not a path that "
                                       "can be made writable (the runtime skips it on Linux too)",
                                       ld->origin, rk->key, i, shown);
                    continue;
                }
                json_decref(out);
                return error_set(ld->err, HUTCH_E_INVALID,
                                 "%s[%zu]: %s is a glob: hutch denies the paths listed; list "
                                 "each file or directory",
                                 rk->key, i, shown);
            }
            break;
        }
        default:
            break;
        }
        if (json_array_append_new(out, json_string(kept)) < 0) {
            json_decref(out);
            return error_set(ld->err, HUTCH_E_SYSTEM, "out of memory");
        }
    }
    int r = field_set_json(ld->policy, &fields[rk->field], out, rk->key, ld->err);
    json_decref(out);
    return r;
}

static int runtime_resolved(struct loader *ld, const struct runtime_key *rk, json_t *value)
{
    if (!json_is_array(value))
        return error_set(ld->err, HUTCH_E_INVALID, "%s: expected a list of strings", rk->key);
    size_t i;
    json_t *item;
    json_array_foreach(value, i, item) {
        const char *text = json_string_value(item);
        char shown[128];
        quote_for_message(text ? text : "", text ? strlen(text) : 0, shown, sizeof shown);
        if (!text || !range_refused_anyway(text))
            return error_set(ld->err, HUTCH_E_INVALID,
                             "%s[%zu]: %s: hutch's proxy refuses loopback, private, link-local "
                             "and metadata addresses, and cannot refuse others: drop it, or "
                             "deny the names that resolve there",
                             rk->key, i, shown);
    }
    if (json_array_size(value))
        policy_add_warning(ld->policy, "%s: %s is ignored (hutch's proxy refuses those addresses "
                                       "anyway)",
                           ld->origin, rk->key);
    return 0;
}

/* credentials: files (deny or mask) become denyRead entries: the sandbox
 * cannot read them at all. Environment variables stay out anyway. */
static int runtime_credentials(struct loader *ld, json_t *value)
{
    if (!json_is_object(value))
        return error_set(ld->err, HUTCH_E_INVALID, "credentials: expected an object");
    const char *key;
    json_t *sub;
    json_object_foreach(value, key, sub) {
        bool files = strcmp(key, "files") == 0, env = strcmp(key, "envVars") == 0;
        if (!files && !env) {
            if (strcmp(key, "allowPlaintextInject") == 0 || strcmp(key, "awsPairs") == 0 ||
                strcmp(key, "sigv4") == 0) {
                policy_add_warning(ld->policy,
                                   "%s: credentials.%s is ignored (hutch masks no credential: "
                                   "the sandbox never sees them)",
                                   ld->origin, key);
                continue;
            }
            return error_set(ld->err, HUTCH_E_INVALID,
                             "credentials.%s: unknown key (known keys here: files, envVars, "
                             "allowPlaintextInject, awsPairs, sigv4)",
                             key);
        }
        if (!json_is_array(sub))
            return error_set(ld->err, HUTCH_E_INVALID, "credentials.%s: expected a list", key);
        size_t i;
        json_t *item;
        json_array_foreach(sub, i, item) {
            const char *name = json_string_value(json_object_get(item, files ? "path" : "name"));
            const char *mode = json_string_value(json_object_get(item, "mode"));
            if (!name || !mode || (strcmp(mode, "deny") != 0 && strcmp(mode, "mask") != 0))
                return error_set(ld->err, HUTCH_E_INVALID,
                                 "credentials.%s[%zu]: expected {\"%s\": ..., \"mode\": \"deny\" "
                                 "or \"mask\"}",
                                 key, i, files ? "path" : "name");
            char where[96];
            fmt_trunc(where, sizeof where, "credentials.%s[%zu].path", key, i); /* messages */
            if (files && field_set_text(ld->policy, &fields[F_FS_DENY_READ], name, where,
                                        ld->err) < 0)
                return -1;
            if (strcmp(mode, "mask") == 0)
                policy_add_warning(ld->policy,
                                   "%s: credentials.%s[%zu] %s is denied, not masked (hutch "
                                   "does not substitute credentials)",
                                   ld->origin, key, i, name);
        }
        if (env && json_array_size(sub))
            policy_add_warning(ld->policy,
                               "%s: credentials.envVars: hutch passes no variable of its own "
                               "environment into the sandbox unless env or inheritEnv asks",
                               ld->origin);
    }
    return 0;
}

static int load_runtime_key(struct loader *ld, const char *key, json_t *value)
{
    for (size_t i = 0; i < ARRAY_SIZE(runtime_keys); i++) {
        const struct runtime_key *rk = &runtime_keys[i];
        if (strcmp(rk->key, key) != 0)
            continue;
        switch (rk->map) {
        case RT_FIELD:
            return field_set_json(ld->policy, &fields[rk->field], value, key, ld->err);
        case RT_ALLOWED:
        case RT_DENIED:
        case RT_DENY_PATHS:
        case RT_WRITABLE:
            return runtime_list(ld, rk, value);
        case RT_RESOLVED:
            return runtime_resolved(ld, rk, value);
        case RT_CREDENTIALS:
            return runtime_credentials(ld, value);
        case RT_IGNORED:
            policy_add_warning(ld->policy, "%s: %s is ignored (%s)", ld->origin, key, rk->ignored);
            return 0;
        }
    }
    char known[1024] = "";
    size_t used = 0;
    const char *dot = strchr(key, '.');
    size_t group_len = dot ? (size_t)(dot - key) + 1 : 0;
    for (size_t i = 0; i < ARRAY_SIZE(runtime_keys); i++) {
        const char *k = runtime_keys[i].key;
        if (group_len ? strncmp(k, key, group_len) != 0 : strchr(k, '.') != NULL)
            continue;
        if (!fmt_append(known, sizeof known, &used, "%s%s", used ? ", " : "", k + group_len))
            break; /* whole names, as many as fit */
    }
    return error_set(ld->err, HUTCH_E_INVALID, "%s: unknown key (known keys here: %s)", key,
                     group_len ? known : "network, filesystem, and runtime-only settings");
}

static int load_runtime_settings(struct loader *ld, json_t *root)
{
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if ((strcmp(key, "network") == 0 || strcmp(key, "filesystem") == 0)) {
            if (!json_is_object(value))
                return error_set(ld->err, HUTCH_E_INVALID, "%s: expected an object", key);
            const char *sub;
            json_t *subvalue;
            json_object_foreach(value, sub, subvalue) {
                char full[256];
                if (!fmt_fits(full, sizeof full, "%s.%s", key, sub))
                    return error_set(ld->err, HUTCH_E_INVALID,
                                     "%s.%.64s...: unknown key (too long)", key, sub);
                if (load_runtime_key(ld, full, subvalue) < 0)
                    return -1;
            }
            continue;
        }
        if (load_runtime_key(ld, key, value) < 0)
            return -1;
    }
    return 0;
}

/* ---- a coding agent's executor options ----------------------------------- */

/* {mode: 'docker', timeout: 60000, memoryLimit: 512, networkEnabled: false,
 * workdir: '/workspace', readOnlyRoot: true}: timeout in milliseconds,
 * memoryLimit in MiB, as the agent documents them (docs/migrating.md). */
static const char *const executor_keys =
    "mode, timeout, memoryLimit, networkEnabled, workdir, readOnlyRoot, requireApproval";

static int set_text(struct loader *ld, enum field_id id, const char *text, const char *where)
{
    return field_set_text(ld->policy, &fields[id], text, where, ld->err);
}

static int load_executor(struct loader *ld, json_t *root)
{
    struct hutch_policy *p = ld->policy;
    const char *mode = "spawn"; /* the agent's default */
    json_t *value = json_object_get(root, "mode");
    if (value) {
        mode = json_string_value(value);
        if (!mode || (strcmp(mode, "spawn") != 0 && strcmp(mode, "docker") != 0 &&
                      strcmp(mode, "none") != 0)) {
            char shown[128];
            quote_for_message(mode ? mode : "", mode ? strlen(mode) : 0, shown, sizeof shown);
            return error_set(ld->err, HUTCH_E_INVALID, "mode: %s is not one of spawn, docker, none",
                             mode ? shown : "this value");
        }
    }
    bool docker = strcmp(mode, "docker") == 0;
    if (set_text(ld, F_BACKEND, strcmp(mode, "none") == 0 ? "host" : mode, "mode") < 0)
        return -1;
    if (strcmp(mode, "none") == 0)
        policy_add_warning(p, "%s: mode none: commands run on the host with no isolation at all",
                           ld->origin);

    const char *key;
    json_object_foreach(root, key, value) {
        char text[64];
        if (strcmp(key, "mode") == 0)
            continue;
        if (strcmp(key, "timeout") == 0) {
            double ms = json_number_value(value);
            if (!json_is_number(value) || !(ms >= 0) || ms > 1e15)
                return error_set(ld->err, HUTCH_E_INVALID,
                                 "timeout: expected milliseconds, like 60000");
            fmt_bounded(text, "%llums", (unsigned long long)(ms + 0.5));
            if (set_text(ld, F_LIMIT_TIMEOUT, text, "timeout") < 0)
                return -1;
        } else if (strcmp(key, "memoryLimit") == 0) {
            double mib = json_number_value(value);
            if (json_is_string(value)) {
                if (field_set_json(p, &fields[F_LIMIT_MEMORY], value, "memoryLimit", ld->err) < 0)
                    return -1;
                continue;
            }
            if (!json_is_number(value) || !(mib >= 0) || mib > 1e9)
                return error_set(ld->err, HUTCH_E_INVALID,
                                 "memoryLimit: expected MiB, like 512 (or a size like \"512m\")");
            fmt_bounded(text, "%llu", (unsigned long long)(mib * 1024 * 1024 + 0.5));
            if (set_text(ld, F_LIMIT_MEMORY, text, "memoryLimit (MiB)") < 0)
                return -1;
        } else if (strcmp(key, "networkEnabled") == 0) {
            if (!json_is_boolean(value))
                return error_set(ld->err, HUTCH_E_INVALID, "networkEnabled: expected true or false");
            if (docker) {
                if (set_text(ld, F_NET_MODE, json_is_true(value) ? "bridge" : "none",
                             "networkEnabled") < 0)
                    return -1;
            } else if (json_is_false(value)) {
                policy_add_warning(p,
                                   "%s: networkEnabled false is not enforced in mode %s (nor by "
                                   "the agent: only its docker mode isolates); use mode docker",
                                   ld->origin, mode);
            }
        } else if (strcmp(key, "workdir") == 0 || strcmp(key, "readOnlyRoot") == 0) {
            bool workdir = strcmp(key, "workdir") == 0;
            if (!docker) {
                policy_add_warning(p, "%s: %s applies to mode docker only (as in the agent)",
                                   ld->origin, key);
                continue;
            }
            if (field_set_json(p, &fields[workdir ? F_DOCKER_WORKDIR : F_DOCKER_READ_ONLY_ROOT],
                               value, key, ld->err) < 0)
                return -1;
        } else if (strcmp(key, "requireApproval") == 0) {
            /* The agent asks before every command it executes. */
            if (!json_is_boolean(value))
                return error_set(ld->err, HUTCH_E_INVALID,
                                 "requireApproval: expected true or false");
            if (json_is_true(value) &&
                set_text(ld, F_APPROVAL_REQUIRE, APPROVAL_COMMAND_PREFIX "*", key) < 0)
                return -1;
        } else {
            return error_set(ld->err, HUTCH_E_INVALID, "%s: unknown key (known keys here: %s)",
                             key, executor_keys);
        }
    }
    /* The agent's docker defaults: 256 MiB, no network, a non-root user. */
    if (docker && !p->set[F_LIMIT_MEMORY] && set_text(ld, F_LIMIT_MEMORY, "256m", "mode") < 0)
        return -1;
    return 0;
}

/* ---- a skill runner's sandbox_config --------------------------------------- */

/* {'cpu_limit': 0.5, 'memory_limit': '256m', 'network_mode': 'bridge'}:
 * Docker's own forms (a bare memory_limit is bytes, as in Docker's SDK). */
static int load_skill_config(struct loader *ld, json_t *root)
{
    if (set_text(ld, F_BACKEND, "docker", "sandbox_config") < 0)
        return -1;
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (strcmp(key, "cpu_limit") == 0) {
            if (field_set_json(ld->policy, &fields[F_LIMIT_CPUS], value, key, ld->err) < 0)
                return -1;
        } else if (strcmp(key, "memory_limit") == 0) {
            if (field_set_json(ld->policy, &fields[F_LIMIT_MEMORY], value, key, ld->err) < 0)
                return -1;
        } else if (strcmp(key, "network_mode") == 0) {
            const char *mode = json_string_value(value);
            bool known = mode && (strcmp(mode, "none") == 0 || strcmp(mode, "bridge") == 0 ||
                                  strcmp(mode, "host") == 0);
            if (known ? set_text(ld, F_NET_MODE, mode, key) < 0
                      : field_set_json(ld->policy, &fields[F_DOCKER_NETWORK], value, key,
                                       ld->err) < 0)
                return -1;
        } else {
            return error_set(ld->err, HUTCH_E_INVALID,
                             "%s: unknown key (known keys here: cpu_limit, memory_limit, "
                             "network_mode)",
                             key);
        }
    }
    return 0;
}

/* ---- entry points ------------------------------------------------------- */

/* Infinity and NaN inside the part of the file hutch reads (section: its
 * path, NULL for all of it) are refused; elsewhere they are the other
 * program's business. */
static int check_nonfinite(struct loader *ld, const char *section)
{
    size_t n = section ? strlen(section) : 0;
    for (size_t i = 0; ld->json5 && i < ld->json5->found_count; i++) {
        const struct json5_nonfinite *nf = &ld->json5->found[i];
        const char *path = nf->at.path;
        if (section && !(strncmp(path, section, n) == 0 &&
                         (path[n] == '\0' || path[n] == '.' || path[n] == '[')))
            continue;
        ld->positioned = true;
        return error_set(ld->err, HUTCH_E_INVALID,
                         "%s:%d:%d: %s: %s is not a finite number, and no setting takes one",
                         ld->origin, nf->at.line, nf->at.column, path, nf->text);
    }
    return 0;
}

/* The runtime runs commands where it is started, which "." in allowWrite
 * makes writable: so does hutch, when a writable mount holds that
 * directory (else the command starts in /workspace, as always). */
static int runtime_workdir(struct loader *ld)
{
    struct hutch_policy *p = ld->policy;
    autofree char *cwd = getcwd(NULL, 0);
    if (!cwd || p->set[F_WORKDIR])
        return 0;
    for (size_t i = 0; i < p->filesystem.allow_write.len; i++) {
        const char *mount = p->filesystem.allow_write.items[i];
        if (strchr(mount, ':'))
            continue; /* mounted elsewhere in the sandbox */
        if (path_under(cwd, mount, NULL))
            return set_text(ld, F_WORKDIR, cwd, "filesystem.allowWrite");
    }
    return 0;
}

static json_t *gateway_sandbox(json_t *root, const char **shown)
{
    json_t *agent = json_object_get(root, "agent");
    if (json_is_object(agent) && json_object_get(agent, "sandbox")) {
        *shown = "agent.sandbox";
        return json_object_get(agent, "sandbox");
    }
    json_t *defaults = json_object_get(json_object_get(root, "agents"), "defaults");
    if (json_is_object(defaults) && json_object_get(defaults, "sandbox")) {
        *shown = "agents.defaults.sandbox";
        return json_object_get(defaults, "sandbox");
    }
    return NULL;
}

static bool has_any(json_t *root, const char *const *keys)
{
    for (; *keys; keys++)
        if (json_object_get(root, *keys))
            return true;
    return false;
}

static int load_root(struct loader *ld, json_t *root)
{
    if (!json_is_object(root))
        return error_set(ld->err, HUTCH_E_INVALID,
                         "the top level must be an object like {\"sandbox\": {...}}");
    if (json_object_size(root) == 0)
        return 0;

    json_t *sandbox = json_object_get(root, "sandbox");
    if (sandbox) {
        ld->shape = SHAPE_HUTCH;
        const char *key;
        json_t *value;
        json_object_foreach(root, key, value) {
            if (strcmp(key, "sandbox") != 0 && strcmp(key, "$schema") != 0)
                return error_set(ld->err, HUTCH_E_INVALID,
                                 "%s: unknown top-level key (hutch reads only \"sandbox\")", key);
        }
        if (!json_is_object(sandbox))
            return error_set(ld->err, HUTCH_E_INVALID, "sandbox: expected an object of settings");
        if (check_nonfinite(ld, "sandbox") < 0)
            return -1;
        return load_group(ld, sandbox, "", "sandbox");
    }

    if (json_object_get(root, "agent") || json_object_get(root, "agents")) {
        ld->shape = SHAPE_GATEWAY;
        const char *shown = NULL;
        json_t *inner = gateway_sandbox(root, &shown);
        if (!inner) {
            policy_add_warning(ld->policy,
                               "%s: no agent.sandbox section; hutch's defaults apply", ld->origin);
            return 0;
        }
        if (!json_is_object(inner))
            return error_set(ld->err, HUTCH_E_INVALID, "%s: expected an object of settings",
                             shown);
        if (check_nonfinite(ld, shown) < 0 || load_group(ld, inner, "", shown) < 0)
            return -1;
        /* The gateway's sandboxes are Docker containers (docker.image...):
         * so are hutch's for this file, unless it names a backend. */
        if (!ld->policy->set[F_BACKEND] && set_text(ld, F_BACKEND, "docker", shown) < 0)
            return -1;
        return 0;
    }

    if (json_object_get(root, "network") || json_object_get(root, "filesystem")) {
        ld->shape = SHAPE_SANDBOX_RUNTIME;
        if (check_nonfinite(ld, NULL) < 0 || load_runtime_settings(ld, root) < 0)
            return -1;
        return runtime_workdir(ld);
    }

    static const char *const executor_markers[] = {"mode", "timeout", "memoryLimit",
                                                   "networkEnabled", NULL};
    if (has_any(root, executor_markers)) {
        ld->shape = SHAPE_EXECUTOR;
        return check_nonfinite(ld, NULL) < 0 ? -1 : load_executor(ld, root);
    }
    static const char *const skill_markers[] = {"cpu_limit", "memory_limit", "network_mode",
                                                NULL};
    if (has_any(root, skill_markers)) {
        ld->shape = SHAPE_SKILL;
        return check_nonfinite(ld, NULL) < 0 ? -1 : load_skill_config(ld, root);
    }

    const char *first = json_object_iter_key(json_object_iter(root));
    return error_set(ld->err, HUTCH_E_INVALID,
                     "%s: unknown top-level key: expected {\"sandbox\": {...}} (see "
                     "hutch-config(5))",
                     first);
}

int hutch_policy_load_json(hutch_policy *p, const char *text, size_t len, const char *origin,
                           hutch_error *err)
{
    if (!origin)
        origin = "config";
    struct json5_options opts = {.nonfinite = true};
    struct json5_error jerr;
    json_t *root = json5_loadb(text, len, &opts, &jerr);
    if (!root)
        return error_set(err, HUTCH_E_INVALID, "%s:%d:%d: invalid JSON5: %s", origin,
                         jerr.at.line, jerr.at.column, jerr.text);
    struct loader ld = {.policy = p, .origin = origin, .err = err, .json5 = &opts};
    int r = load_root(&ld, root);
    json_decref(root);
    free(opts.found);
    if (r < 0) {
        if (!ld.positioned)
            error_prefix(err, "%s", origin);
        return -1;
    }
    if (hutch_policy_validate(p, err) < 0) {
        error_prefix(err, "%s", origin);
        return -1;
    }
    return 0;
}

int hutch_policy_load_file(hutch_policy *p, const char *path, hutch_error *err)
{
    autofree char *text = NULL;
    size_t len = 0;
    if (read_file_bounded(path, CONFIG_MAX_BYTES, &text, &len) < 0) {
        int e = errno;
        if (e == EFBIG)
            return error_set(err, HUTCH_E_INVALID,
                             "config file %s is larger than 1 MiB: is it the right file?", path);
        return error_sys(err, e, "cannot read config file %s", path);
    }
    return hutch_policy_load_json(p, text, len, path, err);
}
