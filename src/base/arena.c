#include "base/arena.h"

#include <stdlib.h>

_Static_assert(ARENA_BLOCK_MAX + 1 <= UINT16_MAX, "a block's size + 1 fits its table entry");

/* Even an empty block takes a unit: blocks are distinct. */
static size_t units_bytes(size_t n)
{
    return n ? (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1) : ARENA_ALIGN;
}

void *arena_alloc(struct arena *a, size_t n)
{
    if (n > ARENA_BLOCK_MAX)
        return NULL;
    size_t need = units_bytes(n);
    size_t top = atomic_load_explicit(&a->top, memory_order_relaxed);
    do {
        if (need > a->size - top)
            return NULL;
    } while (!atomic_compare_exchange_weak_explicit(&a->top, &top, top + need,
                                                    memory_order_relaxed, memory_order_relaxed));
    a->sizes[top / ARENA_ALIGN] = (uint16_t)(n + 1);
    return a->base + top;
}

bool arena_owns(const struct arena *a, const void *p)
{
    uintptr_t at = (uintptr_t)p, base = (uintptr_t)a->base;
    return at >= base && at < base + a->size;
}

/* p's offset from base, when p is a live block; else the heap is not what
 * its owner thinks: stop before anything more is written. */
static size_t live_block(const struct arena *a, const void *p)
{
    size_t offset = (size_t)((const unsigned char *)p - a->base);
    if (offset % ARENA_ALIGN != 0 || a->sizes[offset / ARENA_ALIGN] == 0)
        abort();
    return offset;
}

size_t arena_block_size(const struct arena *a, const void *p)
{
    return a->sizes[live_block(a, p) / ARENA_ALIGN] - 1u;
}

void arena_free(struct arena *a, void *p)
{
    size_t start = live_block(a, p);
    size_t end = start + units_bytes(a->sizes[start / ARENA_ALIGN] - 1u);
    a->sizes[start / ARENA_ALIGN] = 0;
    /* Only the newest block's room comes back: the CAS fails for any other. */
    (void)atomic_compare_exchange_strong_explicit(&a->top, &end, start, memory_order_relaxed,
                                                  memory_order_relaxed);
}

bool arena_resize(struct arena *a, void *p, size_t n)
{
    size_t start = live_block(a, p);
    if (n > ARENA_BLOCK_MAX)
        return false;
    size_t end = start + units_bytes(a->sizes[start / ARENA_ALIGN] - 1u);
    size_t new_end = start + units_bytes(n);
    if (new_end > end) {
        if (new_end > a->size ||
            !atomic_compare_exchange_strong_explicit(&a->top, &end, new_end,
                                                     memory_order_relaxed, memory_order_relaxed))
            return false; /* no room, or not the newest block */
    }
    a->sizes[start / ARENA_ALIGN] = (uint16_t)(n + 1);
    return true;
}
