#include "mcp/mhd_loader.h"

#include "base/dynlib.h"

static struct mhd_api api;
static const struct dynlib_symbol symbols[] = {
    DYNLIB_SYMBOL(struct mhd_api, start_daemon, "MHD_start_daemon"),
    DYNLIB_SYMBOL(struct mhd_api, stop_daemon, "MHD_stop_daemon"),
    DYNLIB_SYMBOL(struct mhd_api, get_daemon_info, "MHD_get_daemon_info"),
    DYNLIB_SYMBOL(struct mhd_api, lookup_connection_value, "MHD_lookup_connection_value"),
    DYNLIB_SYMBOL(struct mhd_api, create_response_from_buffer, "MHD_create_response_from_buffer"),
    DYNLIB_SYMBOL(struct mhd_api, create_response_from_callback, "MHD_create_response_from_callback"),
    DYNLIB_SYMBOL(struct mhd_api, add_response_header, "MHD_add_response_header"),
    DYNLIB_SYMBOL(struct mhd_api, queue_response, "MHD_queue_response"),
    DYNLIB_SYMBOL(struct mhd_api, destroy_response, "MHD_destroy_response"),
    DYNLIB_SYMBOL(struct mhd_api, add_connection, "MHD_add_connection"),
    DYNLIB_SYMBOL(struct mhd_api, set_connection_option, "MHD_set_connection_option"),
};

static struct dynlib lib_state = {
    .once = PTHREAD_ONCE_INIT,
    .sonames = (const char *const[]){"libmicrohttpd.so.12", "libmicrohttpd.so", NULL},
    .label = "libmicrohttpd",
    .needed_by = "hutch mcp --http needs libmicrohttpd",
    .fix = "install it with apt-get install "
           "libmicrohttpd12, or use MCP over stdio (without --http)",
    .symbols = symbols,
    .n_symbols = ARRAY_SIZE(symbols),
    .api = &api,
};

static void load(void)
{
    (void)dynlib_load(&lib_state);
}

const struct mhd_api *mhd_api_load(hutch_error *err)
{
    return dynlib_get(&lib_state, load, err);
}
