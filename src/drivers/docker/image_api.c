/* The public image calls of libhutch (include/hutch.h): build, list,
 * remove and prune images on the engine, as hutch image does. */
#include "base/result.h"
#include "drivers/docker/build.h"
#include "drivers/docker/engine.h"
#include "drivers/docker/prune.h"
#include "policy/policy.h"

HUTCH_API int hutch_image_build(const hutch_policy *p, const char *dir, const char *dockerfile,
                                const char *tag, int flags, int progress_fd, hutch_error *err)
{
    hutch_error_clear(err);
    if (!p || !dir || !tag)
        return error_set(err, HUTCH_E_INVALID,
                         "hutch_image_build: policy, directory and tag are required");
    auto_engine struct engine e = {0};
    if (engine_open(&e, p->docker.host, err) < 0)
        return -1;
    struct build_request req = {.dir = dir,
                                .dockerfile = dockerfile,
                                .tag = tag,
                                .kind = "image",
                                .no_cache = flags & HUTCH_BUILD_NO_CACHE,
                                .progress_fd = progress_fd,
                                .quiet = flags & HUTCH_BUILD_QUIET};
    struct build_context ctx;
    int r = docker_build(&e, &req, &ctx, err);
    context_close(&ctx);
    return r;
}

/* Podman names images built from a short name docker.io/library/NAME (and
 * loaded ones localhost/NAME); show them as Docker does. */
static json_t *short_tags(json_t *tags)
{
    json_t *out = json_array();
    size_t i;
    json_t *tag;
    json_array_foreach(tags, i, tag)
        json_array_append_new(out, json_string(image_short_name(json_string_value(tag))));
    return out;
}

HUTCH_API int hutch_image_list(const hutch_policy *p, int all, char **json, hutch_error *err)
{
    if (api_json_in(json, err) < 0)
        return -1;
    if (!p)
        return error_set(err, HUTCH_E_INVALID, "hutch_image_list: a policy is required");
    auto_engine struct engine e = {0};
    if (engine_open(&e, p->docker.host, err) < 0)
        return -1;
    const char *path = all ? "/images/json"
                           : "/images/json?filters=%7B%22label%22%3A%5B%22hutch.managed%3Dtrue%22%5D%7D";
    long status;
    json_t *reply = NULL;
    int r = engine_call(&e, "GET", path, NULL, &status, &reply, err);
    if (r < 0 || (status != 200 && engine_failed(status, reply, err, "cannot list images") < 0)) {
        json_decref(reply);
        return -1;
    }
    json_t *out = json_array();
    size_t i;
    json_t *img;
    json_array_foreach(reply, i, img) {
        json_t *tags = json_object_get(img, "RepoTags");
        json_array_append_new(
            out, json_pack("{s:o, s:O, s:O, s:O}", "tags",
                           json_is_array(tags) ? short_tags(tags) : json_null(), "id",
                           json_object_get(img, "Id"), "size", json_object_get(img, "Size"),
                           "created", json_object_get(img, "Created")));
    }
    json_decref(reply);
    return api_json_out(out, json, err);
}

/* One name's outcome, {"name", "error"} (NULL when out of memory);
 * *reached is false when the engine could not be asked at all. */
static json_t *remove_one(struct engine *e, const char *name, bool *reached)
{
    long status;
    json_t *reply = NULL;
    hutch_error why = {0};
    *reached = engine_call_on(e, "DELETE", "/images/", name, "", NULL, &status, &reply, &why) == 0;
    if (*reached && status == 404)
        error_set(&why, HUTCH_E_INVALID,
                  "there is no image %s: see hutch image ls --all for the names", name);
    else if (*reached && status != 200)
        engine_failed(status, reply, &why, "cannot remove %s", name);
    json_decref(reply);
    return json_pack("{s:s, s:o}", "name", name, "error",
                     why.message[0] ? json_string(why.message) : json_null());
}

HUTCH_API int hutch_image_remove(const hutch_policy *p, const char *const *names, char **json,
                                 hutch_error *err)
{
    if (api_json_in(json, err) < 0)
        return -1;
    if (!p || !names)
        return error_set(err, HUTCH_E_INVALID,
                         "hutch_image_remove: a policy and the names are required");
    /* Each goes into the answer as a JSON string. */
    for (size_t i = 0; names[i]; i++) {
        json_t *text = json_string(names[i]);
        if (!text)
            return error_set(err, HUTCH_E_INVALID, "an image name is not UTF-8 text");
        json_decref(text);
    }
    auto_engine struct engine e = {0};
    if (engine_open(&e, p->docker.host, err) < 0)
        return -1;
    json_t *out = json_array();
    for (size_t i = 0; names[i]; i++) {
        bool reached;
        if (json_array_append_new(out, remove_one(&e, names[i], &reached)) < 0) {
            json_decref(out);
            return error_set(err, HUTCH_E_SYSTEM, "out of memory");
        }
        if (!reached)
            break; /* the engine went away: the rest would fail the same way */
    }
    return api_json_out(out, json, err);
}

HUTCH_API int hutch_image_prune(const hutch_policy *p, const char *const *names, int flags,
                                char **json, hutch_error *err)
{
    if (api_json_in(json, err) < 0)
        return -1;
    if (!p)
        return error_set(err, HUTCH_E_INVALID, "hutch_image_prune: a policy is required");
    if (flags & ~HUTCH_PRUNE_DRY_RUN)
        return error_set(err, HUTCH_E_INVALID,
                         "hutch_image_prune: unknown flags 0x%x (this libhutch knows "
                         "HUTCH_PRUNE_DRY_RUN)",
                         (unsigned)flags);
    auto_engine struct engine e = {0};
    if (engine_open(&e, p->docker.host, err) < 0)
        return -1;
    struct prune_scope scope = {.names = names && names[0] ? names : NULL,
                                .dry_run = flags & HUTCH_PRUNE_DRY_RUN};
    json_t *out = docker_prune(&e, &scope, err);
    return out ? api_json_out(out, json, err) : -1;
}
