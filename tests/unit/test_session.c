/* Pure session logic: keys, names, config fingerprints, prune rules. */
#include "policy/fields.h"
#include "session/session.h"
#include "tap.h"

static bool name_chars_ok(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
              *s == '.'))
            return false;
    return true;
}

/* Every field's plain text is what jansson writes for its value. */
static void plain_json_matches(const hutch_policy *p, const char *which)
{
    int plain = 0, wrong = 0;
    for (size_t i = 0; i < FIELD_COUNT; i++) {
        char buf[256];
        const char *text = field_plain_json(p, &fields[i], buf, sizeof buf);
        if (!text)
            continue;
        plain++;
        json_t *v = field_to_json(p, &fields[i]);
        char *want = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
        if (!want || strcmp(want, text) != 0) {
            wrong++;
            printf("#   %s: plain %s, jansson %s\n", fields[i].key, text, want ? want : "(none)");
        }
        free(want);
        json_decref(v);
    }
    CHECK(plain > 10 && wrong == 0, "%s: %d fields written plainly, as jansson would", which,
          plain);
}

/* How earlier versions computed the fingerprint: the text of one object. */
static void earlier_hash(const hutch_policy *p, char out[17])
{
    json_t *obj = json_object();
    for (size_t i = 0; i < FIELD_COUNT; i++)
        if (!session_per_run_field(fields[i].id))
            json_object_set_new(obj, fields[i].key, field_to_json(p, &fields[i]));
    char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(out, 17, "%016llx", (unsigned long long)(text ? hash64(text, strlen(text)) : 0));
    free(text);
    json_decref(obj);
}

static void names(void)
{
    char a[SESSION_NAME_MAX + 1], b[SESSION_NAME_MAX + 1];
    session_name("Chat 42", a, sizeof a);
    CHECK(strncmp(a, "chat-42-", 8) == 0 && strlen(a) == 16, "slug of 'Chat 42': %s", a);
    session_name("chat-42", b, sizeof b);
    CHECK(strcmp(a, b) != 0, "keys with the same slug get different names (%s, %s)", a, b);
    session_name("../../etc/passwd", a, sizeof a);
    CHECK(name_chars_ok(a) && a[0] != '.' && !strstr(a, ".."), "no path in a name: %s", a);
    session_name("///", a, sizeof a);
    CHECK(name_chars_ok(a) && a[0] != '-', "a key of symbols still names something: %s", a);
    char long_key[300];
    memset(long_key, 'x', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    session_name(long_key, a, sizeof a);
    CHECK(strlen(a) <= SESSION_NAME_MAX, "long keys are cut: %zu chars", strlen(a));
    session_name("slack:T01/C02 \xc3\xa9t\xc3\xa9", a, sizeof a);
    CHECK(name_chars_ok(a), "UTF-8 and punctuation slug to safe characters: %s", a);

    char c[CONTAINER_NAME_MAX + 1];
    session_container_name("hutch-sbx-", "chat-42", "/state/a", c, sizeof c);
    CHECK(strncmp(c, "hutch-sbx-chat-42-", 18) == 0, "container name %s", c);
    session_container_name("a-forty-character-prefix-for-containers-", long_key, "/state/a", c,
                           sizeof c);
    CHECK(strlen(c) <= CONTAINER_NAME_MAX, "container names stay within 63: %zu", strlen(c));
    char d[CONTAINER_NAME_MAX + 1];
    session_container_name("hutch-sbx-", "chat-42", "/state/a", c, sizeof c);
    session_container_name("hutch-sbx-", "chat-42", "/state/b", d, sizeof d);
    CHECK(strcmp(c, d) != 0, "one key under two state directories: two containers (%s, %s)", c,
          d);
}

static void keys(void)
{
    hutch_error err;
    CHECK(session_key_check("chat-42", &err) == 0, "plain key");
    CHECK(session_key_check("slack:C1/T2 #general", &err) == 0, "punctuation is fine");
    CHECK(session_key_check("", &err) < 0 && strstr(err.message, "empty"), "empty key refused");
    CHECK(session_key_check("a\nb", &err) < 0 && strstr(err.message, "control"),
          "newline refused: %s", err.message);
    char long_key[300];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    CHECK(session_key_check(long_key, &err) < 0 && strstr(err.message, "at most"),
          "overlong key refused");
}

static void fingerprints(void)
{
    hutch_policy *p = hutch_policy_new(), *q = hutch_policy_new();
    hutch_error err;
    char a[17], b[17];
    session_config_hash(p, a);
    session_config_hash(q, b);
    CHECK(strcmp(a, b) == 0, "same policy, same fingerprint");
    hutch_policy_set(q, "limits.timeoutSeconds", "5", &err);
    hutch_policy_set(q, "workdir", "src", &err);
    hutch_policy_set(q, "env", "{\"A\":\"1\"}", &err);
    session_config_hash(q, b);
    CHECK(strcmp(a, b) == 0, "per-run settings do not change it");
    hutch_policy_set(q, "limits.memory", "64m", &err);
    session_config_hash(q, b);
    CHECK(strcmp(a, b) != 0, "a session setting changes it");
    /* The fingerprint earlier versions wrote (else an upgrade would
     * recreate every session), with text to escape and lists too. */
    char old[17];
    earlier_hash(p, old);
    CHECK(strcmp(old, a) == 0, "defaults: the fingerprint earlier versions wrote");
    earlier_hash(q, old);
    CHECK(strcmp(old, b) == 0, "changed settings: the fingerprint earlier versions wrote");
    CHECK(hutch_policy_set(q, "filesystem.denyRead", "[\"/a/x\", \"/b\\\"q\\u00e9\"]", &err) == 0 &&
              hutch_policy_set(q, "setupCommand", "echo \"\u00e9\\t\"", &err) == 0,
          "lists and text to escape: %s", err.message);
    session_config_hash(q, b);
    earlier_hash(q, old);
    CHECK(strcmp(old, b) == 0, "escaped text and lists: the fingerprint earlier versions wrote");
    plain_json_matches(p, "defaults");
    plain_json_matches(q, "changed settings");
    CHECK(hutch_policy_set(q, "limits.timeoutSeconds", "1.5", &err) == 0 &&
              hutch_policy_set(q, "limits.pids", "18446744073709551615", &err) == 0,
          "a fractional duration and the largest count: %s", err.message);
    plain_json_matches(q, "edge numbers");
    CHECK(session_per_run_field(F_LIMIT_TIMEOUT) && !session_per_run_field(F_FS_READ_ONLY),
          "timeout is per run, mounts are not");
    hutch_policy_free(p);
    hutch_policy_free(q);
}

static void prune_rules(void)
{
    char buf[160];
    double now = 1e9, h = 3600, d = 86400;
    CHECK(prune_reason(now, now - 2 * h, now - 1 * h, 24, 7, false, buf, sizeof buf) == NULL,
          "fresh sessions stay");
    const char *r = prune_reason(now, now - 2 * d, now - 25 * h, 24, 7, false, buf, sizeof buf);
    CHECK(r && strstr(r, "idle"), "idle past idleHours: %s", r ? r : "(kept)");
    r = prune_reason(now, now - 8 * d, now - 1, 24, 7, false, buf, sizeof buf);
    CHECK(r && strstr(r, "days old"), "older than maxAgeDays: %s", r ? r : "(kept)");
    CHECK(prune_reason(now, now - 80 * d, now - 80 * d, 0, 0, false, buf, sizeof buf) == NULL,
          "0 disables both rules");
    CHECK(prune_reason(now, now - 80 * d, now - 80 * d, 24, 7, true, buf, sizeof buf) == NULL,
          "adopted containers are never pruned");
}

int main(void)
{
    names();
    keys();
    fingerprints();
    prune_rules();
    return tap_done();
}
