/* What hutch exec and hutch session share: a session's policy (the config
 * file, then the options it was created with, then this call's options),
 * handing docker sessions to hutch-docker, and the automatic prune pass. */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cli/cli.h"
#include "cli/session_common.h"
#include "base/error.h"
#include "policy/fields.h"

hutch_policy *session_open_policy(struct session *s, const char *key, bool lock,
                                  struct policy_args *call, const char *command, hutch_error *err)
{
    *s = (struct session){.lock_fd = -1}; /* closed by the caller either way */
    if (refuse_session_settings(call, command, err) < 0 || session_open_for(s, key, lock, err) < 0)
        return NULL;
    return session_policy(s, call, err);
}

int session_open_for(struct session *s, const char *key, bool lock, hutch_error *err)
{
    if (session_open(s, key, err) < 0)
        return -1;
    return lock ? session_lock(s, err) : session_load(s, err);
}

int cli_session_ensure(struct session *s, const hutch_policy *p, const struct session_use *use,
                       struct agent_conn *conn)
{
    hutch_error err = {0};
    if (session_ensure(s, p, use, conn, &err) < 0) {
        if (err.status == HUTCH_E_UNSUPPORTED && !CLI_HAS_DOCKER) {
            session_unlock(s);
            return cli_exec_docker_helper();
        }
        return cli_error("%s", err.message);
    }
    session_unlock(s);
    return 0;
}

hutch_policy *session_policy(const struct session *s, struct policy_args *call, hutch_error *err)
{
    auto_policy_args struct policy_args pa = {0};
    pa.config_path = call->config_path ? call->config_path : session_config_path(s);
    pa.no_config = call->no_config;
    if (pa.config_path && pa.no_config)
        pa.config_path = call->config_path;
    if (policy_args_add_json(&pa, session_create_args(s), err) < 0)
        return NULL;
    /* This call's own options come last: they win. */
    json_t *mine = policy_args_to_json(call);
    int r = policy_args_add_json(&pa, mine, err);
    hutch_policy *p = r < 0 ? NULL : policy_args_build(&pa, err);
    json_decref(mine);
    return p;
}

int refuse_session_settings(const struct policy_args *call, const char *command,
                            hutch_error *err)
{
    for (size_t i = 0; i < call->len; i++) {
        int id = policy_args_field_at(call, i);
        if (id >= 0 && !session_per_run_field((enum field_id)id))
            return error_set(err, HUTCH_E_INVALID,
                             "%s is fixed when a session is created, so %s does not take it: "
                             "pass it to 'hutch session create', or set it in the config file "
                             "(the session is then recreated)",
                             policy_args_shown_at(call, i), command);
    }
    return 0;
}

char *absolute_config_path(const char *path)
{
    if (!path)
        return NULL;
    char real[PATH_MAX];
    return strdup(realpath(path, real) ? real : path);
}

void maybe_prune_in_background(void)
{
    if (getenv("HUTCH_NO_AUTO_PRUNE") || !prune_due(300))
        return;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        return;
    self[n] = '\0';
    /* Detached twice over: nobody waits for it, and it outlives us. */
    pid_t child = fork();
    if (child == 0) {
        if (fork() != 0)
            _exit(0);
        setsid();
        int null_fd = open("/dev/null", O_RDWR);
        if (null_fd >= 0) {
            dup2(null_fd, 0);
            dup2(null_fd, 1);
            dup2(null_fd, 2);
        }
        char *argv[] = {self, (char *)"prune", (char *)"--quiet", NULL};
        execv(self, argv);
        _exit(127);
    }
    if (child > 0)
        (void)TEMP_FAILURE_RETRY(waitpid(child, NULL, 0));
}
