/* The startup arena (src/base/arena.h) and the allocator the static hutch
 * is linked with (src/base/arena_malloc.c; this test is linked with the same
 * --wrap options, so malloc here is that allocator). */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/arena.h"
#include "tap.h"

static unsigned char block[4096] __attribute__((aligned(ARENA_ALIGN)));
static uint16_t sizes[ARENA_TABLE_LEN(sizeof block)];

/* Each test starts with an empty arena over block, as a new process does. */
static struct arena fresh(void)
{
    memset(sizes, 0, sizeof sizes);
    return (struct arena)ARENA_INIT(block, sizes);
}

static void test_blocks(void)
{
    struct arena a = fresh();
    unsigned char *p = arena_alloc(&a, 10), *q = arena_alloc(&a, 1);
    CHECK(p && q && (uintptr_t)p % ARENA_ALIGN == 0 && (uintptr_t)q % ARENA_ALIGN == 0,
          "blocks are aligned");
    CHECK(q >= p + 10, "and do not overlap");
    CHECK(arena_owns(&a, p) && arena_owns(&a, q), "the arena owns its blocks");
    int outside;
    CHECK(!arena_owns(&a, &outside) && !arena_owns(&a, block + sizeof block),
          "and nothing else");
    CHECK(arena_block_size(&a, p) == 10 && arena_block_size(&a, q) == 1, "each keeps its size");
    unsigned char *z = arena_alloc(&a, 0), *z2 = arena_alloc(&a, 0);
    CHECK(z && z2 && z != z2, "empty blocks are distinct");
}

static void test_free(void)
{
    struct arena a = fresh();
    void *p = arena_alloc(&a, 100), *q = arena_alloc(&a, 100);
    size_t top = a.top;
    arena_free(&a, p);
    CHECK(a.top == top, "freeing an older block keeps its room");
    arena_free(&a, q);
    CHECK(a.top < top, "freeing the newest gives its room back");
    CHECK(arena_alloc(&a, 100) == q, "and the next block takes it");
}

static void test_resize(void)
{
    struct arena a = fresh();
    void *p = arena_alloc(&a, 20);
    CHECK(arena_resize(&a, p, 30) && arena_block_size(&a, p) == 30,
          "a block grows within its padding");
    CHECK(arena_resize(&a, p, 500) && arena_block_size(&a, p) == 500,
          "the newest block grows in place");
    void *q = arena_alloc(&a, 8);
    CHECK(!arena_resize(&a, p, 600) && arena_block_size(&a, p) == 500,
          "an older block does not grow past its room");
    CHECK(arena_resize(&a, p, 5) && arena_block_size(&a, p) == 5, "any block shrinks");
    CHECK(!arena_resize(&a, q, sizeof block), "nothing grows past the arena's end");
}

static void test_full(void)
{
    struct arena a = fresh();
    CHECK(!arena_alloc(&a, sizeof block + 1), "a block larger than the arena does not fit");
    CHECK(!arena_alloc(&a, ARENA_BLOCK_MAX + 1) && !arena_alloc(&a, SIZE_MAX) &&
              !arena_alloc(&a, SIZE_MAX - 8),
          "nor one over ARENA_BLOCK_MAX or near SIZE_MAX");
    int n = 0;
    while (arena_alloc(&a, 100))
        n++;
    CHECK(n == (int)(sizeof block / 112), "a full arena says so (%d blocks)", n);
}

/* The sizes are not in the blocks' way. */
static void test_overrun_leaves_sizes(void)
{
    struct arena a = fresh();
    unsigned char *p = arena_alloc(&a, 16), *q = arena_alloc(&a, 16);
    size_t top = a.top;
    memset(p, 0xff, 48); /* past p, over q and the room after it */
    CHECK(arena_block_size(&a, q) == 16, "writing past a block leaves the next one's size");
    arena_free(&a, q);
    CHECK(a.top == top - 16, "and its free gives back its own room only");
}

/* 1 when f(arg) aborts in a child. */
static int aborts(void (*f)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        f();
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void free_twice(void)
{
    struct arena a = fresh();
    void *p = arena_alloc(&a, 10);
    arena_alloc(&a, 10);
    arena_free(&a, p);
    arena_free(&a, p);
}

static void free_inside(void)
{
    struct arena a = fresh();
    unsigned char *p = arena_alloc(&a, 100);
    arena_free(&a, p + 32);
}

static void free_unallocated(void)
{
    struct arena a = fresh();
    arena_alloc(&a, 10);
    arena_free(&a, block + 1024);
}

static void resize_freed(void)
{
    struct arena a = fresh();
    void *p = arena_alloc(&a, 10);
    arena_free(&a, p);
    arena_resize(&a, p, 20);
}

static void test_misuse_aborts(void)
{
    CHECK(aborts(free_twice), "freeing a block twice aborts");
    CHECK(aborts(free_inside), "so does freeing a pointer inside a block");
    CHECK(aborts(free_unallocated), "or one past the blocks handed out");
    CHECK(aborts(resize_freed), "and resizing a freed block");
}

/* Threads share the arena: no two blocks overlap. */
static struct arena shared;
static unsigned char shared_block[64 * 1024] __attribute__((aligned(ARENA_ALIGN)));
static uint16_t shared_sizes[ARENA_TABLE_LEN(sizeof shared_block)];

static void *fill(void *arg)
{
    unsigned char mark = (unsigned char)(uintptr_t)arg;
    unsigned char *mine[200];
    int n = 0;
    for (; n < 200; n++) {
        if (!(mine[n] = arena_alloc(&shared, 24)))
            break;
        memset(mine[n], mark, 24);
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 24; j++)
            if (mine[i][j] != mark)
                return (void *)1;
    return NULL;
}

static void test_threads(void)
{
    shared = (struct arena)ARENA_INIT(shared_block, shared_sizes);
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, fill, (void *)(i + 1));
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += r != NULL;
    }
    CHECK(bad == 0, "blocks of four threads at once do not overlap");
}

/* ---- the allocator of the static hutch ------------------------------------- */

/* Seen from outside: the compiler may not drop a malloc and free pair. */
static void *volatile escaped;

static void test_malloc(void)
{
    char *p = malloc(64);
    memset(p, 0x5a, 64);
    escaped = p;
    free(escaped);
    unsigned char *z = calloc(8, 8);
    int zero = 1;
    for (int i = 0; i < 64; i++)
        zero &= z[i] == 0;
    CHECK(zero, "calloc zeroes a block that was used before");
    free(z);

    char *grown = malloc(10);
    memcpy(grown, "0123456789", 10);
    char *other = malloc(10);
    grown = realloc(grown, 1000);
    CHECK(grown && memcmp(grown, "0123456789", 10) == 0, "realloc keeps the bytes when it moves");
    grown = realloc(grown, 100000);
    CHECK(grown && memcmp(grown, "0123456789", 10) == 0,
          "and when the block leaves the arena for the heap");
    memset(grown, 1, 100000);
    grown = realloc(grown, 200000);
    CHECK(grown && grown[99999] == 1, "a heap block grows as the heap's");
    free(grown);
    free(other);
    CHECK(realloc(NULL, 5) != NULL, "realloc(NULL) allocates");
    free(NULL);
    volatile size_t huge = SIZE_MAX / 2; /* volatile: the compiler sees the overflow too */
    CHECK(calloc(huge, 4) == NULL, "calloc refuses a size that overflows");
    unsigned char *big = calloc(1, 1 << 20);
    int big_zero = big != NULL;
    for (size_t i = 0; big && i < 1 << 20; i += 4096)
        big_zero &= big[i] == 0;
    CHECK(big_zero, "a large calloc is zeroed");
    free(big);

    /* Past the arena's end everything still works. */
    enum { N = 400 };
    char *kept[N];
    int ok = 1;
    for (int i = 0; i < N; i++) {
        kept[i] = malloc(1024);
        ok &= kept[i] != NULL;
        if (kept[i])
            memset(kept[i], i & 0xff, 1024);
    }
    for (int i = 0; i < N; i++)
        ok &= kept[i] && (unsigned char)kept[i][1023] == (i & 0xff);
    for (int i = N - 1; i >= 0; i--)
        free(kept[i]);
    CHECK(ok, "%d KiB of small blocks, more than the arena holds, stay apart", N);
}

int main(void)
{
    test_blocks();
    test_free();
    test_resize();
    test_full();
    test_overrun_leaves_sizes();
    test_misuse_aborts();
    test_threads();
    test_malloc();
    return tap_done();
}
