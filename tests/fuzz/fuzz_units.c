/* libFuzzer target: every quantity parser on arbitrary text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    uint64_t u;
    double d;
    if (parse_size(text, &u) == 0) {
        char buf[32];
        uint64_t again;
        if (!format_size(u, buf, sizeof buf) || parse_size(buf, &again) != 0 || again != u)
            abort(); /* formatting must round-trip */
    }
    (void)parse_duration_ms(text, &u);
    (void)parse_cpus(text, &d);
    (void)parse_count(text, &u);
    free(text);
    return 0;
}
