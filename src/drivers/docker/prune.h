/* Removing the images hutch made and no longer needs: a skill's older
 * builds (hutch-skill-NAME:* tags of the same skill directory, all but the
 * newest) and dangling images (a tag built again moved away from them).
 * Only images labelled hutch.managed=true are looked at; images are removed
 * by tag (an image with other tags stays) and never forced, so one that a
 * container still uses is kept, and reported. */
#ifndef HUTCH_DOCKER_PRUNE_H
#define HUTCH_DOCKER_PRUNE_H

#include <jansson.h>

#include "drivers/docker/engine.h"

struct prune_scope {
    /* Repository names (hutch-skill-weather, hutch-image) to look at, or
     * NULL: all. Dangling images count under the tag they were built as. */
    const char *const *names;
    /* A skill build: only that directory's images, no dangling ones, and
     * keep is its current tag (else the newest image of each skill is). */
    const char *skill_dir;
    const char *keep;
    bool dry_run;
};

/* [{"name", "id", "reason": "old skill image" or "dangling", "removed",
 * "error": null or why it was kept}], in the engine's order; NULL with err
 * set when the engine could not list its images. */
json_t *docker_prune(struct engine *e, const struct prune_scope *scope, hutch_error *err);

/* An image name as Docker shows it: without Podman's "docker.io/library/"
 * or "localhost/" in front. */
const char *image_short_name(const char *name);

#endif
