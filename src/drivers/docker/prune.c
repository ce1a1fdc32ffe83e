#include "drivers/docker/prune.h"

#include <ctype.h>
#include <time.h>

#define SKILL_REPO_PREFIX "hutch-skill-"

const char *image_short_name(const char *name)
{
    static const char *const prefixes[] = {"docker.io/library/", "localhost/"};
    for (size_t i = 0; name && i < ARRAY_SIZE(prefixes); i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
            return name + strlen(prefixes[i]);
    return name;
}

/* The repository of a tag: what comes before its last ':' after the last
 * '/' (a registry's port is not a tag). false when it does not fit. */
static bool repo_of(const char *tag, char *repo, size_t size)
{
    const char *slash = strrchr(tag, '/');
    const char *colon = strrchr(slash ? slash : tag, ':');
    size_t n = colon ? (size_t)(colon - tag) : strlen(tag);
    if (n >= size)
        return false;
    memcpy(repo, tag, n);
    repo[n] = '\0';
    return true;
}

static bool in_scope(const struct prune_scope *s, const char *repo)
{
    if (!s->names)
        return true;
    for (size_t i = 0; s->names[i]; i++)
        if (strcmp(image_short_name(s->names[i]), repo) == 0)
            return true;
    return false;
}

struct image {
    json_t *item;           /* borrowed from the listing */
    const char *id;
    struct timespec created;
    bool precise;           /* created to the nanosecond (inspected) */
    int made;               /* made_by_hutch: 1, 0, or -1 not asked yet */
};

/* One hutch-skill-NAME tag of an image. */
struct skill_tag {
    struct image *image;
    const char *name; /* as the engine lists it */
    char repo[256];   /* short, without the tag */
    const char *dir;  /* hutch.skill.dir, "" for images of an older hutch */
    bool current;
};

/* RFC 3339 with nanoseconds, as the engines give an image's creation. */
static bool parse_time(const char *text, struct timespec *t)
{
    struct tm tm = {0};
    const char *p = text ? strptime(text, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!p)
        return false;
    long ns = 0;
    int digits = 0;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            if (digits < 9) {
                ns = ns * 10 + (*p - '0');
                digits++;
            }
    for (; digits < 9; digits++)
        ns *= 10;
    time_t sec = timegm(&tm);
    int hh, mm;
    if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &hh, &mm) == 2)
        sec -= (*p == '+' ? 1 : -1) * (time_t)(hh * 3600 + mm * 60);
    else if (*p != 'Z')
        return false;
    *t = (struct timespec){.tv_sec = sec, .tv_nsec = ns};
    return true;
}

/* The listing has seconds: images built within one need the inspected time. */
static void make_precise(struct engine *e, struct image *img)
{
    if (img->precise)
        return;
    json_t *reply;
    hutch_error ignored;
    if (engine_inspect(e, ENGINE_IMAGE, img->id, &reply, &ignored) == 1 &&
        parse_time(json_string_value(json_object_get(reply, "Created")), &img->created))
        img->precise = true;
    json_decref(reply);
}

static bool newer(const struct image *a, const struct image *b)
{
    if (a->created.tv_sec != b->created.tv_sec)
        return a->created.tv_sec > b->created.tv_sec;
    return a->created.tv_nsec > b->created.tv_nsec;
}

static bool same_group(const struct skill_tag *a, const struct skill_tag *b)
{
    return strcmp(a->repo, b->repo) == 0 && strcmp(a->dir, b->dir) == 0;
}

/* Marks the current tags: keep, or those of the newest image of each group. */
static void mark_current(struct engine *e, const struct prune_scope *s, struct skill_tag *tags,
                         size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s->keep) {
            tags[i].current = strcmp(image_short_name(tags[i].name), s->keep) == 0;
            continue;
        }
        /* The first tag of each group decides for the group. */
        size_t first = 0;
        while (!same_group(&tags[first], &tags[i]))
            first++;
        if (first != i)
            continue;
        struct image *best = tags[i].image;
        bool several = false;
        for (size_t j = i + 1; j < n; j++)
            several |= same_group(&tags[i], &tags[j]) && tags[j].image != best;
        for (size_t j = i; several && j < n; j++)
            if (same_group(&tags[i], &tags[j]))
                make_precise(e, tags[j].image);
        for (size_t j = i + 1; j < n; j++)
            if (same_group(&tags[i], &tags[j]) && newer(tags[j].image, best))
                best = tags[j].image;
        for (size_t j = i; j < n; j++)
            if (same_group(&tags[i], &tags[j]))
                tags[j].current = tags[j].image == best;
    }
}

/* Labels are inherited: an image built FROM one of hutch's carries its
 * hutch.managed too. One hutch built ends with the LABEL steps the build's
 * labels add (both engines record them in its history); an image built on
 * top ends with its own steps. */
static bool made_by_hutch(struct engine *e, const char *id)
{
    long status;
    json_t *reply = NULL;
    hutch_error ignored;
    bool made = false;
    if (engine_call_on(e, "GET", "/images/", id, "/history", NULL, &status, &reply, &ignored) ==
            0 &&
        status == 200) {
        size_t i;
        json_t *step;
        json_array_foreach(reply, i, step) {
            const char *by = json_string_value(json_object_get(step, "CreatedBy"));
            if (!by || !strstr(by, "#(nop)") || !strstr(by, " LABEL "))
                break;
            if (strstr(by, "hutch.managed")) {
                made = true;
                break;
            }
        }
    }
    json_decref(reply);
    return made;
}

static bool hutch_made(struct engine *e, struct image *img)
{
    if (img->made < 0)
        img->made = made_by_hutch(e, img->id);
    return img->made;
}

/* Removes one (or says it would): its entry in the answer, NULL when it
 * was gone already; *lost when the engine could not be asked. */
static json_t *remove_one(struct engine *e, const struct prune_scope *s, const char *name,
                          const char *shown, const char *id, const char *reason, bool *lost)
{
    hutch_error why = {0};
    bool removed = false;
    if (!s->dry_run) {
        long status;
        json_t *reply = NULL;
        if (engine_call_on(e, "DELETE", "/images/", name, "", NULL, &status, &reply, &why) < 0)
            *lost = true;
        else if (status == 404)
            shown = NULL; /* removed by someone else meanwhile */
        else if (status == 200)
            removed = true;
        else
            engine_failed(status, reply, &why, "kept %s", shown);
        json_decref(reply);
    }
    if (!shown)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:b, s:o}", "name", shown, "id", id, "reason",
                     reason, "removed", removed, "error",
                     why.message[0] ? json_string(why.message) : json_null());
}

static int add(json_t *out, json_t *entry)
{
    return entry && json_array_append_new(out, entry) < 0 ? -1 : 0;
}

json_t *docker_prune(struct engine *e, const struct prune_scope *s, hutch_error *err)
{
    long status;
    json_t *reply = NULL;
    if (engine_call(e, "GET",
                    "/images/json?filters=%7B%22label%22%3A%5B%22hutch.managed%3Dtrue%22%5D%7D",
                    NULL, &status, &reply, err) < 0)
        return NULL;
    if (status != 200 || !json_is_array(reply)) {
        engine_failed(status, reply, err, "cannot list the images");
        json_decref(reply);
        return NULL;
    }
    size_t n = json_array_size(reply), n_tags = 0;
    for (size_t i = 0; i < n; i++)
        n_tags += json_array_size(json_object_get(json_array_get(reply, i), "RepoTags"));
    autofree struct image *images = calloc(n + 1, sizeof *images);
    autofree struct skill_tag *tags = calloc(n_tags + 1, sizeof *tags);
    json_t *out = json_array();
    if (!images || !tags || !out) {
        json_decref(reply);
        json_decref(out);
        error_set(err, HUTCH_E_SYSTEM, "out of memory");
        return NULL;
    }
    bool lost = false;
    int r = 0;
    size_t t = 0;
    for (size_t i = 0; i < n && r == 0 && !lost; i++) {
        struct image *img = &images[i];
        img->item = json_array_get(reply, i);
        img->id = json_string_value(json_object_get(img->item, "Id"));
        img->made = -1;
        img->created.tv_sec = (time_t)json_integer_value(json_object_get(img->item, "Created"));
        json_t *labels = json_object_get(img->item, "Labels");
        const char *kind = json_string_value(json_object_get(labels, "hutch.kind"));
        json_t *repo_tags = json_object_get(img->item, "RepoTags");
        size_t j;
        json_t *tag;
        bool tagged = false;
        json_array_foreach(repo_tags, j, tag) {
            const char *name = json_string_value(tag);
            if (!name || strcmp(name, "<none>:<none>") == 0)
                continue; /* Docker 20.10 lists a dangling image so */
            tagged = true;
            struct skill_tag *st = &tags[t];
            const char *dir = json_string_value(json_object_get(labels, "hutch.skill.dir"));
            if (!kind || strcmp(kind, "skill") != 0 || !img->id ||
                !repo_of(image_short_name(name), st->repo, sizeof st->repo) ||
                strncmp(st->repo, SKILL_REPO_PREFIX, strlen(SKILL_REPO_PREFIX)) != 0 ||
                !in_scope(s, st->repo) || (s->skill_dir && (!dir || strcmp(dir, s->skill_dir))) ||
                !hutch_made(e, img))
                continue; /* not one of a skill's images that hutch built */
            st->image = img;
            st->name = name;
            st->dir = dir ? dir : "";
            t++;
        }
        /* A skill build looks at its own tags only. */
        if (tagged || !img->id || s->skill_dir)
            continue;
        const char *built_as = json_string_value(json_object_get(labels, "hutch.tag"));
        char repo[256];
        if ((s->names && (!built_as || !repo_of(image_short_name(built_as), repo, sizeof repo) ||
                          !in_scope(s, repo))) ||
            !hutch_made(e, img))
            continue;
        const char *hex = strncmp(img->id, "sha256:", 7) == 0 ? img->id + 7 : img->id;
        char shown[13];
        fmt_bounded(shown, "%.12s", hex);
        r = add(out, remove_one(e, s, img->id, shown, img->id, "dangling", &lost));
    }
    mark_current(e, s, tags, t);
    for (size_t i = 0; i < t && r == 0 && !lost; i++)
        if (!tags[i].current)
            r = add(out, remove_one(e, s, tags[i].name, image_short_name(tags[i].name),
                                    tags[i].image->id, "old skill image", &lost));
    json_decref(reply);
    if (r < 0) {
        json_decref(out);
        error_set(err, HUTCH_E_SYSTEM, "out of memory");
        return NULL;
    }
    return out;
}
