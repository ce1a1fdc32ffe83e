/* The docker backend's pure parts: the attach stream's frame parser, the
 * .dockerignore matcher, build-context packing and its digest, the
 * container create body made from a policy, and what a skill's Dockerfile
 * sets itself. No engine needed. */
#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/docker/container.h"
#include "drivers/docker/context.h"
#include "drivers/docker/dockerfile.h"
#include "drivers/docker/frames.h"
#include "hutch.h"
#include "policy/policy.h"
#include "base/command.h"
#include "tap.h"

/* ---- frames ---------------------------------------------------------------------- */

struct collected {
    char out[256], err[256], engine[256];
    size_t out_len, err_len, engine_len;
    int pieces;
    bool frame_ok; /* every piece lay inside its frame */
};

static void collect(void *ctx, const struct frame_piece *f)
{
    struct collected *c = ctx;
    char *buf = f->stream == FRAME_STDOUT ? c->out : f->stream == FRAME_STDERR ? c->err : c->engine;
    size_t *n = f->stream == FRAME_STDOUT   ? &c->out_len
                : f->stream == FRAME_STDERR ? &c->err_len
                                            : &c->engine_len;
    memcpy(buf + *n, f->data, f->len);
    *n += f->len;
    c->pieces++;
    c->frame_ok &= f->offset + f->len <= f->frame_len;
}

static size_t frame(char *buf, int stream, const char *payload)
{
    size_t len = strlen(payload);
    unsigned char header[8] = {(unsigned char)stream, 0, 0, 0, (unsigned char)(len >> 24),
                               (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                               (unsigned char)len};
    memcpy(buf, header, 8);
    memcpy(buf + 8, payload, len);
    return 8 + len;
}

static void test_frames(void)
{
    char stream[512];
    size_t n = 0;
    n += frame(stream + n, 1, "hello ");
    n += frame(stream + n, 2, "oops\n");
    n += frame(stream + n, 1, "");
    n += frame(stream + n, 1, "world\n");
    n += frame(stream + n, 3, "engine\n");
    n += frame(stream + n, 0, "!");

    struct frame_parser p;
    struct collected whole = {.frame_ok = true};
    frame_parser_init(&p);
    CHECK(frame_parser_feed(&p, stream, n, collect, &whole) == 0, "a whole stream parses");
    CHECK(whole.out_len == 13 && memcmp(whole.out, "hello world\n!", 13) == 0,
          "stdout frames are joined in order, stdin's echo with them");
    CHECK(whole.err_len == 5 && memcmp(whole.err, "oops\n", 5) == 0, "stderr frame separated");
    CHECK(whole.engine_len == 7 && memcmp(whole.engine, "engine\n", 7) == 0,
          "the engine's own text (stream 3) is neither stdout nor stderr");

    /* The same bytes one at a time: headers and payloads split anywhere. */
    struct collected bytewise = {.frame_ok = true};
    frame_parser_init(&p);
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        rc |= frame_parser_feed(&p, stream + i, 1, collect, &bytewise);
    CHECK(rc == 0 && bytewise.out_len == 13 && memcmp(bytewise.out, "hello world\n!", 13) == 0 &&
              bytewise.err_len == 5 && bytewise.engine_len == 7,
          "byte-by-byte feeding gives the same streams");
    CHECK(bytewise.pieces == 25, "payload is handed on as it comes, never held (%d pieces)",
          bytewise.pieces);
    CHECK(whole.frame_ok && bytewise.frame_ok, "each piece says where it lies in its frame");

    struct collected bad = {0};
    char junk[16] = {7, 0, 0, 0, 0, 0, 0, 1, 'x'};
    frame_parser_init(&p);
    CHECK(frame_parser_feed(&p, junk, 9, collect, &bad) < 0 && bad.pieces == 0,
          "an unknown stream number is malformed");
    char nonzero[9] = {1, 1, 0, 0, 0, 0, 0, 1, 'x'};
    frame_parser_init(&p);
    CHECK(frame_parser_feed(&p, nonzero, 9, collect, &bad) < 0,
          "non-zero padding bytes are malformed");
    CHECK(frame_parser_feed(&p, stream, n, collect, &bad) < 0 && bad.pieces == 0,
          "a malformed stream stays failed");
}

/* ---- .dockerignore ------------------------------------------------------------------ */

static void test_ignore(void)
{
    struct ignore_rules rules;
    CHECK(ignore_parse("# comment\n"
                       "*.log\n"
                       "!keep.log\n"
                       "node_modules\n"
                       "./build//out/\n"
                       "**/secret*\n"
                       "  docs/*.md  \r\n"
                       "\n",
                       &rules) == 0,
          ".dockerignore parses");
    CHECK(rules.patterns.len == 6, "comments and blank lines are skipped (%zu patterns)",
          rules.patterns.len);
    CHECK(ignore_excluded(&rules, "debug.log"), "*.log excludes debug.log");
    CHECK(!ignore_excluded(&rules, "keep.log"), "!keep.log re-includes it (last match wins)");
    CHECK(!ignore_excluded(&rules, "src/debug.log"), "*.log is anchored at the context root");
    CHECK(ignore_excluded(&rules, "node_modules"), "a directory pattern excludes it");
    CHECK(ignore_excluded(&rules, "node_modules/a/b.js"), "... and everything below it");
    CHECK(ignore_excluded(&rules, "build/out/x"), "./ and // and a trailing / are cleaned");
    CHECK(!ignore_excluded(&rules, "build/outer"), "a pattern matches whole segments");
    CHECK(ignore_excluded(&rules, "secret.txt") && ignore_excluded(&rules, "a/b/secret.key"),
          "** spans any number of directories, also none");
    CHECK(ignore_excluded(&rules, "docs/intro.md"), "surrounding whitespace is trimmed");
    CHECK(!ignore_excluded(&rules, "docs/sub/intro.md"), "* does not cross /");
    CHECK(!ignore_excluded(&rules, "Dockerfile"), "unmatched paths stay");
    ignore_free(&rules);
}

/* ---- build contexts ------------------------------------------------------------------- */

static char ctxdir[64];

static void write_text(const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", ctxdir, rel);
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
}

/* The tar's member names, newline-separated. */
static void members(FILE *tar, char *out, size_t len)
{
    out[0] = '\0';
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    if (archive_read_open_FILE(a, tar) != ARCHIVE_OK)
        abort();
    struct archive_entry *entry;
    size_t used = 0;
    while (archive_read_next_header(a, &entry) == ARCHIVE_OK)
        used += (size_t)snprintf(out + used, len - used, "%s\n", archive_entry_pathname(entry));
    archive_read_free(a);
}

static void test_context(void)
{
    snprintf(ctxdir, sizeof ctxdir, "/tmp/hutch-context-XXXXXX");
    if (!mkdtemp(ctxdir))
        abort();
    char path[256];
    snprintf(path, sizeof path, "%s/app", ctxdir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/cache", ctxdir);
    mkdir(path, 0755);
    write_text("Dockerfile", "FROM scratch\nCOPY app /app\n");
    write_text(".dockerignore", "cache\n*.pem\nDockerfile\n");
    write_text("app/main.sh", "echo hi\n");
    write_text("cache/big", "junk\n");
    write_text("key.pem", "secret\n");
    snprintf(path, sizeof path, "%s/outside", ctxdir);
    CHECK(symlink("/etc/passwd", path) == 0, "a symlink pointing out of the context");

    struct build_context ctx;
    hutch_error err = {0};
    CHECK(context_pack(ctxdir, "Dockerfile", &ctx, &err) == 0, "context packs (%s)", err.message);
    char names[2048];
    members(ctx.tar, names, sizeof names);
    CHECK_CONTAINS(names, "app/main.sh\n", "files are packed");
    CHECK_CONTAINS(names, "Dockerfile\n", "the Dockerfile always goes in, even when ignored");
    CHECK_CONTAINS(names, ".dockerignore\n", ".dockerignore goes in");
    CHECK(strstr(names, "cache") == NULL, "an ignored directory is left out");
    CHECK(strstr(names, "key.pem") == NULL, "an ignored file is left out");
    CHECK_CONTAINS(names, "outside\n", "a symlink is packed as a link, not followed");
    char first[65];
    memcpy(first, ctx.digest, sizeof first);
    CHECK(strlen(first) == 64, "the digest is hex SHA-256");
    context_close(&ctx);

    CHECK(context_pack(ctxdir, "Dockerfile", &ctx, &err) == 0 &&
              strcmp(ctx.digest, first) == 0,
          "same contents, same digest");
    context_close(&ctx);
    write_text("cache/big", "other junk\n");
    CHECK(context_pack(ctxdir, "Dockerfile", &ctx, &err) == 0 &&
              strcmp(ctx.digest, first) == 0,
          "a change in an ignored file keeps the digest");
    context_close(&ctx);
    write_text("app/main.sh", "echo bye\n");
    CHECK(context_pack(ctxdir, "Dockerfile", &ctx, &err) == 0 &&
              strcmp(ctx.digest, first) != 0,
          "a change in a packed file changes the digest");
    context_close(&ctx);

    CHECK(context_pack(ctxdir, "Nope", &ctx, &err) < 0 && strstr(err.message, "-f FILE"),
          "a missing Dockerfile says how to name another (%s)", err.message);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", ctxdir);
    CHECK(system(cmd) == 0, "cleaned up");
}

/* ---- the create body -------------------------------------------------------------------- */

/* The run's environment as docker/run.c makes it: command_env's docker view. */
static json_t *make_config(hutch_policy *p, hutch_error *err)
{
    char *argv[] = {"echo", "hi", NULL};
    struct strlist env = {0};
    if (command_env(p, ENV_DOCKER, &env, err) < 0)
        return NULL;
    struct container_request req = {.kind = "run", .argv = argv, .envp = env.items,
                                    .engine_socket = ""};
    json_t *c = container_config(p, &req, err);
    strlist_clear(&env);
    return c;
}

static const char *tmpfs_of(json_t *config, const char *path)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(config, "HostConfig"), "Tmpfs"), path));
}

static void test_default_container(void)
{
    hutch_policy *p = hutch_policy_new();
    hutch_error err = {0};
    json_t *c = make_config(p, &err);
    CHECK(c != NULL, "default policy makes a container (%s)", err.message);
    json_t *host = json_object_get(c, "HostConfig");
    CHECK_STR(json_string_value(json_object_get(c, "Image")), "hutch-sandbox:bookworm-slim",
              "default image");
    CHECK_STR(json_string_value(json_object_get(host, "NetworkMode")), "none", "no network");
    CHECK(json_is_true(json_object_get(c, "NetworkDisabled")), "network disabled");
    CHECK_STR(json_string_value(json_array_get(json_object_get(host, "CapDrop"), 0)), "ALL",
              "every capability dropped");
    CHECK(json_array_size(json_object_get(host, "CapAdd")) == 0, "none added");
    CHECK_STR(json_string_value(json_array_get(json_object_get(host, "SecurityOpt"), 0)),
              "no-new-privileges", "no-new-privileges");
    CHECK(json_is_false(json_object_get(host, "Privileged")), "not privileged");
    CHECK(json_is_true(json_object_get(host, "ReadonlyRootfs")), "read-only root");
    CHECK_STR(json_string_value(json_object_get(c, "User")), "1000:1000", "non-root user");
    CHECK_STR(json_string_value(json_object_get(c, "WorkingDir")), "/workspace", "workdir");
    CHECK_CONTAINS(tmpfs_of(c, "/tmp"), "uid=1000,gid=1000", "/tmp is owned by the user");
    CHECK_CONTAINS(tmpfs_of(c, "/workspace"), "nosuid,nodev",
                   "no workspace given: a tmpfs, without setuid or devices");
    CHECK(json_array_size(json_object_get(host, "Mounts")) == 0, "no bind mounts by default");
    CHECK(json_object_get(host, "Memory") == NULL, "no memory limit unless asked");
    CHECK_STR(json_string_value(json_object_get(json_object_get(c, "Labels"), "hutch.managed")),
              "true", "labelled as hutch's");
    CHECK_STR(json_string_value(json_object_get(json_object_get(c, "Labels"), "hutch.kind")),
              "run", "labelled with its kind");
    CHECK(json_array_size(json_object_get(c, "Entrypoint")) == 0,
          "the image's entrypoint does not wrap the command");
    CHECK_STR(json_string_value(json_array_get(json_object_get(c, "Cmd"), 1)), "hi",
              "argv is passed as is");
    json_decref(c);
    hutch_policy_free(p);
}

static void set(hutch_policy *p, const char *key, const char *value)
{
    hutch_error err = {0};
    if (hutch_policy_set(p, key, value, &err) < 0) {
        printf("# %s\n", err.message);
        abort();
    }
}

static void test_limits_and_mounts(void)
{
    hutch_policy *p = hutch_policy_new();
    hutch_error err = {0};
    set(p, "limits.memory", "256m");
    set(p, "limits.cpus", "1.5");
    set(p, "limits.pids", "64");
    set(p, "limits.fileSize", "1m");
    set(p, "network.mode", "bridge");
    set(p, "workspace", "/usr/share");
    set(p, "filesystem.readOnly", "/usr/lib:/lib-view");
    set(p, "filesystem.denyRead", "/usr/share/doc");
    set(p, "docker.user", "2000:3000");
    set(p, "docker.runtime", "runsc");
    set(p, "env", "A=1");
    set(p, "docker.env", "A=from-docker");
    set(p, "docker.env", "B=2");
    json_t *c = make_config(p, &err);
    CHECK(c != NULL, "limits and mounts make a container (%s)", err.message);
    json_t *host = json_object_get(c, "HostConfig");
    CHECK(json_integer_value(json_object_get(host, "Memory")) == 256 << 20, "memory limit");
    CHECK(json_integer_value(json_object_get(host, "MemorySwap")) == 256 << 20,
          "MemorySwap equals Memory: no swap");
    CHECK(json_integer_value(json_object_get(host, "NanoCpus")) == 1500000000, "NanoCpus");
    CHECK(json_integer_value(json_object_get(host, "PidsLimit")) == 64, "PidsLimit");
    CHECK_STR(json_string_value(json_object_get(host, "NetworkMode")), "bridge", "bridge");
    CHECK_STR(json_string_value(json_object_get(host, "Runtime")), "runsc", "runtime");
    CHECK_STR(json_string_value(json_object_get(c, "User")), "2000:3000", "docker.user");
    CHECK_CONTAINS(tmpfs_of(c, "/tmp"), "uid=2000,gid=3000", "tmpfs owned by that user");
    autofree char *text = json_dumps(host, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_CONTAINS(text, "\"Name\":\"fsize\"", "file size as an ulimit");
    CHECK_CONTAINS(text, "\"Source\":\"/usr/share\",\"Target\":\"/workspace\",\"Type\":\"bind\"",
                   "workspace bound read-write");
    CHECK_CONTAINS(text, "\"ReadOnly\":true,\"Source\":\"/usr/lib\",\"Target\":\"/lib-view\"",
                   "readOnly bound read-only at its target");
    CHECK_CONTAINS(text, "\"/workspace/doc\":\"ro,nosuid,nodev,noexec,mode=000\"",
                   "a denied directory under a bind is covered by an empty tmpfs");
    autofree char *env = json_dumps(json_object_get(c, "Env"), JSON_COMPACT);
    CHECK(strstr(env, "A=from-docker") == NULL, "env beats docker.env (%s)", env);
    CHECK_CONTAINS(env, "\"B=2\"", "docker.env adds its variables");
    json_decref(c);
    hutch_policy_free(p);
}

static void test_refusals(void)
{
    hutch_policy *p = hutch_policy_new();
    hutch_error err = {0};
    set(p, "network.allowedDomains", "example.com");
    set(p, "docker.network", "bridge");
    CHECK(make_config(p, &err) == NULL && strstr(err.message, "needs network none"),
          "an allowlist with docker.network bridge is refused, not widened (%s)", err.message);
    hutch_policy_free(p);

    /* The allowlist: network none, the proxy's directory and hutch-init
     * mounted read-only, hutch-init bridging in front of the command. */
    p = hutch_policy_new();
    err = (hutch_error){0};
    set(p, "network.allowedDomains", "example.com");
    char *run_argv[] = {"echo", "hi", NULL};
    char *run_envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct container_request allow = {.kind = "run", .argv = run_argv, .envp = run_envp,
                                    .engine_socket = "", .proxy_dir = "/tmp/hutch-net-x",
                                    .agent_binary = "/usr/libexec/hutch/hutch-init"};
    json_t *c = container_config(p, &allow, &err);
    autofree char *text = c ? json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    CHECK(text != NULL, "an allowlist container is made (%s)", err.message);
    CHECK_CONTAINS(text, "\"NetworkMode\":\"none\"", "allowlist: network none");
    CHECK_CONTAINS(text, "\"ReadOnly\":true,\"Source\":\"/tmp/hutch-net-x\",\"Target\":\"/.hutch\"",
                   "allowlist: the proxy's directory read-only at /.hutch");
    CHECK_CONTAINS(text, "\"Entrypoint\":[\"/.hutch-init\",\"--proxy\",\"/.hutch/proxy.sock\",\"--\"]",
                   "allowlist: hutch-init bridges, then runs the command");
    json_decref(c);
    hutch_policy_free(p);

    char dir[64], sock[128];
    snprintf(dir, sizeof dir, "/tmp/hutch-sock-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(sock, sizeof sock, "%s/engine.sock", dir);
    FILE *f = fopen(sock, "w");
    if (f)
        fclose(f);
    p = hutch_policy_new();
    set(p, "filesystem.readOnly", dir);
    char *argv[] = {"true", NULL};
    char *envp[] = {NULL};
    struct container_request req = {.kind = "run", .argv = argv, .envp = envp,
                                    .engine_socket = sock};
    err = (hutch_error){0};
    CHECK(container_config(p, &req, &err) == NULL && strstr(err.message, "engine's socket"),
          "a read-only bind that shows the engine's socket is refused (%s)", err.message);
    hutch_policy_free(p);
    p = hutch_policy_new();
    set(p, "workspace", dir);
    err = (hutch_error){0};
    CHECK(container_config(p, &req, &err) == NULL && strstr(err.message, "--workspace"),
          "so is a workspace that holds it (%s)", err.message);
    hutch_policy_free(p);
    unlink(sock);
    rmdir(dir);
}

static void test_podman_options(void)
{
    hutch_policy *p = hutch_policy_new();
    hutch_error err = {0};
    char *argv[] = {"true", NULL};
    char *envp[] = {NULL};
    struct container_request req = {.kind = "run", .argv = argv, .envp = envp,
                                    .engine_socket = "", .podman = true};
    json_t *c = container_config(p, &req, &err);
    CHECK(c != NULL, "a Podman container (%s)", err.message);
    CHECK_CONTAINS(tmpfs_of(c, "/tmp"), ",U", "Podman: tmpfs owned with U");
    CHECK(strstr(tmpfs_of(c, "/tmp"), "uid=") == NULL, "Podman: no uid= (it rejects it)");
    CHECK(json_array_size(json_object_get(json_object_get(c, "HostConfig"), "Ulimits")) == 0,
          "Podman: no ulimit named unless asked (it would raise all the others)");
    json_decref(c);
    set(p, "limits.fileSize", "1m");
    c = container_config(p, &req, &err);
    CHECK(json_array_size(json_object_get(json_object_get(c, "HostConfig"), "Ulimits")) == 2,
          "Podman: a file size names fsize, and core with it");
    json_decref(c);
    hutch_policy_free(p);
}

/* hutch's seccomp profile and hutch-init as PID 1 (docs/docker.md). */
static void test_seccomp_and_init(void)
{
    hutch_policy *p = hutch_policy_new();
    hutch_error err = {0};
    char *argv[] = {"greet", NULL};
    char *envp[] = {NULL};
    char *image_entrypoint[] = {"/bin/sh", "-c", "exec \"$0\"", NULL};
    struct container_request req = {.kind = "skill", .argv = argv, .envp = envp,
                                    .engine_socket = "", .keep_entrypoint = true,
                                    .agent_binary = "/usr/libexec/hutch/hutch-init",
                                    .image_entrypoint = image_entrypoint};
    json_t *c = container_config(p, &req, &err);
    json_t *host = json_object_get(c, "HostConfig");
    json_t *options = json_object_get(host, "SecurityOpt");
    const char *seccomp = json_string_value(json_array_get(options, 1));
    CHECK(seccomp && strncmp(seccomp, "seccomp=", 8) == 0, "a seccomp profile is passed (%s)",
          seccomp ? seccomp : "none");
    json_t *profile = seccomp ? json_loads(seccomp + 8, 0, NULL) : NULL;
    CHECK_STR(json_string_value(json_object_get(profile, "defaultAction")), "SCMP_ACT_ERRNO",
              "the profile is an allowlist");
    CHECK(json_integer_value(json_object_get(profile, "defaultErrnoRet")) == ENOSYS,
          "what it does not name fails with ENOSYS");
    json_decref(profile);
    CHECK(json_is_false(json_object_get(host, "Init")), "no engine init: hutch-init is PID 1");
    autofree char *text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_CONTAINS(text, "\"Entrypoint\":[\"/.hutch-init\",\"--\",\"/bin/sh\",\"-c\",",
                   "a skill's image entrypoint runs under hutch-init");
    CHECK_CONTAINS(text, "\"ReadOnly\":true,\"Source\":\"/usr/libexec/hutch/hutch-init\","
                         "\"Target\":\"/.hutch-init\"",
                   "hutch-init is bound read-only");
    json_decref(c);

    /* Podman takes the profile as a file; sessions set their own entrypoint. */
    req = (struct container_request){.kind = "session", .argv = envp, .envp = envp,
                                     .engine_socket = "", .podman = true,
                                     .seccomp_file = "/tmp/hutch-seccomp-x.json"};
    c = container_config(p, &req, &err);
    host = json_object_get(c, "HostConfig");
    CHECK_STR(json_string_value(json_array_get(json_object_get(host, "SecurityOpt"), 1)),
              "seccomp=/tmp/hutch-seccomp-x.json", "Podman: the profile's file");
    json_t *entrypoint = json_object_get(c, "Entrypoint");
    CHECK(entrypoint && json_array_size(entrypoint) == 0,
          "without hutch-init, no entrypoint is set here");
    json_decref(c);
    hutch_policy_free(p);
}

/* ---- a skill's Dockerfile: its own CMD and ENTRYPOINT --------------------------------- */

static void check_sets(const char *text, bool cmd, bool entrypoint, const char *what)
{
    struct dockerfile_sets sets;
    dockerfile_scan(text, &sets);
    CHECK(sets.cmd == cmd && sets.entrypoint == entrypoint, "%s: cmd %d entrypoint %d", what,
          sets.cmd, sets.entrypoint);
}

static void test_dockerfile_scan(void)
{
    check_sets("FROM python:3.11-slim\nRUN useradd -m skilluser\nWORKDIR /app\n"
               "COPY . .\nUSER skilluser\nCMD [\"python\", \"-m\", \"skills.myskill\"]\n",
               true, false, "the skill runner's Dockerfile");
    check_sets("FROM hutch-sandbox:bookworm-slim\nCOPY greet /usr/local/bin/\n", false, false,
               "CMD inherited from the base image");
    check_sets("FROM x\nENTRYPOINT [\"/tool\"]\n", false, true, "own ENTRYPOINT");
    check_sets("from x\n  entrypoint /tool\n\tcmd --help", true, true,
               "any case, indented, no final newline");
    check_sets("# escape=`\nFROM x\nRUN echo `\n  CMD\n", false, false,
               "escape directive: a continued RUN line that mentions CMD");
    check_sets("FROM x\nRUN echo \\\n# CMD in a comment\n  CMD is an argument\n", false, false,
               "comments inside continued lines, then the continuation");
    check_sets("FROM x\nRUN echo \\\n\nCMD [\"a\"]\n", false, false,
               "an empty line does not end a continuation");
    check_sets("FROM x\n# CMD [\"commented\"]\nONBUILD CMD [\"later\"]\n", false, false,
               "comments and ONBUILD");
    check_sets("FROM x AS build\nCMD [\"a\"]\nFROM Build\nRUN true\n", true, false,
               "a stage FROM an earlier stage inherits its CMD (names in any case)");
    check_sets("FROM x AS build\nCMD [\"a\"]\nFROM --platform=linux/amd64 y\nRUN true\n", false,
               false, "a stage FROM another image does not");
    check_sets("FROM x\nCMD \\\n  [\"python\", \\\n   \"-m\", \"m\"]\n", true, false,
               "a CMD over several lines");
    check_sets("", false, false, "empty");
    check_sets("# escape=\\\n\n# escape=`\nFROM x\nRUN a `\nCMD b\n", true, false,
               "a directive after an empty line is a comment");
}

int main(void)
{
    test_frames();
    test_ignore();
    test_context();
    test_default_container();
    test_limits_and_mounts();
    test_refusals();
    test_podman_options();
    test_seccomp_and_init();
    test_dockerfile_scan();
    return tap_done();
}
