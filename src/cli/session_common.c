/* What the session commands share: a session's policy (the config file,
 * then the options it was created with, then this call's options), handing
 * docker sessions to hutch-docker, and the automatic prune pass. */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cli/cli.h"
#include "cli/session_common.h"

/* Options fixed when a session is made cannot be given per call. */
static int refuse_session_settings(const struct policy_args *call, const char *command,
                                   hutch_error *err)
{
    const hutch_key_info *key;
    for (size_t i = 0; (key = policy_args_key_at(call, i)); i++) {
        if (!key->per_run)
            return cli_fail(err,
                            "%s is fixed when a session is created, so %s does not take it: "
                            "pass it to 'hutch session create', or set it in the config file "
                            "(the session is then recreated)",
                            policy_args_shown_at(call, i), command);
    }
    return 0;
}

static hutch_policy *policy_for(const char *key, struct policy_args *call, hutch_error *err)
{
    autofree char *config = NULL, *settings_text = NULL;
    if (hutch_session_origin(key, &config, &settings_text, err) < 0)
        return NULL;
    auto_policy_args struct policy_args pa = {0};
    pa.config_path = call->config_path ? call->config_path : config;
    pa.no_config = call->no_config;
    if (pa.config_path && pa.no_config)
        pa.config_path = call->config_path;
    json_t *settings = settings_text ? json_loads(settings_text, 0, NULL) : NULL;
    json_t *mine = policy_args_to_json(call);
    /* This call's own options come last: they win. The strings live in the
     * two lists until the policy is built. */
    hutch_policy *p = policy_args_add_json(&pa, settings, err) < 0 ||
                              policy_args_add_json(&pa, mine, err) < 0
                          ? NULL
                          : policy_args_build(&pa, err);
    json_decref(settings);
    json_decref(mine);
    return p;
}

hutch_policy *cli_session_policy(const char **key, struct policy_args *call, const char *command,
                                 hutch_error *err)
{
    if (command && refuse_session_settings(call, command, err) < 0)
        return NULL;
    hutch_policy *p = policy_for(*key, call, err);
    if (p && cli_policy_is(p, "perSession", "false") && strcmp(*key, HUTCH_SHARED_SESSION) != 0) {
        /* perSession false: every key shares one sandbox and workspace. */
        hutch_policy_free(p);
        *key = HUTCH_SHARED_SESSION;
        p = policy_for(*key, call, err);
    }
    /* A session this call creates keeps the config file it named, and
     * hutch session create's options. */
    autofree char *config = absolute_config_path(call->config_path);
    autofree char *settings = NULL;
    if (!command) {
        json_t *mine = policy_args_to_json(call);
        settings = json_dumps(mine, JSON_COMPACT);
        json_decref(mine);
    }
    if (p && hutch_policy_set_origin(p, config, settings, err) < 0) {
        hutch_policy_free(p);
        return NULL;
    }
    return p;
}

int cli_session_failed(const hutch_error *err)
{
    if (err->status == HUTCH_E_NO_DRIVER && !CLI_HAS_DOCKER)
        return cli_exec_docker_helper();
    return cli_error("%s", err->message);
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
    if (getenv("HUTCH_NO_AUTO_PRUNE") || !hutch_prune_due(300))
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
