/* When sessions are pruned: idle longer than prune.idleHours, or older than
 * prune.maxAgeDays (0 disables either rule). Adopted containers never are. */
#include <fcntl.h>
#include <sys/stat.h>

#include "session/session.h"

const char *prune_reason(double now, double created_at, double last_used_at, double idle_hours,
                         double max_age_days, bool adopted, char *buf, size_t len)
{
    if (adopted)
        return NULL;
    double idle = (now - last_used_at) / 3600.0;
    double age = (now - created_at) / 86400.0;
    if (idle_hours > 0 && idle >= idle_hours) {
        fmt_trunc(buf, len, "idle %.1f h (prune.idleHours %g)", idle, idle_hours);
        return buf;
    }
    if (max_age_days > 0 && age >= max_age_days) {
        fmt_trunc(buf, len, "%.1f days old (prune.maxAgeDays %g)", age, max_age_days);
        return buf;
    }
    return NULL;
}

const char *session_prune_reason(const struct session *s, const struct hutch_policy *p,
                                 double now, char *buf, size_t len)
{
    if (!s->record)
        return NULL;
    return prune_reason(now, s->record->created_at, s->record->last_used_at,
                        p->prune.idle_hours, p->prune.max_age_days, s->record->adopted, buf,
                        len);
}

bool prune_due(double interval_seconds)
{
    char root[PATH_MAX - 32], stamp[PATH_MAX];
    if (session_state_root(root, sizeof root, NULL) < 0)
        return false;
    fmt_bounded(stamp, "%s/last-prune", root);
    struct stat st;
    if (stat(stamp, &st) == 0 && session_now() - (double)st.st_mtime < interval_seconds)
        return false;
    /* Whoever touches it first runs the pass; the others see it fresh. */
    autoclose int fd = TEMP_FAILURE_RETRY(open(stamp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    if (fd < 0)
        return false;
    return futimens(fd, NULL) == 0;
}
