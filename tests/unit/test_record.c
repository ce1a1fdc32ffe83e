/* The session record's on-disk form (src/session/record.c). */
#include "session/record.h"
#include "tap.h"

static const char full[] =
    "{\"version\": 1, \"key\": \"chat 1\", \"name\": \"chat-1-abcd1234\", \"backend\": \"docker\","
    " \"state\": \"running\", \"created_at\": 1700000000.5, \"last_used_at\": 1700000100.25,"
    " \"exec_count\": 7, \"config_hash\": \"0123456789abcdef\", \"workspace\": \"/w/chat-1\","
    " \"workspace_owned\": true, \"config\": \"/etc/hutch.json\","
    " \"create_args\": [\"--memory\", \"1g\"], \"exec_via\": \"agent\", \"agent_pid\": 42,"
    " \"container_id\": \"c0ffee\", \"container_name\": \"hutch-sbx-chat-1\","
    " \"limits_via\": \"docker\", \"proxy_pid\": 77, \"proxy_start\": 123456,"
    " \"unknown_key\": 1}";

static void parse_full(void)
{
    struct session_record *r = NULL;
    hutch_error err = {0};
    CHECK(record_parse(full, sizeof full - 1, "t.json", &r, &err) == 0 && r, "parses: %s",
          err.message);
    if (!r)
        return;
    CHECK(r->kind == SESSION_KIND_DOCKER && r->state == RECORD_RUNNING, "kind and state");
    CHECK_STR(r->key, "chat 1", "key");
    CHECK(r->exec_count == 7 && r->created_at == 1700000000.5, "numbers");
    CHECK(r->workspace_owned && !r->adopted && !r->engine_exec, "flags");
    CHECK(r->agent_pid == 42 && r->proxy_pid == 77 && r->proxy_start == 123456, "pids");
    CHECK(record_exec_via(r) == EXEC_VIA_AGENT, "exec via the agent");
    CHECK(json_array_size(r->create_args) == 2, "create_args kept as given");

    /* Written and read again: the same record, without the unknown key. */
    char *text = record_format(r);
    CHECK(text && text[strlen(text) - 1] == '\n', "formatted with a final newline");
    CHECK(text && !strstr(text, "unknown_key"), "keys it does not know are dropped");
    struct session_record *again = NULL;
    CHECK(text && record_parse(text, strlen(text), "t.json", &again, &err) == 0, "reparses");
    if (again) {
        char *text2 = record_format(again);
        CHECK_STR(text2, text, "a round trip changes nothing");
        free(text2);
        record_free(again);
    }
    free(text);
    record_free(r);
}

static void kinds(void)
{
    static const char host[] =
        "{\"key\": \"main\", \"backend\": \"host\", \"state\": \"stopped\"}";
    static const char adopted[] = "{\"key\": \"bot\", \"backend\": \"docker\", \"state\": "
                                  "\"running\", \"adopted\": true, \"exec_via\": \"engine\"}";
    struct session_record *r = NULL;
    CHECK(record_parse(host, sizeof host - 1, "h", &r, NULL) == 0 &&
              record_exec_via(r) == EXEC_VIA_HOST && r->state == RECORD_STOPPED,
          "host session: on the host");
    record_free(r);
    r = NULL;
    CHECK(record_parse(adopted, sizeof adopted - 1, "a", &r, NULL) == 0 &&
              record_exec_via(r) == EXEC_VIA_ENGINE && r->adopted,
          "adopted container: through the engine");
    char *text = r ? record_format(r) : NULL;
    CHECK(text && strstr(text, "\"exec_via\": \"engine\""), "adopted is written as engine");
    free(text);
    record_free(r);
}

static void damaged(void)
{
    static const char *const bad[] = {
        "not json",
        "[1, 2]",
        "{\"key\": \"k\", \"backend\": \"vm\", \"state\": \"running\"}",
        "{\"key\": \"k\", \"backend\": \"native\", \"state\": \"dreaming\"}",
        "{\"backend\": \"native\", \"state\": \"running\"}",
        "{\"key\": \"k\", \"backend\": \"native\", \"state\": \"running\", \"workspace\": 5}",
        "{\"key\": \"k\", \"backend\": \"docker\", \"state\": \"running\", \"exec_via\": \"ssh\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct session_record *r = NULL;
        hutch_error err = {0};
        int rc = record_parse(bad[i], strlen(bad[i]), "/s/record.json", &r, &err);
        CHECK(rc < 0 && !r && strstr(err.message, "/s/record.json is damaged") &&
                  strstr(err.message, "hutch session rm"),
              "damaged record %zu refused with the way out: %s", i, err.message);
    }
}

int main(void)
{
    parse_full();
    kinds();
    damaged();
    return tap_done();
}
