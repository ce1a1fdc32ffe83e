/* The session record: what hutch keeps about one session between calls,
 * as a typed struct. This file's .c is the only place that reads or
 * writes its on-disk form (record.json, docs/sessions.md#state); every
 * other part of hutch uses the fields. */
#ifndef HUTCH_SESSION_RECORD_H
#define HUTCH_SESSION_RECORD_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "base/error.h"
#include "base/strlist.h"

/* Which kind of sandbox serves the session. */
enum session_kind {
    SESSION_KIND_HOST,   /* unsandboxed: sandbox mode off, the main session under non-main */
    SESSION_KIND_NATIVE,
    SESSION_KIND_DOCKER,
};
const char *session_kind_name(enum session_kind k);

/* What the record says happened last (the sandbox may since have gone:
 * session_probe() tells the state as it is now). */
enum record_state {
    RECORD_CREATING,
    RECORD_RUNNING,
    RECORD_STOPPED,
    RECORD_FAILED,
};
const char *record_state_name(enum record_state s);

/* How commands reach the sandbox: its agent's socket, or the Engine API's
 * exec (adopted containers, containers of a TCP engine). Host sessions run
 * on the host. */
enum exec_via {
    EXEC_VIA_AGENT,
    EXEC_VIA_ENGINE,
    EXEC_VIA_HOST,
};

/* Its text fields (char *) but key are listed once in record.c's
 * text_fields, which frees, reads and writes them: a new one goes there.
 * Any other new field goes into record_digest too (else a command that
 * changes only it would not write the record). */
struct session_record {
    char *key, *name;
    enum session_kind kind;
    enum record_state state;
    double created_at, last_used_at;
    long long exec_count;
    char config_hash[17];
    char *workspace;
    bool workspace_owned;
    char *workspace_image;   /* limits.disk: the image file of its filesystem */
    char *config;            /* the config file it was created with */
    json_t *create_args;     /* the CLI options it was created with (owned) */
    char *failure;           /* state failed: why */
    char *setup_output;      /* setupCommand's output, when it said something */
    char *limits_via;        /* cgroup-v2, cgroup-v1, docker, none */
    /* native */
    pid_t init_pid;
    unsigned long long init_start;
    struct strlist cgroup_dirs;
    /* The process that must be found serving the agent's socket; 0: none
     * known (the record was made by an older hutch). */
    pid_t agent_pid;
    /* docker */
    bool adopted;            /* docker:NAME: never stopped or removed by hutch */
    bool engine_exec;        /* commands go through the Engine API's exec */
    char *engine;            /* the engine's address, NULL for the default */
    char *container_id, *container_name;
    /* Where commands start and the tools' workspace (adopted: /workspace
     * when the container has it, else its own working directory). */
    char *workdir;
    /* Sessions reached through the Engine API: the directory of the agent
     * hutch runs in the container for tool calls (docs/docker.md), removed
     * with the session. */
    char *agent_dir;
    /* the allowlist's proxy */
    pid_t proxy_pid;
    unsigned long long proxy_start;
};

enum exec_via record_exec_via(const struct session_record *r);

/* Parses record.json's text; path names the file in errors. */
int record_parse(const char *text, size_t len, const char *path, struct session_record **out,
                 hutch_error *err);
/* Writes the on-disk form to fd: indented JSON with sorted keys and a
 * final newline, len bytes. -1 with errno on a failed write or no memory. */
int record_write(const struct session_record *r, int fd, size_t *len);
/* The record as a JSON object (status output), without create_args. */
json_t *record_to_json(const struct session_record *r);

/* A fingerprint of everything in r but the usage counters (exec_count,
 * last_used_at): equal when nothing else changed. */
uint64_t record_digest(const struct session_record *r);

struct session_record *record_new(void);
void record_free(struct session_record *r);

/* Replaces a string field with a copy of value (NULL clears it). */
int record_set(char **field, const char *value);

/* The native sandbox's fields, when it is gone. */
void record_forget_native(struct session_record *r);
void record_forget_proxy(struct session_record *r);

#endif
