#include "mcp/mhd_loader.h"

#include <dlfcn.h>
#include <pthread.h>

static struct mhd_api api;
static int loaded; /* 1 ok, -1 failed */
static hutch_error load_error; /* when loaded < 0 */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    static const char *const names[] = {"libmicrohttpd.so.12", "libmicrohttpd.so"};
    void *lib = NULL;
    for (size_t i = 0; !lib && i < ARRAY_SIZE(names); i++)
        lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        error_set(&load_error, HUTCH_E_UNSUPPORTED,
                  "hutch mcp --http needs libmicrohttpd (%s): install it with apt-get install "
                  "libmicrohttpd12, or use MCP over stdio (without --http)",
                  dlerror());
        loaded = -1;
        return;
    }
    /* POSIX guarantees a function pointer round-trips through void *. */
#define SYM(field, name)                                                                           \
    do {                                                                                           \
        *(void **)&api.field = dlsym(lib, name);                                                   \
        if (!api.field) {                                                                          \
            error_set(&load_error, HUTCH_E_UNSUPPORTED, "libmicrohttpd lacks %s: it is too old",   \
                      name);                                                                       \
            loaded = -1;                                                                           \
            return;                                                                                \
        }                                                                                          \
    } while (0)
    SYM(start_daemon, "MHD_start_daemon");
    SYM(stop_daemon, "MHD_stop_daemon");
    SYM(get_daemon_info, "MHD_get_daemon_info");
    SYM(lookup_connection_value, "MHD_lookup_connection_value");
    SYM(create_response_from_buffer, "MHD_create_response_from_buffer");
    SYM(create_response_from_callback, "MHD_create_response_from_callback");
    SYM(add_response_header, "MHD_add_response_header");
    SYM(queue_response, "MHD_queue_response");
    SYM(destroy_response, "MHD_destroy_response");
    SYM(add_connection, "MHD_add_connection");
    SYM(set_connection_option, "MHD_set_connection_option");
#undef SYM
    loaded = 1;
}

const struct mhd_api *mhd_api_load(hutch_error *err)
{
    pthread_once(&once, load);
    if (loaded < 0) {
        if (err)
            *err = load_error;
        return NULL;
    }
    return &api;
}
