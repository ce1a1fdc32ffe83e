/* The session record's on-disk form (src/session/record.c). */
#include "session/record.h"
#include "tap.h"

#include <sys/mman.h>
#include <unistd.h>

/* What record_write puts in a file, as a string (NULL if it failed or
 * said another length than it wrote). */
static char *record_text(const struct session_record *r)
{
    int fd = memfd_create("record", MFD_CLOEXEC);
    size_t len = 0;
    char *text = NULL;
    if (fd >= 0 && record_write(r, fd, &len) == 0 && lseek(fd, 0, SEEK_END) == (off_t)len &&
        (text = calloc(1, len + 1)) && pread(fd, text, len, 0) != (ssize_t)len) {
        free(text);
        text = NULL;
    }
    if (fd >= 0)
        close(fd);
    return text;
}

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
    char *text = record_text(r);
    CHECK(text && text[strlen(text) - 1] == '\n', "formatted with a final newline");
    CHECK(text && !strstr(text, "unknown_key"), "keys it does not know are dropped");
    struct session_record *again = NULL;
    CHECK(text && record_parse(text, strlen(text), "t.json", &again, &err) == 0, "reparses");
    if (again) {
        char *text2 = record_text(again);
        CHECK_STR(text2, text, "a round trip changes nothing");
        free(text2);
        record_free(again);
    }
    free(text);
    record_free(r);
}

/* Longer than the page it is written through: all of it, in order. */
static void long_record(void)
{
    struct session_record *r = record_new();
    char big[9000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[0] = 'A';
    big[sizeof big - 2] = 'Z';
    CHECK(r && record_set(&r->key, "k") == 0 && record_set(&r->setup_output, big) == 0,
          "a record with long setup output");
    char *text = r ? record_text(r) : NULL;
    struct session_record *again = NULL;
    CHECK(text && strlen(text) > 9000 && record_parse(text, strlen(text), "t", &again, NULL) == 0,
          "written whole and reparsed");
    CHECK(again && again->setup_output && strcmp(again->setup_output, big) == 0,
          "the long field comes back unchanged");
    record_free(again);
    free(text);
    record_free(r);
}

/* What decides between writing the usage counters and the whole record. */
static void digests(void)
{
    struct session_record *r = NULL;
    CHECK(record_parse(full, sizeof full - 1, "t.json", &r, NULL) == 0 && r, "parses");
    if (!r)
        return;
    uint64_t d = record_digest(r);
    r->exec_count += 5;
    r->last_used_at += 60;
    CHECK(record_digest(r) == d, "the usage counters are not in it");
    r->proxy_pid = 78;
    CHECK(record_digest(r) != d, "a new proxy changes it");
    r->proxy_pid = 77;
    CHECK(record_digest(r) == d, "and back");
    r->state = RECORD_STOPPED;
    CHECK(record_digest(r) != d, "the state changes it");
    r->state = RECORD_RUNNING;
    (void)record_set(&r->limits_via, NULL);
    CHECK(record_digest(r) != d, "a text field changes it (even to nothing)");
    (void)record_set(&r->limits_via, "docker");
    CHECK(record_digest(r) == d, "and back");
    CHECK(strlist_push(&r->cgroup_dirs, "/sys/fs/cgroup/x") == 0 && record_digest(r) != d,
          "a cgroup changes it");
    strlist_clear(&r->cgroup_dirs);
    json_array_append_new(r->create_args, json_string("--rw"));
    CHECK(record_digest(r) != d, "the options it was created with change it");
    record_free(r);
    /* The same text read twice (the second read is a copy): the same record. */
    struct session_record *a = NULL, *b = NULL;
    CHECK(record_parse(full, sizeof full - 1, "t.json", &a, NULL) == 0 &&
              record_parse(full, sizeof full - 1, "t.json", &b, NULL) == 0 && a && b && a != b,
          "read twice");
    CHECK(a && b && record_digest(a) == record_digest(b) && a->exec_count == b->exec_count &&
              a->create_args != b->create_args && json_equal(a->create_args, b->create_args),
          "two equal records that share nothing");
    record_free(a);
    record_free(b);
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
    char *text = r ? record_text(r) : NULL;
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
    long_record();
    digests();
    damaged();
    return tap_done();
}
