/* libcurl, loaded with dlopen the first time the docker backend talks to an
 * engine: linking it costs every hutch start ~4.6 ms (33 shared libraries),
 * and only docker needs it. */
#ifndef HUTCH_DOCKER_CURL_LOADER_H
#define HUTCH_DOCKER_CURL_LOADER_H

#include <curl/curl.h>

#include "base/error.h"

struct curl_api {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *curl);
    CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
    void (*easy_reset)(CURL *curl);
    void (*easy_cleanup)(CURL *curl);
    const char *(*easy_strerror)(CURLcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *text);
    void (*slist_free_all)(struct curl_slist *list);
};

/* The loaded library (loaded once, kept for the process's life). */
const struct curl_api *curl_api_load(hutch_error *err);

#endif
