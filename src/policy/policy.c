#include <stdarg.h>

#include "base/error.h"
#include "policy/fields.h"
#include "policy/policy.h"
#include "policy/units.h"

static const char *const backend_names[] = {"host", "spawn", "native", "docker"};
static const char *const net_mode_names[] = {"none", "host", "bridge", "allow"};

const char *backend_name(int kind)
{
    return kind >= 0 && kind < BACKEND_COUNT ? backend_names[kind] : "?";
}

const char *net_mode_name(int mode)
{
    return mode >= 0 && mode <= NET_ALLOW ? net_mode_names[mode] : "?";
}

const char *hutch_version(void)
{
    return HUTCH_VERSION_STRING;
}

static char *default_workspace_root(void)
{
    char *out = NULL;
    const char *data = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    const char *state = getenv("HUTCH_STATE_DIR");
    int r;
    /* Beside the session state: root's in /var/lib/hutch. */
    if (state && state[0] == '/')
        r = asprintf(&out, "%s/workspaces", state);
    else if (geteuid() == 0)
        r = asprintf(&out, "/var/lib/hutch/workspaces");
    else if (data && data[0] == '/')
        r = asprintf(&out, "%s/hutch/workspaces", data);
    else if (home && home[0] == '/')
        r = asprintf(&out, "%s/.local/share/hutch/workspaces", home);
    else
        r = asprintf(&out, "/var/lib/hutch/workspaces");
    return r < 0 ? NULL : out;
}

hutch_policy *hutch_policy_new(void)
{
    struct hutch_policy *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->backend = BACKEND_NATIVE;
    p->fallback = FALLBACK_NONE;
    p->mode = MODE_ALL;
    p->main_session = strdup("main");
    p->per_session = true;
    p->auto_create = true;
    p->workspace_root = default_workspace_root();
    p->limits.timeout_ms = 1800 * 1000;
    p->limits.output_bytes = 1024 * 1024;
    p->network.mode = NET_NONE;
    p->filesystem.read_only_root = true;
    p->docker.image = strdup("hutch-sandbox:bookworm-slim");
    p->docker.container_prefix = strdup("hutch-sbx-");
    p->docker.read_only_root = true;
    p->prune.idle_hours = 24;
    p->prune.max_age_days = 7;
    if (!p->main_session || !p->workspace_root || !p->docker.image ||
        !p->docker.container_prefix || strlist_push(&p->docker.tmpfs, "/tmp") < 0 ||
        strlist_push(&p->docker.tmpfs, "/var/tmp") < 0 ||
        strlist_push(&p->docker.tmpfs, "/run") < 0 ||
        strlist_push(&p->docker.cap_drop, "ALL") < 0 ||
        strlist_set_env(&p->docker.env, "LANG", 4, "C.UTF-8") < 0) {
        hutch_policy_free(p);
        return NULL;
    }
    return p;
}

void hutch_policy_free(hutch_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < FIELD_COUNT; i++) {
        const struct field *f = &fields[i];
        void *slot = (void *)((char *)p + f->offset);
        if (f->storage == S_STRING)
            free(*(char **)slot);
        else if (f->storage == S_LIST || f->storage == S_ENV)
            strlist_clear(slot);
    }
    strlist_clear(&p->warnings);
    free(p->origin.config_path);
    json_decref(p->origin.settings);
    free(p);
}

int policy_add_warning(struct hutch_policy *p, const char *fmt, ...)
{
    char *text;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (r < 0)
        return -1;
    return strlist_push_owned(&p->warnings, text);
}

size_t hutch_policy_warning_count(const hutch_policy *p)
{
    return p->warnings.len;
}

const char *hutch_policy_warning(const hutch_policy *p, size_t i)
{
    return i < p->warnings.len ? p->warnings.items[i] : NULL;
}

int hutch_policy_set(hutch_policy *p, const char *key, const char *value, hutch_error *err)
{
    if (!key || !value)
        return error_set(err, HUTCH_E_INVALID, "hutch_policy_set: key and value are required");
    if (strncmp(key, "sandbox.", 8) == 0)
        key += 8;
    const struct field *f = field_by_key(key);
    if (!f) {
        char known[1024];
        field_group_children("", known, sizeof known);
        return error_set(err, HUTCH_E_INVALID, "%s: unknown key (known keys: %s)", key, known);
    }
    return field_set_text(p, f, value, f->key, err);
}

int hutch_policy_validate(const hutch_policy *p, hutch_error *err)
{
    const struct network_policy *net = &p->network;
    if (net->mode == NET_ALLOW && net->allowed_domains.len == 0)
        return error_set(err, HUTCH_E_INVALID,
                         "network.mode is \"allow\" but network.allowedDomains is empty: list "
                         "the domains, or use mode \"none\"");
    if (net->mode != NET_ALLOW && net->allowed_domains.len > 0)
        return error_set(err, HUTCH_E_INVALID,
                         "network.allowedDomains is set but network.mode is \"%s\": use mode "
                         "\"allow\" (flag: --net allow:DOMAIN[,DOMAIN...]) or drop the domains",
                         net_mode_name(net->mode));
    if (net->mode != NET_ALLOW && (net->allowed_addresses.len > 0 || net->hosts.len > 0))
        return error_set(err, HUTCH_E_INVALID,
                         "%s is set but network.mode is \"%s\": it applies to the allowlist only "
                         "(--net allow:DOMAIN[,DOMAIN...]); drop it or use mode \"allow\"",
                         net->hosts.len ? "network.hosts (--add-host)"
                                        : "network.allowedAddresses (--allow-address)",
                         net_mode_name(net->mode));
    if (p->docker.container && p->backend != BACKEND_DOCKER)
        return error_set(err, HUTCH_E_INVALID,
                         "docker.container names a container to adopt, which needs the docker "
                         "backend, but backend is \"%s\": drop one of the two",
                         backend_name(p->backend));
    if (p->limits.output_bytes > (uint64_t)1 << 30)
        return error_set(err, HUTCH_E_INVALID,
                         "limits.outputBytes: at most 1g of output can be kept per stream; "
                         "write large output to a file instead");
    return 0;
}

char *hutch_policy_to_json(const hutch_policy *p)
{
    json_t *root = json_object();
    json_t *sandbox = json_object();
    if (!root || !sandbox) {
        json_decref(root);
        json_decref(sandbox);
        return NULL;
    }
    json_object_set_new(root, "sandbox", sandbox);
    for (size_t i = 0; i < FIELD_COUNT; i++) {
        const struct field *f = &fields[i];
        json_t *parent = sandbox;
        const char *key = f->key;
        const char *dot;
        while ((dot = strchr(key, '.')) != NULL) {
            char group[64]; /* the schema's groups (fields.c) are short; never cut */
            if (!fmt_fits(group, sizeof group, "%.*s", (int)(dot - key), key)) {
                json_decref(root);
                return NULL;
            }
            json_t *child = json_object_get(parent, group);
            if (!child) {
                child = json_object();
                json_object_set_new(parent, group, child);
            }
            parent = child;
            key = dot + 1;
        }
        json_object_set_new(parent, key, field_to_json(p, f));
    }
    char *text = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    return text;
}
