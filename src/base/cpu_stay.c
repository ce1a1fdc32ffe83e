#include "base/cpu_stay.h"

#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

void cpu_stay_here(struct cpu_stay *stay)
{
    stay->pinned = false;
    /* More than CPU_SETSIZE CPUs: the mask does not fit, so no pin. */
    if (sched_getaffinity(0, sizeof stay->allowed, &stay->allowed) < 0 ||
        CPU_COUNT(&stay->allowed) < 2)
        return;
    /* By its system call: sched_getcpu() would look the vDSO up (base/util.h,
     * clock_read). */
    unsigned cpu_id;
    int cpu = syscall(SYS_getcpu, &cpu_id, NULL, NULL) == 0 ? (int)cpu_id : -1;
    if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &stay->allowed))
        return;
    cpu_set_t here;
    CPU_ZERO(&here);
    CPU_SET(cpu, &here);
    stay->pinned = sched_setaffinity(0, sizeof here, &here) == 0;
}

void cpu_stay_release(const struct cpu_stay *stay)
{
    if (!stay->pinned || sched_setaffinity(0, sizeof stay->allowed, &stay->allowed) == 0)
        return;
    /* The old CPUs went away meanwhile (a cpuset changed, a CPU went
     * offline): every CPU, which the kernel narrows to those allowed. */
    cpu_set_t all;
    memset(&all, 0xff, sizeof all);
    (void)sched_setaffinity(0, sizeof all, &all);
}

void cpu_stay_releasep(struct cpu_stay *stay)
{
    cpu_stay_release(stay);
    stay->pinned = false;
}
