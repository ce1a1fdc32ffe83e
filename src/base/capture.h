/* Where a command's output goes: kept up to a limit (capture), copied to an fd
 * up to a limit (relay), or written by the command itself (pass). Past the
 * limit, bytes are counted and discarded in the kernel (splice to /dev/null),
 * so memory stays bounded whatever the command prints. */
#ifndef HUTCH_CAPTURE_H
#define HUTCH_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "hutch.h"

struct sink {
    hutch_output_mode mode;
    int fd;          /* target of RELAY */
    uint64_t limit;  /* bytes kept or relayed */
    char *buf;
    size_t len, cap;
    uint64_t total;  /* bytes the command wrote */
    bool target_closed;
};

void sink_init(struct sink *s, hutch_output_mode mode, int fd, uint64_t limit);

/* Moves what pipe_fd has now into the sink. Returns >0 for bytes moved, 0 at
 * end of file, -1 with errno EAGAIN when nothing is ready, -1 on error.
 * Output past the limit is thrown away into *devnull_fd, opened on /dev/null
 * the first time (start it at -1; the caller closes it). */
long sink_pull(struct sink *s, int pipe_fd, int *devnull_fd);

/* Moves bytes that arrived some other way (a demultiplexed stream) into the
 * sink, under the same limit. */
void sink_push(struct sink *s, const char *data, size_t len);

/* Hands the kept bytes to out (NUL-terminated) and resets the sink. */
void sink_finish(struct sink *s, hutch_output *out);

void sink_free(struct sink *s);

#endif
