#include "drivers/docker/curl_loader.h"

#include "base/dynlib.h"

static struct curl_api api;
static const struct dynlib_symbol symbols[] = {
    DYNLIB_SYMBOL(struct curl_api, global_init, "curl_global_init"),
    DYNLIB_SYMBOL(struct curl_api, easy_init, "curl_easy_init"),
    DYNLIB_SYMBOL(struct curl_api, easy_setopt, "curl_easy_setopt"),
    DYNLIB_SYMBOL(struct curl_api, easy_perform, "curl_easy_perform"),
    DYNLIB_SYMBOL(struct curl_api, easy_getinfo, "curl_easy_getinfo"),
    DYNLIB_SYMBOL(struct curl_api, easy_reset, "curl_easy_reset"),
    DYNLIB_SYMBOL(struct curl_api, easy_cleanup, "curl_easy_cleanup"),
    DYNLIB_SYMBOL(struct curl_api, easy_strerror, "curl_easy_strerror"),
    DYNLIB_SYMBOL(struct curl_api, slist_append, "curl_slist_append"),
    DYNLIB_SYMBOL(struct curl_api, slist_free_all, "curl_slist_free_all"),
};

static struct dynlib lib_state =
    DYNLIB(api, symbols, "libcurl", "the docker backend needs libcurl",
           "install it with apt-get install libcurl4", "libcurl.so.4", "libcurl-gnutls.so.4",
           "libcurl.so");

static void load(void)
{
    if (dynlib_load(&lib_state) == 0 && api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        lib_state.loaded =
            error_set(&lib_state.error, HUTCH_E_UNSUPPORTED, "libcurl could not be initialised");
}

const struct curl_api *curl_api_load(hutch_error *err)
{
    return dynlib_get(&lib_state, load, err);
}
