/* Finding processes by an entry of their initial environment: how the agent
 * (and the bash tool) kill the processes of a command that left its process
 * group (setsid, a double fork) but kept the tag its environment got. */
#ifndef HUTCH_PROCTAG_H
#define HUTCH_PROCTAG_H

/* Sends sig to every process (but the caller) whose initial environment
 * holds exactly the entry `entry` ("NAME=VALUE"). Through a pidfd opened
 * before the environment is read, so a pid reused meanwhile is never hit. */
void proctag_signal(const char *entry, int sig);

#endif
