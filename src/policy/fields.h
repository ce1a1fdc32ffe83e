/* The field table generated from fields_list.h, and the typed setters that
 * every way of changing a policy goes through. */
#ifndef HUTCH_FIELDS_H
#define HUTCH_FIELDS_H

#include <jansson.h>

#include "base/error.h"
#include "policy/policy.h"

enum storage {
    S_ENUM,     /* int index into choices */
    S_STRING,   /* char *, NULL when unset */
    S_BOOL,     /* bool */
    S_SIZE,     /* uint64_t bytes */
    S_DURATION, /* uint64_t milliseconds; seconds in the config file */
    S_COUNT,    /* uint64_t */
    S_CPUS,     /* double */
    S_NUMBER,   /* double */
    S_LIST,     /* struct strlist; the config replaces it, a flag appends */
    S_ENV,      /* struct strlist of NAME=VALUE */
};

typedef int (*normalize_fn)(const char *in, char **out);

struct field {
    enum field_id id;
    bool per_run;      /* every session exec may give it anew (fields_list.h: scope) */
    unsigned enforced; /* ENF_* backends that apply this restriction; 0: none is */
    const char *key;
    const char *flag;
    const char *metavar;
    enum storage storage;
    size_t offset;
    const char *const *choices;
    normalize_fn normalize;
    const char *expected;
    int shadow;
    const char *help;
    hutch_key_info info; /* the public view (hutch_policy_key_at) */
};

extern const struct field fields[FIELD_COUNT];

const struct field *field_by_key(const char *key);
const struct field *field_by_flag(const char *flag);

/* True when key names a group of fields ("limits", "docker"). */
bool field_group_exists(const char *group);

/* The keys directly below group ("" for the top), comma-separated. */
void field_group_children(const char *group, char *buf, size_t len);

/* Sets a field from text (a flag value or hutch_policy_set). Lists append.
 * where names the source in messages ("--memory", "limits.memory"). */
int field_set_text(struct hutch_policy *p, const struct field *f, const char *text,
                   const char *where, hutch_error *err);

/* The --sandbox flag: none, host, spawn, native, docker or docker:NAME. */
int field_set_sandbox_flag(struct hutch_policy *p, const char *text, hutch_error *err);

/* Sets a field from a config file value. Lists and env replace. */
int field_set_json(struct hutch_policy *p, const struct field *f, json_t *value,
                   const char *where, hutch_error *err);

/* The field's current value in config-file form. */
json_t *field_to_json(const struct hutch_policy *p, const struct field *f);
/* The JSON text of field_to_json's value as jansson writes it (compact),
 * into buf[len] or a literal, where the value has one obvious form (true
 * and false, whole numbers, plain ASCII text, empty lists): asking jansson
 * for these costs more than all the rest on every command (the session's
 * fingerprint). NULL: the value needs jansson (reals, escapes, items). */
const char *field_plain_json(const struct hutch_policy *p, const struct field *f, char *buf,
                             size_t len);

/* A value shown in an error message: quoted, escaped and shortened. */
void quote_for_message(const char *text, size_t len, char *buf, size_t buflen);

/* Path helpers shared with the config loader. */
int norm_host_path(const char *in, char **out);
int norm_domain(const char *in, char **out);
bool env_name_valid(const char *name, size_t len);

#endif
