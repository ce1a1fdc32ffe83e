/* Loading JSON config files into the policy. Three shapes are accepted:
 *   {"sandbox": {...}}                    hutch's own (docs/config.md)
 *   {"agent": {"sandbox": {...}}, ...}    chat-gateway agents with per-session
 *                                         docker sandboxes; other keys are the
 *                                         gateway's own and are left alone
 *   {"network": {...}, "filesystem": {...}}  the settings file of the
 *                                         bubblewrap-based agent sandbox runtime
 * Every error names the file, the key path, the value and the expected form. */
#include <jansson.h>

#include "base/error.h"
#include "policy/fields.h"
#include "policy/policy.h"

#define CONFIG_MAX_BYTES (1024 * 1024)

enum shape { SHAPE_HUTCH, SHAPE_GATEWAY, SHAPE_SANDBOX_RUNTIME };

struct loader {
    struct hutch_policy *policy;
    enum shape shape;
    const char *origin;
    hutch_error *err;
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

struct runtime_key {
    const char *key;
    int field;          /* a hutch field, or -1 */
    const char *ignored; /* why hutch does not need it */
};

static const struct runtime_key runtime_keys[] = {
    {"network.allowedDomains", F_NET_ALLOWED, NULL},
    {"network.deniedDomains", F_NET_DENIED, NULL},
    {"filesystem.denyRead", F_FS_DENY_READ, NULL},
    {"filesystem.allowWrite", F_FS_ALLOW_WRITE, NULL},
    {"filesystem.denyWrite", F_FS_DENY_WRITE, NULL},
    {"network.allowUnixSockets", -1, "hutch does not pass host unix sockets into sandboxes"},
    {"network.allowAllUnixSockets", -1, "hutch does not pass host unix sockets into sandboxes"},
    {"network.allowLocalBinding", -1, "sandboxes have their own network namespace"},
    {"network.allowMachLookup", -1, "macOS only"},
    {"network.httpProxyPort", -1, "hutch runs its own filtering proxy"},
    {"network.socksProxyPort", -1, "hutch runs its own filtering proxy"},
    {"network.mitmProxy", -1, "hutch runs its own filtering proxy"},
    {"network.parentProxy", -1, "hutch runs its own filtering proxy"},
    {"network.strictAllowlist", -1, "hutch's allowlist is always strict"},
    {"filesystem.allowRead", -1, "hutch never re-opens a denied path"},
    {"filesystem.allowGitConfig", -1, "hutch keeps its write rules as listed"},
    {"filesystem.disabled", -1, "hutch always enforces its filesystem policy"},
    {"ignoreViolations", -1, "hutch reports every violation"},
    {"enableWeakerNestedSandbox", -1, "hutch never weakens its sandbox"},
    {"enableWeakerNetworkIsolation", -1, "macOS only"},
    {"allowAppleEvents", -1, "macOS only"},
    {"allowPty", -1, "macOS only"},
    {"ripgrep", -1, "hutch does not scan for dangerous files"},
    {"mandatoryDenySearchDepth", -1, "hutch does not scan for dangerous files"},
    {"seccomp", -1, "hutch builds its own seccomp filter"},
    {"bwrapPath", -1, "hutch does not use bubblewrap"},
};

static int load_runtime_key(struct loader *ld, const char *key, json_t *value)
{
    for (size_t i = 0; i < ARRAY_SIZE(runtime_keys); i++) {
        const struct runtime_key *rk = &runtime_keys[i];
        if (strcmp(rk->key, key) != 0)
            continue;
        if (rk->field >= 0)
            return field_set_json(ld->policy, &fields[rk->field], value, key, ld->err);
        policy_add_warning(ld->policy, "%s: %s is ignored (%s)", ld->origin, key, rk->ignored);
        return 0;
    }
    if (strcmp(key, "credentials") == 0)
        return error_set(ld->err, HUTCH_E_INVALID,
                         "credentials: not supported: list credential files under "
                         "filesystem.denyRead (the sandbox environment is empty by default)");
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

/* ---- entry points ------------------------------------------------------- */

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
        return load_group(ld, inner, "", shown);
    }

    if (json_object_get(root, "network") || json_object_get(root, "filesystem")) {
        ld->shape = SHAPE_SANDBOX_RUNTIME;
        return load_runtime_settings(ld, root);
    }

    const char *first = json_object_iter_key(json_object_iter(root));
    return error_set(ld->err, HUTCH_E_INVALID,
                     "%s: unknown top-level key: expected {\"sandbox\": {...}} (see "
                     "hutch-config(5))",
                     first);
}

/* Lines whose first characters other than blanks are // are comments (the
 * commented sample config has them: hutch-config(5)). No JSON text has such
 * a line, since strings cannot span lines, so no valid file changes meaning.
 * A copy with them blanked out, which keeps error positions right; NULL when
 * there are none (or no memory for the copy: jansson then refuses them). */
static char *blank_comment_lines(const char *text, size_t len)
{
    char *copy = NULL;
    for (size_t i = 0; i < len;) {
        while (i < len && (text[i] == ' ' || text[i] == '\t'))
            i++;
        size_t end = i;
        while (end < len && text[end] != '\n')
            end++;
        if (end - i >= 2 && text[i] == '/' && text[i + 1] == '/') {
            if (!copy) {
                copy = malloc(len);
                if (!copy)
                    return NULL;
                memcpy(copy, text, len);
            }
            memset(copy + i, ' ', end - i);
        }
        i = end + 1;
    }
    return copy;
}

int hutch_policy_load_json(hutch_policy *p, const char *text, size_t len, const char *origin,
                           hutch_error *err)
{
    if (!origin)
        origin = "config";
    autofree char *uncommented = blank_comment_lines(text, len);
    json_error_t jerr;
    json_t *root = json_loadb(uncommented ? uncommented : text, len, JSON_REJECT_DUPLICATES,
                              &jerr);
    if (!root)
        return error_set(err, HUTCH_E_INVALID, "%s:%d:%d: invalid JSON: %s", origin, jerr.line,
                         jerr.column, jerr.text);
    struct loader ld = {.policy = p, .origin = origin, .err = err};
    int r = load_root(&ld, root);
    json_decref(root);
    if (r < 0) {
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
