#include "base/dynlib.h"

#include <dlfcn.h>

int dynlib_load(struct dynlib *d)
{
    void *lib = NULL;
    for (size_t i = 0; !lib && d->sonames[i]; i++)
        lib = dlopen(d->sonames[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return d->loaded =
                   error_set(&d->error, HUTCH_E_UNSUPPORTED, "%s (%s): %s", d->needed_by,
                             dlerror(), d->fix);
    for (size_t i = 0; i < d->n_symbols; i++) {
        void *sym = dlsym(lib, d->symbols[i].name);
        if (!sym)
            return d->loaded = error_set(&d->error, HUTCH_E_UNSUPPORTED,
                                         "%s lacks %s: it is too old", d->label,
                                         d->symbols[i].name);
        /* POSIX guarantees a function pointer round-trips through void *. */
        memcpy((char *)d->api + d->symbols[i].offset, &sym, sizeof sym);
    }
    d->loaded = 1;
    return 0;
}

const void *dynlib_get(struct dynlib *d, void (*load)(void), hutch_error *err)
{
    pthread_once(&d->once, load);
    if (d->loaded < 0) {
        if (err)
            *err = d->error;
        return NULL;
    }
    return d->api;
}
