/* hutch-init's one-shot mode: PID 1 of a docker run's container (oneshot.c). */
#ifndef HUTCH_AGENT_ONESHOT_H
#define HUTCH_AGENT_ONESHOT_H

/* Runs argv as the only child of a non-dumpable init, after the network
 * bridge to proxy_path when it is not NULL; returns the exit status for
 * hutch-init: the command's, 128+N when signal N ended it, 125 when it
 * could not be started, 126/127 when it could not be executed. */
int oneshot_run(char **argv, const char *proxy_path);

#endif
