/* The Docker Engine's multiplexed stream (attach and exec without a TTY):
 * frames of an 8-byte header [stream, 0, 0, 0, big-endian uint32 length]
 * (1 = stdout, 2 = stderr, 3 = the engine's own errors) and a payload.
 * The parser is incremental: bytes arrive in arbitrary pieces and payloads
 * are handed on as they come, so no frame is ever held whole in memory. */
#ifndef HUTCH_DOCKER_FRAMES_H
#define HUTCH_DOCKER_FRAMES_H

#include <stddef.h>
#include <stdint.h>

struct frame_parser {
    unsigned char header[8];
    size_t header_len;
    int stream;          /* of the frame being read */
    uint32_t length;     /* its whole payload */
    uint32_t remaining;  /* payload bytes still to come */
    int error;           /* a malformed header was seen */
};

/* Streams as handed to a sink. */
enum {
    FRAME_STDOUT = 1, /* also 0, stdin echoed */
    FRAME_STDERR = 2,
    FRAME_ENGINE = 3, /* the engine's own message ("systemerr"): never the command's output */
};

/* A piece of a frame's payload, and where it lies in its frame. */
struct frame_piece {
    int stream;          /* FRAME_STDOUT, FRAME_STDERR or FRAME_ENGINE */
    const char *data;
    size_t len;          /* > 0 */
    uint32_t offset;     /* of data in the frame's payload */
    uint32_t frame_len;  /* the frame's whole payload */
};

typedef void (*frame_sink)(void *ctx, const struct frame_piece *piece);

void frame_parser_init(struct frame_parser *p);

/* Consumes len bytes. Returns 0, or -1 once the stream is malformed. */
int frame_parser_feed(struct frame_parser *p, const char *data, size_t len, frame_sink sink,
                      void *ctx);

#endif
