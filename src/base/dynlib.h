/* Optional libraries loaded on first use with dlopen (libcurl for the docker
 * backend, libmicrohttpd for hutch mcp --http): a struct of function
 * pointers filled from the library, or the reason it cannot be. */
#ifndef HUTCH_DYNLIB_H
#define HUTCH_DYNLIB_H

#include <pthread.h>
#include <stddef.h>

#include "base/error.h"

struct dynlib_symbol {
    size_t offset; /* of the function pointer in the api struct */
    const char *name;
};
#define DYNLIB_SYMBOL(type, field, name) {offsetof(type, field), name}

struct dynlib {
    pthread_once_t once;         /* PTHREAD_ONCE_INIT */
    const char *const *sonames;  /* tried in order; NULL-terminated */
    const char *label;           /* "libcurl", for messages */
    const char *needed_by;       /* "the docker backend needs libcurl" */
    const char *fix;             /* how to install it */
    const struct dynlib_symbol *symbols;
    size_t n_symbols;
    void *api;                   /* the struct the symbols fill */
    int loaded;                  /* 1 ok, -1 failed */
    hutch_error error;           /* when loaded < 0 */
};

/* The initializer of a struct dynlib: the api struct and symbol table it
 * fills, its name and what needs it, how to install it, and the sonames to
 * try in order. */
#define DYNLIB(api_, symbols_, label_, needed_by_, fix_, ...)                                 \
    {.once = PTHREAD_ONCE_INIT,                                                              \
     .sonames = (const char *const[]){__VA_ARGS__, NULL},                                    \
     .label = label_,                                                                        \
     .needed_by = needed_by_,                                                                \
     .fix = fix_,                                                                            \
     .symbols = symbols_,                                                                    \
     .n_symbols = sizeof(symbols_) / sizeof(symbols_)[0],                                    \
     .api = &(api_)}

/* Opens the library and fills d->api: 0, or -1 with d->loaded and d->error
 * set. For the load function that dynlib_get runs once. */
int dynlib_load(struct dynlib *d);

/* Runs load once (dynlib_load and whatever the library wants then); then
 * d->api, or NULL with *err the reason. */
const void *dynlib_get(struct dynlib *d, void (*load)(void), hutch_error *err);

/* dynlib_get with nothing to do after dlopen: the library's getter. */
#define DYNLIB_GETTER(getter, api_type, lib)                                                  \
    static void getter##_load(void)                                                          \
    {                                                                                        \
        (void)dynlib_load(&(lib));                                                           \
    }                                                                                        \
    const api_type *getter(hutch_error *err)                                                 \
    {                                                                                        \
        return dynlib_get(&(lib), getter##_load, err);                                       \
    }

#endif
