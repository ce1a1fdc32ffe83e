/* libFuzzer target: the JSON5 reader must never crash or leak, must read
 * back what jansson writes of any value it read, and must read every plain
 * JSON document as jansson does (JSON is JSON5). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json5_error err;
    struct json5_options opts = {.nonfinite = (size & 1) != 0};
    json_t *v = json5_loadb((const char *)data, size, &opts, &err);
    free(opts.found);
    if (v) {
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (text) {
            json_t *again = json5_loadb(text, strlen(text), NULL, &err);
            if (!again || !json_equal(v, again))
                abort(); /* what jansson writes must read back the same */
            json_decref(again);
            free(text);
        }
    } else if (err.at.line < 1 || err.at.column < 1 || err.text[0] == '\0') {
        abort(); /* every refusal says where and why */
    }
    /* jansson stops reading at a NUL byte ("1\0" is 1): not comparable. */
    json_error_t jerr;
    json_t *strict = memchr(data, 0, size) ? NULL : json_loadb((const char *)data, size,
                                JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (strict) {
        /* Nesting jansson takes and this reader refuses: its only limit. */
        bool too_deep = !v && strstr(err.text, "nested deeper") != NULL;
        if (!too_deep && (!v || !json_equal(v, strict)))
            abort();
        json_decref(strict);
    }
    json_decref(v);
    return 0;
}
