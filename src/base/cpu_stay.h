/* Keeping a short exchange between hutch's own processes on one CPU.
 *
 * A command in a session is a chain of wake-ups: hutch sends the request,
 * the agent forks, the command runs and exits, the agent reports, hutch
 * wakes. Left alone, the scheduler puts every woken or new process on an
 * idle CPU, so each step crosses CPUs, and waking an idle CPU is what costs
 * most on virtual machines (docs/bench.md, run 6: 12-16% of a session
 * command's time). Only hutch's own processes stay: the command gets back
 * the agent's CPUs before its exec, so nothing of the pin reaches the
 * command, its children, or what it reads of its affinity
 * (docs/sessions.md, "Where commands run"). */
#ifndef HUTCH_CPU_STAY_H
#define HUTCH_CPU_STAY_H

#include <sched.h>
#include <stdbool.h>

struct cpu_stay {
    cpu_set_t allowed; /* the thread's CPUs before the pin */
    bool pinned;
};

/* Pins the calling thread to the CPU it runs on, if it may run on more than
 * one; stay->pinned says whether it did. Never fails: without the pin the
 * exchange is only slower. */
void cpu_stay_here(struct cpu_stay *stay);

/* Gives the calling thread back the CPUs it had before cpu_stay_here (all
 * CPUs it may use, if those are gone). System calls only, no allocation:
 * the agent's vfork child calls it on the pin it inherited. */
void cpu_stay_release(const struct cpu_stay *stay);

/* For __attribute__((cleanup)). */
void cpu_stay_releasep(struct cpu_stay *stay);
#define auto_cpu_stay __attribute__((cleanup(cpu_stay_releasep)))

#endif
