/* Building images: the context packed by context.c, POSTed to /build. */
#ifndef HUTCH_DOCKER_BUILD_H
#define HUTCH_DOCKER_BUILD_H

#include <stdio.h>

#include "drivers/docker/context.h"
#include "drivers/docker/engine.h"

struct build_request {
    const char *dir;
    const char *dockerfile; /* relative to dir; "Dockerfile" when NULL */
    const char *tag;
    const char *kind;       /* label hutch.kind of the image */
    json_t *labels;         /* more labels (an object of strings), or NULL */
    bool no_cache;
    int progress_fd;        /* where the build's output goes as it comes, or -1 */
    bool quiet;             /* progress_fd gets only the last lines of a build that fails */
};

/* Builds and tags the image, labelled hutch.managed=true, hutch.kind and
 * hutch.tag (the tag it was built as, which stays when the tag moves to
 * another image): so hutch image prune removes only what hutch made. The
 * build's own error message is passed on. */
int docker_build(struct engine *e, const struct build_request *req, struct build_context *ctx,
                 hutch_error *err);

/* 1 when the image exists, 0 when not, -1 on error. */
int docker_image_exists(struct engine *e, const char *name, hutch_error *err);

#endif
