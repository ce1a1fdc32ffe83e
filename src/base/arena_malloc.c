/* malloc, calloc, realloc and free of the static musl hutch (meson.build
 * links it with --wrap for each): small blocks come from a static arena
 * (base/arena.h) until it is full, everything else from musl's allocator.
 *
 * hutch exec is a process start in an agent's loop. musl's allocator maps
 * its first groups one page at a time and faults each page twice (read,
 * then write); on the benchmark's VM that was about 80 us of a 2.7 ms call
 * (docs/bench.md, run 7). The arena is in .bss: its pages are faulted only
 * as they are used, next to hutch's own data. At most its size is ever
 * kept from reuse, in a process of any length. Like musl's heap it keeps
 * block sizes out of the blocks' way and stops on a double or stray free
 * (base/arena.h); unlike it, a freed block is never reused but the newest. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "base/arena.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t count, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

/* A hutch exec takes about 40 KiB; blocks over ARENA_BLOCK_MAX (output
 * buffers) are musl's from the start. */
#define STARTUP_ARENA_SIZE (256u << 10)

static unsigned char startup_block[STARTUP_ARENA_SIZE] __attribute__((aligned(ARENA_ALIGN)));
static uint16_t startup_sizes[ARENA_TABLE_LEN(STARTUP_ARENA_SIZE)];
static struct arena startup = ARENA_INIT(startup_block, startup_sizes);

void *__wrap_malloc(size_t n)
{
    void *p = arena_alloc(&startup, n);
    return p ? p : __real_malloc(n);
}

void *__wrap_calloc(size_t count, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(count, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    if (n > ARENA_BLOCK_MAX)
        return __real_calloc(count, size); /* it asks malloc for more than the arena serves */
    void *p = __wrap_malloc(n);
    /* A freed newest block comes back with its old bytes. */
    return p ? memset(p, 0, n) : NULL;
}

void *__wrap_realloc(void *p, size_t n)
{
    if (!p)
        return __wrap_malloc(n);
    if (!arena_owns(&startup, p))
        return __real_realloc(p, n);
    if (arena_resize(&startup, p, n))
        return p;
    void *moved = __wrap_malloc(n);
    if (!moved)
        return NULL; /* p stays as it was */
    size_t old = arena_block_size(&startup, p);
    memcpy(moved, p, old < n ? old : n);
    arena_free(&startup, p);
    return moved;
}

void __wrap_free(void *p)
{
    if (!p)
        return;
    if (arena_owns(&startup, p))
        arena_free(&startup, p);
    else
        __real_free(p);
}
