#include "drivers/docker/engine.h"

#include <ctype.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/un.h>

#define DEFAULT_SOCKET "/var/run/docker.sock"
#define MAX_REPLY (64u << 20)

/* ---- where the engine is ----------------------------------------------------- */

static int parse_address(struct engine *e, const char *host, hutch_error *err)
{
    if (!host || !*host)
        host = getenv("DOCKER_HOST");
    if (!host || !*host)
        host = "unix://" DEFAULT_SOCKET;
    if (strncmp(host, "unix://", 7) == 0) {
        if (fmt_checked(err, e->unix_path, sizeof e->unix_path, "%s", host + 7) < 0) {
            error_prefix(err, "docker host");
            return -1;
        }
        fmt_bounded(e->address, "%s", e->unix_path);
        return 0;
    }
    if (strncmp(host, "tcp://", 6) == 0) {
        const char *h = host + 6;
        const char *colon = strrchr(h, ':');
        if (!colon || colon == h)
            return error_set(err, HUTCH_E_INVALID,
                             "DOCKER_HOST %s: expected tcp://HOST:PORT", host);
        const char *tls = getenv("DOCKER_TLS_VERIFY");
        if (tls && *tls && strcmp(tls, "0") != 0)
            return error_set(err, HUTCH_E_UNSUPPORTED,
                             "DOCKER_TLS_VERIFY is set, but hutch speaks plain HTTP to a TCP "
                             "engine: use the engine's unix socket, or unset DOCKER_TLS_VERIFY "
                             "for a trusted network");
        if (fmt_checked(err, e->tcp_host, sizeof e->tcp_host, "%.*s", (int)(colon - h), h) < 0) {
            error_prefix(err, "docker host");
            return -1;
        }
        e->tcp_port = atoi(colon + 1);
        fmt_trunc(e->address, sizeof e->address, "%s", host); /* for messages */
        return 0;
    }
    return error_set(err, HUTCH_E_INVALID,
                     "docker host %s: hutch reaches engines at unix:///PATH or tcp://HOST:PORT",
                     host);
}

static void set_base(struct engine *e)
{
    if (e->unix_path[0])
        fmt_bounded(e->base, "http://docker/v%s", e->api_version);
    else
        fmt_bounded(e->base, "http://%s:%d/v%s", e->tcp_host, e->tcp_port, e->api_version);
}

/* ---- libcurl plumbing ---------------------------------------------------------- */

/* An answer being collected, up to MAX_REPLY bytes. */
struct buffer {
    struct bytebuf bytes;
    bool too_big;
};

static size_t collect(char *ptr, size_t size, size_t n, void *userdata)
{
    struct buffer *b = userdata;
    size_t add = size * n;
    if (b->bytes.len + add > MAX_REPLY) {
        b->too_big = true;
        return 0;
    }
    return bytebuf_append(&b->bytes, ptr, add) ? add : 0;
}

static void prepare(struct engine *e, const char *method, const char *url, long timeout_s)
{
    const struct curl_api *c = e->curl;
    c->easy_reset(e->handle);
    c->easy_setopt(e->handle, CURLOPT_URL, url);
    c->easy_setopt(e->handle, CURLOPT_CUSTOMREQUEST, method);
    c->easy_setopt(e->handle, CURLOPT_NOSIGNAL, 1L);
    if (e->call_limit_s > 0 && (timeout_s == 0 || timeout_s > e->call_limit_s))
        timeout_s = e->call_limit_s;
    c->easy_setopt(e->handle, CURLOPT_CONNECTTIMEOUT, 5L);
    c->easy_setopt(e->handle, CURLOPT_TIMEOUT, timeout_s);
    if (e->unix_path[0])
        c->easy_setopt(e->handle, CURLOPT_UNIX_SOCKET_PATH, e->unix_path);
}

static int permission_denied(struct engine *e, hutch_error *err)
{
    return error_set(err, HUTCH_E_UNSUPPORTED,
                     "no permission to use the Docker engine's socket %s: add this user to the "
                     "docker group (usermod -aG docker USER, then log in again)",
                     e->address);
}

static int transport_error(struct engine *e, CURLcode code, hutch_error *err)
{
    e->broken = true;
    long os_errno = 0;
    if (code == CURLE_COULDNT_CONNECT &&
        e->curl->easy_getinfo(e->handle, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK &&
        (os_errno == EACCES || os_errno == EPERM))
        return permission_denied(e, err);
    if (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
        code == CURLE_OPERATION_TIMEDOUT)
        return error_set(err, HUTCH_E_UNSUPPORTED,
                         "Docker engine not reachable at %s: start dockerd or set DOCKER_HOST",
                         e->address);
    return error_set(err, HUTCH_E_SYSTEM, "talking to the Docker engine at %s: %s", e->address,
                     e->curl->easy_strerror(code));
}

/* The value of header `name` (lowercase, with its colon) when line is that
 * header and the value fits out; else false. */
static bool header_value(const char *line, size_t len, const char *name, char *out,
                         size_t out_size)
{
    size_t name_len = strlen(name);
    if (len <= name_len || strncasecmp(line, name, name_len) != 0)
        return false;
    const char *v = line + name_len;
    while (*v == ' ')
        v++;
    size_t vl = strcspn(v, "\r\n");
    if (vl >= out_size)
        return false;
    memcpy(out, v, vl);
    out[vl] = '\0';
    return true;
}

struct ping_headers {
    char version[16];
    bool libpod; /* Podman's compatible API says so in every answer */
};

static size_t read_header(char *line, size_t size, size_t n, void *userdata)
{
    struct ping_headers *h = userdata;
    size_t len = size * n;
    static const char libpod[] = "libpod-api-version:";
    if (len > sizeof libpod && strncasecmp(line, libpod, sizeof libpod - 1) == 0)
        h->libpod = true;
    (void)header_value(line, len, "api-version:", h->version, sizeof h->version);
    return len;
}

/* "1.41" < "1.47": compare major, then minor, numerically. */
static int version_cmp(const char *a, const char *b)
{
    int am = 0, an = 0, bm = 0, bn = 0;
    sscanf(a, "%d.%d", &am, &an);
    sscanf(b, "%d.%d", &bm, &bn);
    return am != bm ? am - bm : an - bn;
}

int engine_open(struct engine *e, const char *host, hutch_error *err)
{
    memset(e, 0, sizeof *e);
    if (parse_address(e, host, err) < 0)
        return -1;
    e->curl = curl_api_load(err);
    if (!e->curl)
        return -1;
    e->handle = e->curl->easy_init();
    if (!e->handle)
        return error_set(err, HUTCH_E_SYSTEM, "libcurl could not start a request");

    char url[400];
    if (e->unix_path[0])
        fmt_bounded(url, "http://docker/_ping");
    else
        fmt_bounded(url, "http://%s:%d/_ping", e->tcp_host, e->tcp_port);
    struct ping_headers headers = {0};
    struct buffer body = {0};
    prepare(e, "GET", url, 10);
    e->curl->easy_setopt(e->handle, CURLOPT_HEADERFUNCTION, read_header);
    e->curl->easy_setopt(e->handle, CURLOPT_HEADERDATA, &headers);
    e->curl->easy_setopt(e->handle, CURLOPT_WRITEFUNCTION, collect);
    e->curl->easy_setopt(e->handle, CURLOPT_WRITEDATA, &body);
    CURLcode code = e->curl->easy_perform(e->handle);
    free(body.bytes.data);
    long status = 0;
    if (code == CURLE_OK)
        e->curl->easy_getinfo(e->handle, CURLINFO_RESPONSE_CODE, &status);
    if (code != CURLE_OK || status != 200) {
        int r = code != CURLE_OK
                    ? transport_error(e, code, err)
                    : error_set(err, HUTCH_E_UNSUPPORTED,
                                "Docker engine at %s answered %ld to /_ping: is it a Docker "
                                "engine? Start dockerd or set DOCKER_HOST",
                                e->address, status);
        engine_close(e);
        return r;
    }
    /* Speak the engine's version, capped at ours; an engine that does not
     * say is assumed to speak the oldest we know. */
    e->podman = headers.libpod;
    const char *v = headers.version[0] ? headers.version : ENGINE_API_MIN;
    fmt_bounded(e->api_version, "%s", version_cmp(v, ENGINE_API_MAX) > 0 ? ENGINE_API_MAX : v);
    if (version_cmp(e->api_version, ENGINE_API_MIN) < 0) {
        engine_close(e);
        return error_set(err, HUTCH_E_UNSUPPORTED,
                         "the Docker engine at %s speaks API %s; hutch needs %s or newer: "
                         "upgrade the engine",
                         e->address, v, ENGINE_API_MIN);
    }
    set_base(e);
    return 0;
}

void engine_close(struct engine *e)
{
    if (e->handle && e->curl)
        e->curl->easy_cleanup(e->handle);
    e->handle = NULL;
}

static int connect_engine(struct engine *e, hutch_error *err);

int engine_reachable(const char *host, hutch_error *err)
{
    struct engine e;
    memset(&e, 0, sizeof e);
    if (parse_address(&e, host, err) < 0)
        return -1;
    if (!e.unix_path[0])
        return 0;
    int fd = connect_engine(&e, err);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

/* Runs the prepared request and collects its answer: *status, and *reply
 * (unless reply is NULL) the answer as JSON, a plain-text answer as
 * {"message": text}, NULL for none. what names the request in the error
 * when the answer is too large. */
static int perform_collecting(struct engine *e, const char *what, long *status, json_t **reply,
                              hutch_error *err)
{
    struct buffer answer = {0};
    e->curl->easy_setopt(e->handle, CURLOPT_WRITEFUNCTION, collect);
    e->curl->easy_setopt(e->handle, CURLOPT_WRITEDATA, &answer);
    CURLcode code = e->curl->easy_perform(e->handle);
    if (code != CURLE_OK) {
        free(answer.bytes.data);
        if (answer.too_big)
            return error_set(err, HUTCH_E_SYSTEM, "the Docker engine's answer to %s is too large",
                             what);
        return transport_error(e, code, err);
    }
    *status = 0;
    e->curl->easy_getinfo(e->handle, CURLINFO_RESPONSE_CODE, status);
    if (reply) {
        *reply = NULL;
        if (answer.bytes.len) {
            *reply = json_loadb(answer.bytes.data, answer.bytes.len, JSON_DECODE_ANY, NULL);
            if (!*reply) /* a plain-text error: keep it as a message */
                *reply = json_pack("{s:s#}", "message", answer.bytes.data, (int)answer.bytes.len);
        }
    }
    free(answer.bytes.data);
    return 0;
}

int engine_call(struct engine *e, const char *method, const char *path, json_t *body,
                long *status, json_t **reply, hutch_error *err)
{
    char url[4096];
    if (fmt_checked(err, url, sizeof url, "%s%s", e->base, path) < 0)
        return -1;
    autofree char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !text)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    struct curl_slist *headers = NULL;
    /* Waiting for a container may take as long as the command. */
    prepare(e, method, url, strstr(path, "/wait") ? 0 : 120);
    if (text) {
        headers = e->curl->slist_append(headers, "Content-Type: application/json");
        e->curl->easy_setopt(e->handle, CURLOPT_HTTPHEADER, headers);
        e->curl->easy_setopt(e->handle, CURLOPT_POSTFIELDS, text);
        e->curl->easy_setopt(e->handle, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
    }
    int r = perform_collecting(e, path, status, reply, err);
    e->curl->slist_free_all(headers);
    return r;
}

int engine_call_on(struct engine *e, const char *method, const char *prefix, const char *name,
                   const char *suffix, json_t *body, long *status, json_t **reply,
                   hutch_error *err)
{
    char escaped[512], path[700];
    engine_escape_path(name, escaped, sizeof escaped);
    if (fmt_checked(err, path, sizeof path, "%s%s%s", prefix, escaped, suffix) < 0)
        return -1;
    return engine_call(e, method, path, body, status, reply, err);
}

int engine_inspect(struct engine *e, enum engine_kind kind, const char *name, json_t **reply,
                   hutch_error *err)
{
    static const struct {
        const char *prefix, *noun;
    } kinds[] = {
        [ENGINE_CONTAINER] = {"/containers/", "container"},
        [ENGINE_IMAGE] = {"/images/", "image"},
    };
    long status;
    *reply = NULL;
    if (engine_call_on(e, "GET", kinds[kind].prefix, name, "/json", NULL, &status, reply, err) < 0)
        return -1;
    if (status == 200)
        return 1;
    int r = status == 404 ? 0
                          : engine_failed(status, *reply, err, "cannot inspect the %s %s",
                                          kinds[kind].noun, name);
    json_decref(*reply);
    *reply = NULL;
    return r;
}

int engine_failed(long status, json_t *reply, hutch_error *err, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vfmt_trunc(what, sizeof what, fmt, ap); /* for the message */
    va_end(ap);
    const char *message = json_string_value(json_object_get(reply, "message"));
    hutch_status kind = status == 404 || status == 409 ? HUTCH_E_INVALID : HUTCH_E_SYSTEM;
    return error_set(err, kind, "%s: the Docker engine answered %ld: %s", what, status,
                     message ? message : "(no message)");
}

/* ---- streamed answers ------------------------------------------------------------ */

struct line_splitter {
    struct buffer pending;
    void (*on_line)(void *ctx, json_t *line);
    void *ctx;
};

static void emit_line(struct line_splitter *s, const char *line, size_t len)
{
    while (len && (line[len - 1] == '\r' || line[len - 1] == '\n'))
        len--;
    if (!len)
        return;
    json_t *value = json_loadb(line, len, 0, NULL);
    if (!value)
        value = json_pack("{s:s#}", "stream", line, (int)len);
    if (value)
        s->on_line(s->ctx, value);
    json_decref(value);
}

static size_t split_lines(char *ptr, size_t size, size_t n, void *userdata)
{
    struct line_splitter *s = userdata;
    size_t len = size * n;
    for (size_t i = 0; i < len; i++) {
        if (ptr[i] == '\n') {
            if (s->pending.bytes.len) {
                if (!collect(ptr, 1, i + 1, &s->pending))
                    return 0;
                emit_line(s, s->pending.bytes.data, s->pending.bytes.len);
                s->pending.bytes.len = 0;
            } else {
                emit_line(s, ptr, i + 1);
            }
            ptr += i + 1;
            len -= i + 1;
            i = (size_t)-1;
        }
    }
    if (len && !collect(ptr, 1, len, &s->pending))
        return 0;
    return size * n;
}

int engine_stream(struct engine *e, const char *method, const char *path, FILE *upload,
                  const char *content_type, void (*on_line)(void *ctx, json_t *line),
                  void *ctx, long *status, hutch_error *err)
{
    char url[4096];
    if (fmt_checked(err, url, sizeof url, "%s%s", e->base, path) < 0)
        return -1;
    struct line_splitter splitter = {.on_line = on_line, .ctx = ctx};
    struct curl_slist *headers = NULL;
    prepare(e, method, url, 0);
    if (upload) {
        char header[128];
        if (fmt_checked(err, header, sizeof header, "Content-Type: %s", content_type) < 0)
            return -1;
        headers = e->curl->slist_append(headers, header);
        e->curl->easy_setopt(e->handle, CURLOPT_HTTPHEADER, headers);
        e->curl->easy_setopt(e->handle, CURLOPT_UPLOAD, 1L);
        e->curl->easy_setopt(e->handle, CURLOPT_READDATA, upload);
        e->curl->easy_setopt(e->handle, CURLOPT_CUSTOMREQUEST, method);
    }
    e->curl->easy_setopt(e->handle, CURLOPT_WRITEFUNCTION, split_lines);
    e->curl->easy_setopt(e->handle, CURLOPT_WRITEDATA, &splitter);
    CURLcode code = e->curl->easy_perform(e->handle);
    e->curl->slist_free_all(headers);
    if (code == CURLE_OK && splitter.pending.bytes.len)
        emit_line(&splitter, splitter.pending.bytes.data, splitter.pending.bytes.len);
    free(splitter.pending.bytes.data);
    if (code != CURLE_OK)
        return transport_error(e, code, err);
    e->curl->easy_getinfo(e->handle, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

/* ---- files in containers ------------------------------------------------------------ */

struct stat_header {
    char value[1024]; /* base64 of a small JSON object; longer is not a stat */
    bool seen;
};

static size_t read_stat_header(char *line, size_t size, size_t n, void *userdata)
{
    struct stat_header *h = userdata;
    size_t len = size * n;
    if (header_value(line, len, "x-docker-container-path-stat:", h->value, sizeof h->value))
        h->seen = true;
    return len;
}

/* Standard base64 (padding optional) into out; -1 when it is not. */
static ssize_t base64_decode(const char *in, unsigned char *out, size_t cap)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0;
    unsigned acc = 0, bits = 0;
    for (; *in && *in != '='; in++) {
        const char *at = strchr(alphabet, *in);
        if (!at)
            return -1;
        acc = (acc << 6) | (unsigned)(at - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == cap)
                return -1;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return (ssize_t)n;
}

/* The URL of the archive endpoint for path in container (HEAD stats it, PUT
 * unpacks a tar into it): 0, or -1 when a name is too long to escape. */
static int archive_url(const struct engine *e, const char *container, const char *path,
                       char *url, size_t size, hutch_error *err)
{
    char name[512], where[1024];
    engine_escape_path(container, name, sizeof name);
    engine_escape(path, where, sizeof where);
    if (!name[0] || !where[0] ||
        fmt_checked(err, url, size, "%s/containers/%s/archive?path=%s", e->base, name, where) < 0)
        return error_set(err, HUTCH_E_INVALID, "the path %s in %s is too long", path, container);
    return 0;
}

int engine_path_stat(struct engine *e, const char *container, const char *path,
                     struct engine_path_stat *st, hutch_error *err)
{
    memset(st, 0, sizeof *st);
    char url[4096];
    if (archive_url(e, container, path, url, sizeof url, err) < 0)
        return -1;
    struct stat_header header = {0};
    prepare(e, "HEAD", url, 30);
    e->curl->easy_setopt(e->handle, CURLOPT_NOBODY, 1L);
    e->curl->easy_setopt(e->handle, CURLOPT_HEADERFUNCTION, read_stat_header);
    e->curl->easy_setopt(e->handle, CURLOPT_HEADERDATA, &header);
    CURLcode code = e->curl->easy_perform(e->handle);
    if (code != CURLE_OK)
        return transport_error(e, code, err);
    long status = 0;
    e->curl->easy_getinfo(e->handle, CURLINFO_RESPONSE_CODE, &status);
    if (status == 404)
        return 0;
    if (status != 200)
        return engine_failed(status, NULL, err, "cannot look at %s in the container %s", path,
                             container);
    unsigned char json[800];
    ssize_t len = header.seen ? base64_decode(header.value, json, sizeof json) : -1;
    json_t *info = len > 0 ? json_loadb((const char *)json, (size_t)len, 0, NULL) : NULL;
    st->exists = true;
    /* Go's FileMode: the top bit is a directory. */
    json_int_t mode = json_integer_value(json_object_get(info, "mode"));
    st->is_dir = (mode & ((json_int_t)1 << 31)) != 0;
    st->size = (long long)json_integer_value(json_object_get(info, "size"));
    json_decref(info);
    return 0;
}

struct upload {
    const char *data;
    size_t len, off;
};

static size_t read_upload(char *buf, size_t size, size_t n, void *userdata)
{
    struct upload *u = userdata;
    size_t take = size * n < u->len - u->off ? size * n : u->len - u->off;
    memcpy(buf, u->data + u->off, take);
    u->off += take;
    return take;
}

int engine_put_archive(struct engine *e, const char *container, const char *dir,
                       const void *tar, size_t len, hutch_error *err)
{
    char url[4096];
    if (archive_url(e, container, dir, url, sizeof url, err) < 0)
        return -1;
    struct upload u = {.data = tar, .len = len};
    prepare(e, "PUT", url, 120);
    struct curl_slist *headers = e->curl->slist_append(NULL, "Content-Type: application/x-tar");
    e->curl->easy_setopt(e->handle, CURLOPT_HTTPHEADER, headers);
    e->curl->easy_setopt(e->handle, CURLOPT_UPLOAD, 1L);
    e->curl->easy_setopt(e->handle, CURLOPT_CUSTOMREQUEST, "PUT");
    e->curl->easy_setopt(e->handle, CURLOPT_READFUNCTION, read_upload);
    e->curl->easy_setopt(e->handle, CURLOPT_READDATA, &u);
    e->curl->easy_setopt(e->handle, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    long status;
    json_t *reply = NULL;
    int r = perform_collecting(e, url + strlen(e->base), &status, &reply, err);
    e->curl->slist_free_all(headers);
    if (r == 0 && status != 200)
        r = engine_failed(status, reply, err, "cannot copy into %s of the container %s", dir,
                          container);
    json_decref(reply);
    return r;
}

/* ---- hijacked connections ---------------------------------------------------------- */

static int connect_engine(struct engine *e, hutch_error *err)
{
    if (e->unix_path[0]) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return error_sys(err, errno, "cannot create a socket");
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        if (!fmt_fits(addr.sun_path, sizeof addr.sun_path, "%s", e->unix_path)) {
            close(fd);
            return error_set(err, HUTCH_E_INVALID,
                             "the Docker engine's socket path %s is too long (over %zu bytes)",
                             e->unix_path, sizeof addr.sun_path - 1);
        }
        if (TEMP_FAILURE_RETRY(connect(fd, (struct sockaddr *)&addr, sizeof addr)) < 0) {
            int saved = errno;
            close(fd);
            if (saved == EACCES || saved == EPERM)
                return permission_denied(e, err);
            return error_set(err, HUTCH_E_UNSUPPORTED,
                             "Docker engine not reachable at %s: start dockerd or set DOCKER_HOST",
                             e->address);
        }
        return fd;
    }
    char port[16];
    fmt_bounded(port, "%d", e->tcp_port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(e->tcp_host, port, &hints, &res) != 0 || !res)
        return error_set(err, HUTCH_E_UNSUPPORTED, "cannot resolve the Docker host %s", e->address);
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && TEMP_FAILURE_RETRY(connect(fd, a->ai_addr, a->ai_addrlen)) < 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return error_set(err, HUTCH_E_UNSUPPORTED, "Docker engine not reachable at %s",
                         e->address);
    return fd;
}

/* Reads the answer's head without reading past it: what follows belongs to
 * the raw stream. */
static int read_head(int fd, char *head, size_t cap, size_t *len, int timeout_ms)
{
    *len = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (TEMP_FAILURE_RETRY(poll(&p, 1, timeout_ms)) <= 0)
            return -1;
        ssize_t n = TEMP_FAILURE_RETRY(recv(fd, head + *len, cap - 1 - *len, MSG_PEEK));
        if (n <= 0)
            return -1;
        head[*len + (size_t)n] = '\0';
        char *end = strstr(head, "\r\n\r\n");
        size_t want = end ? (size_t)(end + 4 - head) - *len : (size_t)n;
        ssize_t got = TEMP_FAILURE_RETRY(recv(fd, head + *len, want, 0));
        if (got <= 0)
            return -1;
        *len += (size_t)got;
        head[*len] = '\0';
        if (end)
            return 0;
        if (*len >= cap - 1)
            return -1;
    }
}

int engine_hijack(struct engine *e, const char *path, json_t *body, const char *what,
                  int *fd_out, hutch_error *err)
{
    /* No body means none at all: Podman reads an attach request's body as
     * the container's standard input. */
    autofree char *text = body ? json_dumps(body, JSON_COMPACT) : strdup("");
    if (!text)
        return error_set(err, HUTCH_E_SYSTEM, "out of memory");
    int fd = connect_engine(e, err);
    if (fd < 0)
        return -1;
    char request[8192];
    if (!fmt_fits(request, sizeof request,
                  "POST /v%s%s HTTP/1.1\r\nHost: docker\r\n%s"
                  "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: %zu\r\n\r\n",
                  e->api_version, path, body ? "Content-Type: application/json\r\n" : "",
                  strlen(text)) ||
        send_all(fd, request, strlen(request)) < 0 ||
        send_all(fd, text, strlen(text)) < 0) {
        close(fd);
        return error_set(err, HUTCH_E_SYSTEM, "%s: cannot send the request to the Docker engine",
                         what);
    }
    char head[16384];
    size_t head_len;
    int wait_ms = e->call_limit_s > 0 && e->call_limit_s < 30 ? (int)e->call_limit_s * 1000 : 30000;
    if (read_head(fd, head, sizeof head, &head_len, wait_ms) < 0) {
        close(fd);
        return error_set(err, HUTCH_E_SYSTEM, "%s: no answer from the Docker engine", what);
    }
    int status = 0;
    sscanf(head, "HTTP/1.%*d %d", &status);
    if (status == 101 || status == 200) {
        *fd_out = fd;
        return 0;
    }
    /* An error: its body carries the engine's message. */
    char body_text[4096] = "";
    const char *cl = strcasestr(head, "\r\ncontent-length:");
    size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0;
    if (want >= sizeof body_text)
        want = sizeof body_text - 1;
    size_t got = 0;
    while (got < want) {
        ssize_t r = TEMP_FAILURE_RETRY(read(fd, body_text + got, want - got));
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    body_text[got] = '\0';
    close(fd);
    json_t *reply = json_loads(body_text, 0, NULL);
    if (!reply)
        reply = json_pack("{s:s}", "message", body_text);
    engine_failed(status, reply, err, "%s", what);
    json_decref(reply);
    return -1;
}

static void escape(const char *text, const char *keep, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    const unsigned char *c = (const unsigned char *)text;
    for (; *c && o + 4 < len; c++) {
        if (isalnum(*c) || strchr(keep, *c)) {
            out[o++] = (char)*c;
        } else {
            out[o++] = '%';
            out[o++] = hex[*c >> 4];
            out[o++] = hex[*c & 15];
        }
    }
    /* Never a cut name: the engine takes a prefix of an id for the whole
     * id, so a cut one could name another container. "" names none. */
    out[*c ? 0 : o] = '\0';
}

void engine_escape(const char *text, char *out, size_t len)
{
    escape(text, "-._~", out, len);
}

void engine_escape_path(const char *text, char *out, size_t len)
{
    escape(text, "-._~/:@", out, len);
}

void engine_random_hex(char *buf, size_t len)
{
    unsigned char bytes[6] = {0};
    autoclose int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
        (void)!read(fd, bytes, sizeof bytes);
    (void)!fmt_fits(buf, len, "%02x%02x%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2], bytes[3],
                    bytes[4], bytes[5]); /* "" rather than cut */
}
