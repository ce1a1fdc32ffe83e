#include "base/approval.h"

#include <pthread.h>

#include "base/util.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static hutch_approval_fn *handler;
static void *handler_ctx;

HUTCH_API void hutch_set_approval_handler(hutch_approval_fn *fn, void *ctx)
{
    pthread_mutex_lock(&lock);
    handler = fn;
    handler_ctx = ctx;
    pthread_mutex_unlock(&lock);
}

/* A handler's words go into one-line messages and the audit log. */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

int approval_ask(hutch_approval_request *req, const struct approval_hook *hook, char *reason,
                 size_t len)
{
    req->size = sizeof *req;
    struct approval_hook h = {0};
    if (hook && hook->fn) {
        h = *hook;
    } else {
        pthread_mutex_lock(&lock);
        h = (struct approval_hook){.fn = handler, .ctx = handler_ctx};
        pthread_mutex_unlock(&lock);
    }
    if (!h.fn) {
        fmt_trunc(reason, len,
                  "approval.require has \"%s\" and no approval handler is set: set one with "
                  "hutch_set_approval_handler(), or take the entry out of approval.require",
                  req->rule);
        return 0;
    }
    char said[APPROVAL_REASON_MAX] = "";
    /* Fail closed: only the one answer approves. */
    if (h.fn(req, said, sizeof said, h.ctx) == HUTCH_APPROVE)
        return 1;
    said[sizeof said - 1] = '\0';
    one_line(said);
    fmt_trunc(reason, len, "%s", said[0] ? said : "the approval handler refused it");
    return 0;
}
