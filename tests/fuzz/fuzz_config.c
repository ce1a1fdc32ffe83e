/* libFuzzer target: the config loader must never crash, leak or accept a
 * document whose effective config does not load back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hutch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hutch_policy *p = hutch_policy_new();
    hutch_error err;
    if (hutch_policy_load_json(p, (const char *)data, size, "fuzz", &err) == 0) {
        char *text = hutch_policy_to_json(p);
        if (text) {
            hutch_policy *q = hutch_policy_new();
            if (hutch_policy_load_json(q, text, strlen(text), "again", &err) != 0)
                abort(); /* the effective config must always load back */
            hutch_policy_free(q);
            free(text);
        }
    }
    hutch_policy_free(p);
    return 0;
}
