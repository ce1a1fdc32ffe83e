/* Build time only: the helpers of the seccomp filter generator
 * (seccomp_gen.c), shared with the network proxy's filter
 * (src/net/proxy_filter_gen.c), which the same program writes with
 * `seccomp_gen --proxy OUTPUT.h`. */
#ifndef HUTCH_NATIVE_SECCOMP_GEN_H
#define HUTCH_NATIVE_SECCOMP_GEN_H

#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>

#define GEN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Adds an unconditional rule for each name; a name this libseccomp or
 * architecture does not know is skipped. */
int gen_add_names(scmp_filter_ctx ctx, uint32_t action, const char *const *names, size_t n);

/* Allows syscall nr when argument arg (its low 32 bits) is one of values. */
int gen_allow_values(scmp_filter_ctx ctx, int nr, unsigned arg, const uint32_t *values,
                     size_t n);

/* The network proxy's filter (proxy_filter_gen.c). */
int gen_build_proxy(scmp_filter_ctx ctx);

#endif
