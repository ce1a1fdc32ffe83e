/* libarchive and libcrypto, loaded with dlopen the first time a build
 * context is packed: linked, they would cost every start of a program using
 * libhutch ~1.3 ms (a dozen shared libraries), and only image and skill
 * builds need them. */
#ifndef HUTCH_DOCKER_CONTEXT_LOADER_H
#define HUTCH_DOCKER_CONTEXT_LOADER_H

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "base/error.h"

struct archive_api {
    struct archive *(*write_new)(void);
    int (*write_set_format_pax_restricted)(struct archive *a);
    int (*write_open_FILE)(struct archive *a, FILE *f);
    int (*write_header)(struct archive *a, struct archive_entry *entry);
    la_ssize_t (*write_data)(struct archive *a, const void *buf, size_t len);
    int (*write_close)(struct archive *a);
    int (*write_free)(struct archive *a);
    const char *(*error_string)(struct archive *a);
    struct archive_entry *(*entry_new)(void);
    void (*entry_free)(struct archive_entry *entry);
    void (*entry_copy_stat)(struct archive_entry *entry, const struct stat *st);
    void (*entry_set_pathname)(struct archive_entry *entry, const char *name);
    void (*entry_set_symlink)(struct archive_entry *entry, const char *target);
    void (*entry_set_uid)(struct archive_entry *entry, la_int64_t uid);
    void (*entry_set_gid)(struct archive_entry *entry, la_int64_t gid);
};

struct crypto_api {
    EVP_MD_CTX *(*md_ctx_new)(void);
    void (*md_ctx_free)(EVP_MD_CTX *ctx);
    const EVP_MD *(*sha256)(void);
    int (*digest_init_ex)(EVP_MD_CTX *ctx, const EVP_MD *type, ENGINE *impl);
    int (*digest_update)(EVP_MD_CTX *ctx, const void *data, size_t len);
    int (*digest_final_ex)(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *len);
};

/* The loaded libraries (loaded once, kept for the process's life). */
const struct archive_api *archive_api_load(hutch_error *err);
const struct crypto_api *crypto_api_load(hutch_error *err);

#endif
