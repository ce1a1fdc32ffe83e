/* libFuzzer target: the agent protocol's decoder (src/agent/proto.c), which
 * hutch-init runs on whatever reaches its socket and the host on whatever the
 * sandbox answers. The input is a header and a body; a message that decodes
 * must encode again to a message that decodes to the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_str(struct agent_str a, struct agent_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.s, b.s, a.len) == 0);
}

static void put_str(struct agent_buf *b, enum agent_tag tag, struct agent_str s)
{
    char *copy = agent_str_dup(s);
    if (!copy)
        abort();
    agent_put_str(b, tag, copy);
    free(copy);
}

/* Encodes m again with every field the decoder keeps. */
static void encode(const struct agent_msg *m, struct agent_buf *b)
{
    agent_msg_begin(b, (enum agent_type)m->type);
    for (size_t i = 0; i < m->nargs; i++)
        put_str(b, AF_ARG, m->args[i]);
    for (size_t i = 0; i < m->nenv; i++)
        put_str(b, AF_ENV, m->env[i]);
    if (m->cwd.s)
        put_str(b, AF_CWD, m->cwd);
    agent_put_u64(b, AF_TIMEOUT_MS, m->timeout_ms);
    agent_put_u64(b, AF_GRACE_MS, m->grace_ms);
    agent_put_u64(b, AF_FILE_SIZE, m->file_size);
    agent_put_u64(b, AF_TTY, m->tty);
    if (m->has_signal)
        agent_put_i64(b, AF_SIGNAL, m->signal);
    if (m->has_pid)
        agent_put_u64(b, AF_PID, m->pid);
    if (m->has_code)
        agent_put_i64(b, AF_CODE, m->code);
    if (m->has_version)
        agent_put_u64(b, AF_VERSION, m->version);
    if (m->has_errno)
        agent_put_i64(b, AF_ERRNO, m->err_no);
    agent_put_u64(b, AF_TIMED_OUT, m->timed_out);
    agent_put_u64(b, AF_PIDS, m->pids);
    agent_put_u64(b, AF_MEMORY, m->memory);
    agent_put_u64(b, AF_CPU_USEC, m->cpu_usec);
    if (m->type == AT_ERROR || m->error_kind)
        agent_put_u64(b, AF_ERROR_KIND, m->error_kind);
    if (m->features.s)
        put_str(b, AF_FEATURES, m->features);
    if (m->message.s)
        put_str(b, AF_MESSAGE, m->message);
    if (m->tool.s)
        put_str(b, AF_TOOL, m->tool);
    if (m->tool_args.s)
        put_str(b, AF_ARGS, m->tool_args);
    for (size_t i = 0; i < m->nroots_read; i++)
        put_str(b, AF_ROOT_READ, m->roots_read[i]);
    for (size_t i = 0; i < m->nroots_write; i++)
        put_str(b, AF_ROOT_WRITE, m->roots_write[i]);
    if (m->output_dir.s)
        put_str(b, AF_OUTPUT_DIR, m->output_dir);
    if (m->result.s)
        put_str(b, AF_RESULT, m->result);
    agent_put_u64(b, AF_CONTENT_FD, m->content_fd);
    agent_put_u64(b, AF_MORE, m->more);
}

static void check_same(const struct agent_msg *a, const struct agent_msg *b)
{
    if (a->type != b->type || a->nargs != b->nargs || a->nenv != b->nenv ||
        !same_str(a->cwd, b->cwd) || a->timeout_ms != b->timeout_ms || a->grace_ms != b->grace_ms ||
        a->file_size != b->file_size || a->tty != b->tty || a->has_signal != b->has_signal ||
        a->signal != b->signal || a->has_pid != b->has_pid || a->pid != b->pid ||
        a->has_code != b->has_code || a->code != b->code || a->has_version != b->has_version ||
        a->version != b->version || a->has_errno != b->has_errno || a->err_no != b->err_no ||
        a->timed_out != b->timed_out || a->pids != b->pids || a->memory != b->memory ||
        a->cpu_usec != b->cpu_usec || a->error_kind != b->error_kind ||
        !same_str(a->features, b->features) || !same_str(a->message, b->message) ||
        !same_str(a->tool, b->tool) || !same_str(a->tool_args, b->tool_args) ||
        !same_str(a->output_dir, b->output_dir) || !same_str(a->result, b->result) ||
        a->nroots_read != b->nroots_read || a->nroots_write != b->nroots_write ||
        a->content_fd != b->content_fd || a->more != b->more)
        abort();
    for (size_t i = 0; i < a->nroots_read; i++)
        if (!same_str(a->roots_read[i], b->roots_read[i]))
            abort();
    for (size_t i = 0; i < a->nroots_write; i++)
        if (!same_str(a->roots_write[i], b->roots_write[i]))
            abort();
    for (size_t i = 0; i < a->nargs; i++)
        if (!same_str(a->args[i], b->args[i]))
            abort();
    for (size_t i = 0; i < a->nenv; i++)
        if (!same_str(a->env[i], b->env[i]))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < AGENT_HEADER_SIZE)
        return 0;
    struct agent_header h;
    int kind = agent_header_parse(data, &h);
    /* The body is what follows, whatever the header claims: the agent and
     * the client read exactly h.length bytes, so only a matching length
     * reaches the decoder; a mismatch still exercises it here. */
    const uint8_t *body = data + AGENT_HEADER_SIZE;
    size_t len = size - AGENT_HEADER_SIZE;
    if (kind == 0 && h.length < len)
        len = h.length;
    /* A copy of exactly len bytes, so ASan sees any read past the body. */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return 0;
    memcpy(copy, body, len);

    struct agent_msg m;
    kind = agent_msg_parse(h.type, copy, len, &m);
    if (kind == 0) {
        struct agent_buf b = {0};
        encode(&m, &b);
        /* Re-encoded with every integer field, a body near the limit may
         * no longer fit: then there is nothing to compare. */
        if (agent_msg_end(&b) == 0) {
            struct agent_header h2;
            struct agent_msg again;
            if (agent_header_parse(b.data, &h2) != 0)
                abort();
            if (agent_msg_parse(h2.type, b.data + AGENT_HEADER_SIZE, h2.length, &again) != 0)
                abort();
            check_same(&m, &again);
            agent_msg_free(&again);
        }
        agent_buf_free(&b);
    } else if (kind != AE_MALFORMED && kind != AE_BAD_REQUEST && kind != AE_UNKNOWN_TYPE &&
               kind != AE_SYSTEM) {
        abort(); /* the decoder answers only these */
    }
    agent_msg_free(&m);
    free(copy);
    return 0;
}
