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

static struct dynlib lib_state =
    DYNLIB(api, symbols, "libmicrohttpd", "hutch mcp --http needs libmicrohttpd",
           "install it with apt-get install libmicrohttpd12, or use MCP over stdio (without "
           "--http)",
           "libmicrohttpd.so.12", "libmicrohttpd.so");

DYNLIB_GETTER(mhd_api_load, struct mhd_api, lib_state)
