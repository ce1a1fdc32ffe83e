/* What a skill's Dockerfile itself says about how its image runs: whether
 * its final stage sets CMD or ENTRYPOINT, rather than inheriting them from
 * its base image (whose CMD is often a shell, or python3). A skill's own
 * CMD is its program, which gets ACTION and the arguments (skill.c). */
#ifndef HUTCH_DOCKER_DOCKERFILE_H
#define HUTCH_DOCKER_DOCKERFILE_H

#include <stdbool.h>

struct dockerfile_sets {
    bool cmd;
    bool entrypoint;
};

/* Reads the instructions as Docker splits them: parser directives (escape),
 * comments, continuation lines, instructions in any case. A stage FROM an
 * earlier stage of the same file inherits what that one set; ONBUILD
 * instructions are for other images. */
void dockerfile_scan(const char *text, struct dockerfile_sets *out);

#endif
