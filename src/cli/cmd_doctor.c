/* hutch doctor [--json]: what works on this machine, and why not (the
 * probes are the library's: hutch_doctor). */
#include <sys/utsname.h>

#include "cli/cli.h"

int cmd_doctor(int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return help_topic("doctor", stdout), 0;
        else
            return cli_error("unknown option %s (see 'hutch help doctor')", argv[i]);
    }
    /* Docker probes need libcurl, which lives in the companion; the same
     * probes of the other backends run there too. */
    if (!CLI_HAS_DOCKER && cli_docker_helper_present())
        return cli_exec_docker_helper();
    hutch_error err;
    autofree char *text = NULL;
    if (hutch_doctor(&text, &err) < 0)
        return cli_error("%s", err.message);
    json_t *doc = json_loads(text, 0, NULL);
    json_t *checks = json_object_get(doc, "checks");
    if (json) {
        autofree char *indented = json_dumps(doc, JSON_INDENT(2));
        if (indented)
            printf("%s\n", indented);
    } else {
        struct utsname u;
        uname(&u);
        printf("hutch %s on Linux %s (%s), running as uid %u%s\n\n", hutch_version(), u.release,
               u.machine, (unsigned)geteuid(), geteuid() == 0 ? " (root)" : "");
        const char *name;
        json_t *c;
        json_object_foreach(checks, name, c) {
            const char *detail = json_string_value(json_object_get(c, "detail"));
            printf("%-8s %-4s %s\n", name, json_is_true(json_object_get(c, "ok")) ? "ok" : "no",
                   detail ? detail : "");
        }
    }
    /* Ready when the default backend works. */
    int status = json_is_true(json_object_get(json_object_get(checks, "native"), "ok")) ? 0 : 1;
    json_decref(doc);
    return status;
}
