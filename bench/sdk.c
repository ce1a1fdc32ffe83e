/* The C side of bench/sdk.sh: the latency of a `read` tool call from C,
 * hutch_tool_call() in a loop against a warm session, each call timed on its
 * own. Prints one line in the format of the Node and Python drivers:
 *
 *   bench_sdk KEY PATH RUNS   ->   c median_ms=X p90_ms=Y runs=N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hutch.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s KEY PATH RUNS\n", argv[0]);
        return 2;
    }
    const char *key = argv[1];
    int runs = atoi(argv[3]);
    if (runs < 1) {
        fprintf(stderr, "bench_sdk: RUNS must be a positive number, not %s\n", argv[3]);
        return 2;
    }
    char args[4200];
    if (snprintf(args, sizeof args, "{\"path\":\"%s\"}", argv[2]) >= (int)sizeof args ||
        strpbrk(argv[2], "\"\\")) {
        fprintf(stderr, "bench_sdk: PATH must be short and have no quote or backslash\n");
        return 2;
    }
    hutch_policy *policy = hutch_policy_new();
    double *ms = calloc((size_t)runs, sizeof *ms);
    if (!policy || !ms)
        return 1;
    hutch_error err = {0};
    int rc = 0;
    for (int i = -20; i < runs && rc == 0; i++) { /* 20 warm-up calls */
        char *result = NULL;
        double start = now_ms();
        if (hutch_tool_call(policy, key, "read", args, &result, &err) < 0) {
            fprintf(stderr, "bench_sdk: read failed: %s\n", err.message);
            rc = 1;
        } else if (!strstr(result, "\"ok\":true")) {
            fprintf(stderr, "bench_sdk: read answered %s\n", result);
            rc = 1;
        }
        double took = now_ms() - start;
        free(result);
        if (i >= 0)
            ms[i] = took;
    }
    if (rc == 0) {
        qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
        double median = runs % 2 ? ms[runs / 2] : (ms[runs / 2 - 1] + ms[runs / 2]) / 2;
        printf("c median_ms=%.3f p90_ms=%.3f runs=%d\n", median, ms[(9 * runs + 9) / 10 - 1],
               runs);
    }
    free(ms);
    hutch_policy_free(policy);
    return rc;
}
