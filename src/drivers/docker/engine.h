/* A client of the Docker Engine HTTP API (also Podman's compatible API):
 * request/response calls and streamed responses through libcurl, and the
 * raw socket for hijacked attach/exec streams. The API version is negotiated
 * with GET /_ping. Engine error messages are passed on, not swallowed. */
#ifndef HUTCH_DOCKER_ENGINE_H
#define HUTCH_DOCKER_ENGINE_H

#include <jansson.h>
#include <stdio.h>

#include "drivers/docker/curl_loader.h"
#include "base/error.h"

/* The newest API version hutch speaks; older engines are spoken to in theirs. */
#define ENGINE_API_MAX "1.47"
#define ENGINE_API_MIN "1.41"

struct engine {
    const struct curl_api *curl;
    CURL *handle;
    char unix_path[256];  /* "" for TCP */
    char tcp_host[256];
    int tcp_port;
    char api_version[16];
    bool podman;          /* Podman's Docker-compatible API (some options differ) */
    bool broken;          /* a call failed to reach the engine or to read its answer */
    char address[300];    /* for messages: the socket path or tcp://host:port */
    char base[320];       /* "http://docker/v1.41" */
    /* 0, or the most any one call may take, in seconds (also one that
     * would wait for ever): for work that must end whatever a container
     * or the engine does, such as removing a session. */
    long call_limit_s;
};

/* Where the engine is: docker.host, else $DOCKER_HOST, else the default
 * socket. Loads libcurl, pings the engine and negotiates the API version. A
 * missing engine fails with a message that names the address and the fixes. */
int engine_open(struct engine *e, const char *host, hutch_error *err);
void engine_close(struct engine *e);
#define auto_engine __attribute__((cleanup(engine_close)))

/* Without libcurl: 0 when something accepts connections on the engine's unix
 * socket (TCP engines are assumed there); else the same message as
 * engine_open. */
int engine_reachable(const char *host, hutch_error *err);

/* 12 random hex digits for the names of containers and the tokens of
 * execs ("" when none can be made: never a cut one). */
void engine_random_hex(char *buf, size_t len);

/* One request with an optional JSON body; *reply gets the parsed JSON answer
 * (NULL when empty). Returns 0 with the HTTP status in *status, whatever it
 * is; -1 when the engine could not be reached. */
int engine_call(struct engine *e, const char *method, const char *path, json_t *body,
                long *status, json_t **reply, hutch_error *err);

/* engine_call on one named object: the path is prefix, name escaped as
 * engine_escape_path does, then suffix ("/containers/", id, "/json"). */
int engine_call_on(struct engine *e, const char *method, const char *prefix, const char *name,
                   const char *suffix, json_t *body, long *status, json_t **reply,
                   hutch_error *err);

enum engine_kind { ENGINE_CONTAINER, ENGINE_IMAGE };

/* Inspects the container or image name (GET .../NAME/json): 1 with *reply
 * its description (the caller's to decref), 0 when there is none (404, *reply
 * NULL), -1 with err ("cannot inspect the container NAME: ...") otherwise. */
int engine_inspect(struct engine *e, enum engine_kind kind, const char *name, json_t **reply,
                   hutch_error *err);

/* For status >= 400: fills err with the engine's own message, prefixed. */
int engine_failed(long status, json_t *reply, hutch_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A request whose answer is a stream of JSON lines (/build, /images/create);
 * each line goes to on_line. upload, if any, is sent as the body. */
int engine_stream(struct engine *e, const char *method, const char *path, FILE *upload,
                  const char *content_type, void (*on_line)(void *ctx, json_t *line),
                  void *ctx, long *status, hutch_error *err);

/* What HEAD /containers/{name}/archive?path=PATH says of a path in a
 * container (its X-Docker-Container-Path-Stat header). */
struct engine_path_stat {
    bool exists;
    bool is_dir;
    long long size;
};
int engine_path_stat(struct engine *e, const char *container, const char *path,
                     struct engine_path_stat *st, hutch_error *err);

/* PUT /containers/{name}/archive?path=DIR: unpacks the tar of len bytes
 * into DIR of the container. */
int engine_put_archive(struct engine *e, const char *container, const char *dir,
                       const void *tar, size_t len, hutch_error *err);

/* POSTs body (or nothing) to path and takes over the connection (attach,
 * exec start): *fd is the raw stream. what names the step in messages. */
int engine_hijack(struct engine *e, const char *path, json_t *body, const char *what, int *fd,
                  hutch_error *err);

/* Percent-encodes text for a URL query component. */
void engine_escape(const char *text, char *out, size_t len);

/* The same for a path, keeping '/', ':' and '@' (image and container names). */
void engine_escape_path(const char *text, char *out, size_t len);

#endif
