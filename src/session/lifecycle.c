/* The session lifecycle's decisions (lifecycle.h); no I/O here. */
#include "session/lifecycle.h"

enum lifecycle_action session_lifecycle(const struct lifecycle_facts *f)
{
    if (!f->has_record)
        return f->create_if_missing ? LIFE_CREATE : LIFE_REFUSE_MISSING;
    if (f->fail_if_exists)
        return LIFE_REFUSE_EXISTS;
    if (!f->same_config || !f->wanted_kind)
        return LIFE_RECREATE;
    /* A failed creation is tried again on the next use: the cause (an
     * engine that was down, a network setupCommand needed) may be gone. */
    if (f->state == RECORD_FAILED)
        return LIFE_RETRY;
    if (f->marked_broken)
        return LIFE_REPLACE;
    /* The fast path: one connection to the agent, nothing else. */
    if (f->state == RECORD_RUNNING && f->uses_agent) {
        if (f->agent_answers == FACT_UNKNOWN)
            return LIFE_NEED_AGENT;
        if (f->agent_answers == FACT_YES)
            return LIFE_USE;
    }
    if (f->state == RECORD_STOPPED)
        return LIFE_RESTART;
    if (f->probed == PROBED_UNKNOWN)
        return LIFE_NEED_PROBE;
    switch (session_state_now(f->state, false, f->probed)) {
    case PROBED_RUNNING:
        return LIFE_USE;
    case PROBED_BROKEN:
        return LIFE_RESTART_BROKEN;
    default:
        return LIFE_RESTART;
    }
}

enum probed session_state_now(enum record_state recorded, bool marked_broken, enum probed probed)
{
    if (recorded == RECORD_STOPPED)
        return PROBED_STOPPED;
    if (marked_broken)
        return PROBED_BROKEN;
    /* Gone without being stopped: killed, crashed, or the machine rebooted. */
    if (probed == PROBED_STOPPED && recorded == RECORD_RUNNING)
        return PROBED_BROKEN;
    return probed;
}
