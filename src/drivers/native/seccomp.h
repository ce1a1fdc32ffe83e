/* The seccomp filter, built at compile time by seccomp_gen.c. */
#ifndef HUTCH_NATIVE_SECCOMP_H
#define HUTCH_NATIVE_SECCOMP_H

/* Loads the filter into the calling thread (no_new_privs must be set).
 * Async-signal-safe: runs in the sandbox's child right before exec. */
int seccomp_lock_down(void);

/* Instructions in the filter, for hutch doctor. */
unsigned seccomp_filter_length(void);

#endif
