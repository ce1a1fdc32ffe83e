/* The tools' definitions for the host: names, descriptions, annotations
 * and argument schemas (JSON Schema 2020-12), and a validator that checks
 * arguments against those same schemas. */
#ifndef HUTCH_SESSION_TOOL_SCHEMA_H
#define HUTCH_SESSION_TOOL_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "hutch.h"

struct tool_def {
    const char *name;
    const char *title;
    const char *description;
    const char *schema; /* JSON text */
    bool read_only, destructive, idempotent;
};

const struct tool_def *tool_defs(size_t *n);
const struct tool_def *tool_def_named(const char *name);

/* The schema as a JSON object, with "$schema" set. */
json_t *tool_def_schema(const struct tool_def *d);

/* 0 when args fit the tool's schema; else -1 and one line in err
 * ("unknown argument arguments.network (this tool takes ...)"). */
int tool_args_check(const struct tool_def *d, const json_t *args, hutch_error *err);

#endif
