/* libmicrohttpd, loaded with dlopen when `hutch mcp --http` starts: linked
 * in, it would load GnuTLS and eight more libraries at every start of
 * hutch-docker, and only the HTTP transport needs it. */
#ifndef HUTCH_MCP_MHD_LOADER_H
#define HUTCH_MCP_MHD_LOADER_H

#include <microhttpd.h>

#include "base/error.h"

struct mhd_api {
    struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port,
                                       MHD_AcceptPolicyCallback apc, void *apc_cls,
                                       MHD_AccessHandlerCallback dh, void *dh_cls, ...);
    void (*stop_daemon)(struct MHD_Daemon *daemon);
    const union MHD_DaemonInfo *(*get_daemon_info)(struct MHD_Daemon *daemon,
                                                   enum MHD_DaemonInfoType info_type, ...);
    const char *(*lookup_connection_value)(struct MHD_Connection *connection,
                                           enum MHD_ValueKind kind, const char *key);
    struct MHD_Response *(*create_response_from_buffer)(size_t size, void *buffer,
                                                        enum MHD_ResponseMemoryMode mode);
    struct MHD_Response *(*create_response_from_callback)(uint64_t size, size_t block_size,
                                                          MHD_ContentReaderCallback crc,
                                                          void *crc_cls,
                                                          MHD_ContentReaderFreeCallback crfc);
    enum MHD_Result (*add_response_header)(struct MHD_Response *response, const char *header,
                                           const char *content);
    enum MHD_Result (*queue_response)(struct MHD_Connection *connection, unsigned int status_code,
                                      struct MHD_Response *response);
    void (*destroy_response)(struct MHD_Response *response);
    /* The HTTP transport accepts connections itself and hands over only
     * those whose request has arrived (src/mcp/http.c). */
    enum MHD_Result (*add_connection)(struct MHD_Daemon *daemon, MHD_socket client_socket,
                                      const struct sockaddr *addr, socklen_t addrlen);
    enum MHD_Result (*set_connection_option)(struct MHD_Connection *connection,
                                             enum MHD_CONNECTION_OPTION option, ...);
};

/* The loaded library (loaded once, kept for the process's life). */
const struct mhd_api *mhd_api_load(hutch_error *err);

#endif
