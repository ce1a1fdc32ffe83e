/* A bump allocator over one block the caller owns: the first allocations of
 * a short-lived hutch come from a static block next to its data instead of
 * musl's heap, whose first pages and system calls cost more than the work
 * on this path (docs/bench.md, run 7; src/base/arena_malloc.c).
 *
 * Blocks are 16-byte aligned and at most ARENA_BLOCK_MAX bytes. Their sizes
 * live apart from them, in the caller's table: writing past a block cannot
 * change what the arena believes. Freeing or resizing a pointer that is not
 * a live block of the arena (freed twice, never allocated, inside a block)
 * aborts. Freeing the newest block gives its room back; freeing any other
 * keeps its room (it is never handed out again). The newest block grows in
 * place while there is room. Safe from any thread. */
#ifndef HUTCH_ARENA_H
#define HUTCH_ARENA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARENA_ALIGN 16
#define ARENA_BLOCK_MAX (16u << 10)

struct arena {
    unsigned char *base; /* ARENA_ALIGN-aligned */
    size_t size;
    /* One entry per ARENA_ALIGN bytes of base: a live block's size + 1 at
     * its first unit, else 0. */
    uint16_t *sizes;
    _Atomic size_t top; /* bytes handed out from base */
};

#define ARENA_INIT(block, table)                                                               \
    {                                                                                          \
        .base = (block), .size = sizeof(block), .sizes = (table),                              \
    }
/* The table ARENA_INIT needs for a block of n bytes. */
#define ARENA_TABLE_LEN(n) ((n) / ARENA_ALIGN)

/* A block of n bytes; NULL when n is over ARENA_BLOCK_MAX or the arena has
 * no room for it. */
void *arena_alloc(struct arena *a, size_t n);
bool arena_owns(const struct arena *a, const void *p);
/* What arena_alloc or arena_resize was last asked for p. */
size_t arena_block_size(const struct arena *a, const void *p);
void arena_free(struct arena *a, void *p);
/* Makes p hold n bytes without moving it: false when n is over
 * ARENA_BLOCK_MAX or needs room past p's end that is not free (p is then
 * unchanged). */
bool arena_resize(struct arena *a, void *p, size_t n);

#endif
