#include "drivers/docker/build.h"

struct build_progress {
    int fd;     /* -1: nowhere */
    bool quiet; /* only the tail, at the end of a failed build */
    struct strlist tail; /* the last lines, shown when a quiet build fails */
    char error[1024];
};

static void remember(struct build_progress *bp, const char *text)
{
    if (bp->tail.len >= 20) {
        free(bp->tail.items[0]);
        memmove(bp->tail.items, bp->tail.items + 1, (bp->tail.len - 1) * sizeof(char *));
        bp->tail.len--;
        bp->tail.items[bp->tail.len] = NULL;
    }
    strlist_push(&bp->tail, text);
}

static void on_build_line(void *ctx, json_t *line)
{
    struct build_progress *bp = ctx;
    const char *text = json_string_value(json_object_get(line, "stream"));
    const char *error = json_string_value(json_object_get(line, "error"));
    if (text) {
        remember(bp, text);
        /* Progress only: an fd that cannot take it does not stop the build. */
        if (bp->fd >= 0 && !bp->quiet)
            (void)write_all(bp->fd, text, strlen(text));
    }
    if (error)
        fmt_trunc(bp->error, sizeof bp->error, "%s", error); /* for a message */
}

/* The labels as the query parameter: JSON, percent-encoded. */
static char *label_query(const struct build_request *req, hutch_error *err)
{
    json_t *labels = json_pack("{s:s, s:s, s:s}", "hutch.managed", "true", "hutch.kind",
                               req->kind, "hutch.tag", req->tag);
    if (labels && req->labels)
        json_object_update(labels, req->labels);
    autofree char *text = labels ? json_dumps(labels, JSON_COMPACT) : NULL;
    json_decref(labels);
    if (!text) {
        error_set(err, HUTCH_E_INVALID, "the image's tag %s is not UTF-8 text", req->tag);
        return NULL;
    }
    size_t size = 3 * strlen(text) + 4;
    char *escaped = malloc(size);
    if (!escaped) {
        error_set(err, HUTCH_E_SYSTEM, "out of memory");
        return NULL;
    }
    engine_escape(text, escaped, size); /* room for every byte escaped: never cut */
    return escaped;
}

int docker_build(struct engine *e, const struct build_request *req, struct build_context *ctx,
                 hutch_error *err)
{
    const char *dockerfile = req->dockerfile ? req->dockerfile : "Dockerfile";
    if (context_pack(req->dir, dockerfile, ctx, err) < 0)
        return -1;
    char tag[512], file[512], path[3072];
    engine_escape(req->tag, tag, sizeof tag);
    engine_escape(dockerfile, file, sizeof file);
    autofree char *labels = label_query(req, err);
    if (!labels)
        return -1;
    if (fmt_checked(err, path, sizeof path, "/build?t=%s&dockerfile=%s&labels=%s&rm=1&forcerm=1%s",
                    tag, file, labels, req->no_cache ? "&nocache=1" : "") < 0) {
        error_prefix(err, "the build request for %s (it names the directory: build from a "
                          "shorter path)",
                     req->tag);
        return -1;
    }
    struct build_progress bp = {.fd = req->progress_fd, .quiet = req->quiet};
    long status = 0;
    int r = engine_stream(e, "POST", path, ctx->tar, "application/x-tar", on_build_line, &bp,
                          &status, err);
    if (r == 0 && (status != 200 || bp.error[0])) {
        if (bp.fd >= 0 && bp.quiet)
            for (size_t i = 0; i < bp.tail.len; i++)
                (void)write_all(bp.fd, bp.tail.items[i], strlen(bp.tail.items[i]));
        r = error_set(err, HUTCH_E_INVALID, "building %s failed: %s", req->tag,
                      bp.error[0] ? bp.error : "the Docker engine refused the build");
    }
    strlist_clear(&bp.tail);
    return r;
}

int docker_image_exists(struct engine *e, const char *name, hutch_error *err)
{
    json_t *reply;
    int found = engine_inspect(e, ENGINE_IMAGE, name, &reply, err);
    json_decref(reply);
    return found;
}
