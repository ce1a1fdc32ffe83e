#include "drivers/docker/context_loader.h"

#include "base/dynlib.h"

/* Each pointer has the type of the function it is loaded from. */
#define SAME_TYPE(api, field, fn)                                                           \
    _Static_assert(__builtin_types_compatible_p(__typeof__(((struct api *)0)->field),      \
                                                __typeof__(&fn)),                           \
                   #fn)
SAME_TYPE(archive_api, write_new, archive_write_new);
SAME_TYPE(archive_api, write_set_format_pax_restricted, archive_write_set_format_pax_restricted);
SAME_TYPE(archive_api, write_open_FILE, archive_write_open_FILE);
SAME_TYPE(archive_api, write_header, archive_write_header);
SAME_TYPE(archive_api, write_data, archive_write_data);
SAME_TYPE(archive_api, write_close, archive_write_close);
SAME_TYPE(archive_api, write_free, archive_write_free);
SAME_TYPE(archive_api, error_string, archive_error_string);
SAME_TYPE(archive_api, entry_new, archive_entry_new);
SAME_TYPE(archive_api, entry_free, archive_entry_free);
SAME_TYPE(archive_api, entry_copy_stat, archive_entry_copy_stat);
SAME_TYPE(archive_api, entry_set_pathname, archive_entry_set_pathname);
SAME_TYPE(archive_api, entry_set_symlink, archive_entry_set_symlink);
SAME_TYPE(archive_api, entry_set_uid, archive_entry_set_uid);
SAME_TYPE(archive_api, entry_set_gid, archive_entry_set_gid);
SAME_TYPE(crypto_api, md_ctx_new, EVP_MD_CTX_new);
SAME_TYPE(crypto_api, md_ctx_free, EVP_MD_CTX_free);
SAME_TYPE(crypto_api, sha256, EVP_sha256);
SAME_TYPE(crypto_api, digest_init_ex, EVP_DigestInit_ex);
SAME_TYPE(crypto_api, digest_update, EVP_DigestUpdate);
SAME_TYPE(crypto_api, digest_final_ex, EVP_DigestFinal_ex);

static struct archive_api archive;
static const struct dynlib_symbol archive_symbols[] = {
    DYNLIB_SYMBOL(struct archive_api, write_new, "archive_write_new"),
    DYNLIB_SYMBOL(struct archive_api, write_set_format_pax_restricted,
                  "archive_write_set_format_pax_restricted"),
    DYNLIB_SYMBOL(struct archive_api, write_open_FILE, "archive_write_open_FILE"),
    DYNLIB_SYMBOL(struct archive_api, write_header, "archive_write_header"),
    DYNLIB_SYMBOL(struct archive_api, write_data, "archive_write_data"),
    DYNLIB_SYMBOL(struct archive_api, write_close, "archive_write_close"),
    DYNLIB_SYMBOL(struct archive_api, write_free, "archive_write_free"),
    DYNLIB_SYMBOL(struct archive_api, error_string, "archive_error_string"),
    DYNLIB_SYMBOL(struct archive_api, entry_new, "archive_entry_new"),
    DYNLIB_SYMBOL(struct archive_api, entry_free, "archive_entry_free"),
    DYNLIB_SYMBOL(struct archive_api, entry_copy_stat, "archive_entry_copy_stat"),
    DYNLIB_SYMBOL(struct archive_api, entry_set_pathname, "archive_entry_set_pathname"),
    DYNLIB_SYMBOL(struct archive_api, entry_set_symlink, "archive_entry_set_symlink"),
    DYNLIB_SYMBOL(struct archive_api, entry_set_uid, "archive_entry_set_uid"),
    DYNLIB_SYMBOL(struct archive_api, entry_set_gid, "archive_entry_set_gid"),
};

static struct dynlib archive_lib =
    DYNLIB(archive, archive_symbols, "libarchive", "building images needs libarchive",
           "install it with apt-get install libarchive13", "libarchive.so.13", "libarchive.so");

static struct crypto_api crypto;
static const struct dynlib_symbol crypto_symbols[] = {
    DYNLIB_SYMBOL(struct crypto_api, md_ctx_new, "EVP_MD_CTX_new"),
    DYNLIB_SYMBOL(struct crypto_api, md_ctx_free, "EVP_MD_CTX_free"),
    DYNLIB_SYMBOL(struct crypto_api, sha256, "EVP_sha256"),
    DYNLIB_SYMBOL(struct crypto_api, digest_init_ex, "EVP_DigestInit_ex"),
    DYNLIB_SYMBOL(struct crypto_api, digest_update, "EVP_DigestUpdate"),
    DYNLIB_SYMBOL(struct crypto_api, digest_final_ex, "EVP_DigestFinal_ex"),
};

static struct dynlib crypto_lib =
    DYNLIB(crypto, crypto_symbols, "libcrypto",
           "building images needs libcrypto (OpenSSL) for the context's digest",
           "install it with apt-get install libssl3", "libcrypto.so.3", "libcrypto.so.1.1",
           "libcrypto.so");

DYNLIB_GETTER(archive_api_load, struct archive_api, archive_lib)

DYNLIB_GETTER(crypto_api_load, struct crypto_api, crypto_lib)
