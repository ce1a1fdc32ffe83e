#include "drivers/docker/curl_loader.h"

#include <dlfcn.h>
#include <pthread.h>

static struct curl_api api;
static int loaded; /* 1 ok, -1 failed */
static hutch_error load_error; /* when loaded < 0 */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    static const char *const names[] = {"libcurl.so.4", "libcurl-gnutls.so.4", "libcurl.so"};
    void *lib = NULL;
    for (size_t i = 0; !lib && i < ARRAY_SIZE(names); i++)
        lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        error_set(&load_error, HUTCH_E_UNSUPPORTED,
                  "the docker backend needs libcurl (%s): install it with apt-get install libcurl4",
                  dlerror());
        loaded = -1;
        return;
    }
    /* POSIX guarantees a function pointer round-trips through void *. */
#define SYM(field, name)                                                                    \
    do {                                                                                    \
        *(void **)&api.field = dlsym(lib, name);                                            \
        if (!api.field) {                                                                   \
            error_set(&load_error, HUTCH_E_UNSUPPORTED, "libcurl lacks %s: it is too old", name); \
            loaded = -1;                                                                    \
            return;                                                                         \
        }                                                                                   \
    } while (0)
    SYM(global_init, "curl_global_init");
    SYM(easy_init, "curl_easy_init");
    SYM(easy_setopt, "curl_easy_setopt");
    SYM(easy_perform, "curl_easy_perform");
    SYM(easy_getinfo, "curl_easy_getinfo");
    SYM(easy_reset, "curl_easy_reset");
    SYM(easy_cleanup, "curl_easy_cleanup");
    SYM(easy_strerror, "curl_easy_strerror");
    SYM(slist_append, "curl_slist_append");
    SYM(slist_free_all, "curl_slist_free_all");
#undef SYM
    if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        error_set(&load_error, HUTCH_E_UNSUPPORTED, "libcurl could not be initialised");
        loaded = -1;
        return;
    }
    loaded = 1;
}

const struct curl_api *curl_api_load(hutch_error *err)
{
    pthread_once(&once, load);
    if (loaded < 0) {
        if (err)
            *err = load_error;
        return NULL;
    }
    return &api;
}
