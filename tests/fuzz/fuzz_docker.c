/* libFuzzer target: the engine's attach-stream frame parser and the
 * .dockerignore matcher, on arbitrary bytes. The parser must give the same
 * streams whatever the chunking, and never read past what it was given. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/docker/context.h"
#include "drivers/docker/frames.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct tally {
    size_t bytes[4];
    uint32_t sum[4];
};

static void count(void *ctx, const struct frame_piece *f)
{
    struct tally *t = ctx;
    if (f->stream < FRAME_STDOUT || f->stream > FRAME_ENGINE || f->len == 0 ||
        f->offset + f->len > f->frame_len)
        abort();
    t->bytes[f->stream] += f->len;
    for (size_t i = 0; i < f->len; i++)
        t->sum[f->stream] = t->sum[f->stream] * 31u + (unsigned char)f->data[i];
}

static void frames(const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    size_t chunk = (size_t)data[0] % 13 + 1;
    data++, size--;
    struct frame_parser whole, pieces;
    struct tally a = {0}, b = {0};
    frame_parser_init(&whole);
    frame_parser_init(&pieces);
    int ra = frame_parser_feed(&whole, (const char *)data, size, count, &a);
    int rb = 0;
    for (size_t off = 0; off < size && rb == 0; off += chunk)
        rb = frame_parser_feed(&pieces, (const char *)data + off,
                               size - off < chunk ? size - off : chunk, count, &b);
    if (ra != rb || memcmp(&a, &b, sizeof a) != 0)
        abort(); /* chunking must not matter */
}

static void ignore(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return;
    memcpy(text, data, size);
    text[size] = '\0';
    struct ignore_rules rules;
    if (ignore_parse(text, &rules) == 0) {
        static const char *const paths[] = {"a", "a/b", "a/b/c.txt", ".git/config", "x/**/y",
                                            "node_modules/pkg/index.js"};
        for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
            (void)ignore_excluded(&rules, paths[i]);
        for (size_t i = 0; i < rules.patterns.len; i++)
            (void)ignore_excluded(&rules, rules.patterns.items[i]);
    }
    ignore_free(&rules);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    frames(data, size);
    ignore(data, size);
    return 0;
}
