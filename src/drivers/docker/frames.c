#include "drivers/docker/frames.h"

#include <string.h>

void frame_parser_init(struct frame_parser *p)
{
    memset(p, 0, sizeof *p);
}

int frame_parser_feed(struct frame_parser *p, const char *data, size_t len, frame_sink sink,
                      void *ctx)
{
    while (len > 0 && !p->error) {
        if (p->remaining == 0) {
            size_t take = sizeof p->header - p->header_len;
            if (take > len)
                take = len;
            memcpy(p->header + p->header_len, data, take);
            p->header_len += take;
            data += take;
            len -= take;
            if (p->header_len < sizeof p->header)
                break;
            p->header_len = 0;
            unsigned char stream = p->header[0];
            if (stream > 3 || p->header[1] || p->header[2] || p->header[3]) {
                p->error = 1;
                break;
            }
            /* 0 (stdin echo) counts as stdout; 3 is the engine's own error
             * text (systemerr), which is the engine's, not the command's. */
            p->stream = stream == 0 ? FRAME_STDOUT : stream;
            p->length = (uint32_t)p->header[4] << 24 | (uint32_t)p->header[5] << 16 |
                        (uint32_t)p->header[6] << 8 | p->header[7];
            p->remaining = p->length;
            continue;
        }
        size_t take = len < p->remaining ? len : p->remaining;
        struct frame_piece piece = {
            .stream = p->stream,
            .data = data,
            .len = take,
            .offset = p->length - p->remaining,
            .frame_len = p->length,
        };
        sink(ctx, &piece);
        p->remaining -= (uint32_t)take;
        data += take;
        len -= take;
    }
    return p->error ? -1 : 0;
}
