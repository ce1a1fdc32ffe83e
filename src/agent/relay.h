/* hutch-init in a container that reaches the host only through the Engine
 * API's exec (an adopted container, or a session's on a TCP engine):
 * docs/docker.md, "Tools in adopted containers". There the agent is not
 * PID 1 but a process of its own serving DIR/agent.sock, started by the
 * first relay that finds none; each tool call is one exec of a relay, whose
 * standard input and output the host speaks through.
 *
 * The relay's standard input is a sequence of chunks, each an 8-byte header
 * (u8 kind, three zero bytes, u32 length in the machine's byte order) and
 * at most RELAY_CHUNK_MAX bytes: RELAY_AGENT bytes go to the agent as they
 * are; RELAY_AGENT_CONTENT bytes too, with a new pipe's read end passed on
 * their first byte (write's content descriptor), whose write end then gets
 * every RELAY_CONTENT chunk until RELAY_CONTENT_END. Its standard output is
 * what the agent sends, byte for byte, or one AT_ERROR when the relay could
 * not reach the agent. The end of its standard input is the host hanging
 * up: the relay closes the agent's connection (cancelling a call) and
 * exits. */
#ifndef HUTCH_AGENT_RELAY_H
#define HUTCH_AGENT_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#define RELAY_CHUNK_HEADER 8
#define RELAY_CHUNK_MAX (64u * 1024u)

enum relay_chunk {
    RELAY_AGENT = 1,
    RELAY_AGENT_CONTENT = 2,
    RELAY_CONTENT = 3,
    RELAY_CONTENT_END = 4,
};

/* The binary sits beside its directory: DIR-<build>.init. */
#define RELAY_BINARY_SUFFIX ".init"

/* --relay DIR: makes DIR (mode 0700, the caller's) when missing and
 * refuses one that is not a directory of the caller's only it can enter;
 * connects to DIR/agent.sock, starting the agent (hutch-init --socket
 * DIR/agent.sock --inherit-env, with --confine-commands when confine is
 * set) when nothing listens; then relays. Returns the exit status. */
int relay_main(const char *dir, bool confine);

/* --stop DIR: ends the agent serving DIR/agent.sock (SIGTERM, SIGKILL 3 s
 * later) and removes DIR without following symlinks, and every DIR-*.init.
 * Returns the exit status: 0 when nothing of it is left. */
int relay_stop(const char *dir);

#endif
