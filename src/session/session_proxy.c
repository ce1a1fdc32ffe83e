/* A session's allowlist proxy (src/net/proxy.h): started with the session's
 * sandbox, kept while the session lives, started again when it died,
 * stopped with the session. Its record keys are proxy_pid and proxy_start. */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include "net/proxy.h"
#include "base/result.h"
#include "session/session.h"

static void audit_path(const struct session *s, char *out, size_t len)
{
    (void)!fmt_fits(out, len, "%s/audit.log", s->dir); /* "" (names nothing) if too long */
}

static pid_t live_proxy(const struct session *s)
{
    pid_t pid = s->record->proxy_pid;
    unsigned long long start = s->record->proxy_start;
    if (pid <= 0 || start == 0 || session_pid_start_time(pid) != start)
        return -1;
    return pid;
}

void session_proxy_stop(struct session *s)
{
    if (!s->record)
        return;
    pid_t pid = live_proxy(s);
    if (pid > 0)
        (void)kill(pid, SIGKILL); /* its connections die with it (PDEATHSIG) */
    record_forget_proxy(s->record);
    char sock[PATH_MAX + 32];
    if (str_join_fits(sock, sizeof sock, s->runtime_dir, "/" PROXY_SOCKET_NAME, NULL))
        (void)unlink(sock);
}

int session_proxy_ensure(struct session *s, const struct hutch_policy *p, hutch_error *err)
{
    if (p->network.mode != NET_ALLOW) {
        if (s->record->proxy_pid > 0)
            session_proxy_stop(s);
        return 0;
    }
    if (live_proxy(s) > 0)
        return 0;
    session_proxy_stop(s);
    if (mkdir(s->runtime_dir, 0700) < 0 && errno != EEXIST)
        return error_sys(err, errno, "cannot create %s", s->runtime_dir);
    char log_path[PATH_MAX + 16];
    audit_path(s, log_path, sizeof log_path);
    autoclose int events =
        TEMP_FAILURE_RETRY(open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (events < 0)
        return error_sys(err, errno, "cannot open %s", log_path);
    /* The runtime directory is the sandbox's too (its agent's socket): the
     * proxy's socket is made through this descriptor, never through a path
     * the sandbox could redirect. Only root and the sandbox reach it (the
     * session's directory is 0700), so any user may connect. */
    autoclose int dir_fd =
        TEMP_FAILURE_RETRY(open(s->runtime_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (dir_fd < 0)
        return error_sys(err, errno, "cannot open %s", s->runtime_dir);
    struct net_proxy_spec spec = {
        .policy = p,
        .dir_fd = dir_fd,
        .dir = s->runtime_dir,
        .socket_mode = 0666,
        .socket_uid = (uid_t)-1,
        .socket_gid = (gid_t)-1,
        .events_fd = events,
        .session = s->key,
        .detach = true,
    };
    pid_t pid;
    if (net_proxy_start(&spec, &pid, err) < 0) {
        error_prefix(err, "session %s: cannot start the network proxy", s->key);
        return -1;
    }
    s->record->proxy_pid = pid;
    s->record->proxy_start = session_pid_start_time(pid);
    return 0;
}

off_t session_audit_offset(const struct session *s)
{
    char log_path[PATH_MAX + 16];
    audit_path(s, log_path, sizeof log_path);
    struct stat st;
    return stat(log_path, &st) == 0 ? st.st_size : 0;
}

void session_proxy_report(const struct session *s, off_t offset, hutch_result *r)
{
    char log_path[PATH_MAX + 16];
    audit_path(s, log_path, sizeof log_path);
    autoclose int fd = TEMP_FAILURE_RETRY(open(log_path, O_RDONLY | O_CLOEXEC));
    struct strlist hosts = {0};
    if (fd >= 0)
        (void)net_proxy_denied_since(fd, offset, 64, &hosts);
    result_take_network_denied(r, &hosts);
    strlist_clear(&hosts);
}
