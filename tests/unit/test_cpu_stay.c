/* Staying on one CPU for a session command's start (src/base/cpu_stay.h):
 * the pin is one CPU, the one the thread is on; release gives back exactly
 * the CPUs it had, or all it may use when those are gone; one allowed CPU
 * is never pinned. */
#include <sched.h>
#include <string.h>

#include "base/cpu_stay.h"
#include "tap.h"

static cpu_set_t mask_now(void)
{
    cpu_set_t m;
    CPU_ZERO(&m);
    sched_getaffinity(0, sizeof m, &m);
    return m;
}

static void test_pin_and_release(const cpu_set_t *start)
{
    struct cpu_stay stay;
    cpu_stay_here(&stay);
    CHECK(stay.pinned, "a thread with %d CPUs is pinned", CPU_COUNT(start));
    cpu_set_t pinned = mask_now();
    CHECK(CPU_COUNT(&pinned) == 1, "to one CPU");
    CHECK(CPU_ISSET(sched_getcpu(), &pinned), "the one it runs on");
    CHECK(CPU_EQUAL(&stay.allowed, start), "and it keeps the CPUs it had");
    cpu_stay_release(&stay);
    cpu_set_t back = mask_now();
    CHECK(CPU_EQUAL(&back, start), "release gives them all back");
}

static void test_auto_release(const cpu_set_t *start)
{
    {
        auto_cpu_stay struct cpu_stay stay;
        cpu_stay_here(&stay);
    }
    cpu_set_t back = mask_now();
    CHECK(CPU_EQUAL(&back, start), "auto_cpu_stay releases at the end of its scope");
}

static void test_gone_cpus_fall_back_to_all(const cpu_set_t *start)
{
    struct cpu_stay stay;
    cpu_stay_here(&stay);
    /* As if a cpuset change took the old CPUs away: none of them exists. */
    CPU_ZERO(&stay.allowed);
    CPU_SET(CPU_SETSIZE - 1, &stay.allowed);
    cpu_stay_release(&stay);
    cpu_set_t back = mask_now(), both;
    CPU_AND(&both, &back, start);
    /* Every CPU the kernel allows: at least those it had (all of them,
     * unless the test itself was started on fewer). */
    CHECK(CPU_EQUAL(&both, start) && CPU_COUNT(&back) >= 2,
          "CPUs that are gone: every CPU the thread may use");
    sched_setaffinity(0, sizeof *start, start);
}

static void test_one_cpu_is_left_alone(const cpu_set_t *start)
{
    int cpu = sched_getcpu();
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    sched_setaffinity(0, sizeof one, &one);
    struct cpu_stay stay;
    cpu_stay_here(&stay);
    CHECK(!stay.pinned, "a thread on one CPU is not pinned");
    cpu_stay_release(&stay);
    cpu_set_t after = mask_now();
    CHECK(CPU_EQUAL(&after, &one), "and release leaves its one CPU alone");
    sched_setaffinity(0, sizeof *start, start);
}

int main(void)
{
    cpu_set_t start = mask_now();
    if (CPU_COUNT(&start) < 2) {
        printf("1..0 # SKIP the pin needs two CPUs\n");
        return 0;
    }
    test_pin_and_release(&start);
    test_auto_release(&start);
    test_gone_cpus_fall_back_to_all(&start);
    test_one_cpu_is_left_alone(&start);
    return tap_done();
}
