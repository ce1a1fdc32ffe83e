/* hutch-init --reap: PID 1 of a native one-shot run once its command
 * started (reap.c). */
#ifndef HUTCH_AGENT_REAP_H
#define HUTCH_AGENT_REAP_H

/* Runs as PID 1 until the command (pid COMMAND, decimal) ends; with
 * proxy_socket (or NULL), starts the network bridge to it first. Returns
 * only when it cannot start. */
int reap_main(const char *command, const char *proxy_socket);

#endif
