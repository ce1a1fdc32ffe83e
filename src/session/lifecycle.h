/* What a use of a session must do to its sandbox, as a pure function of
 * what is known about it: the record, the policy of this call and what a
 * probe found. session_ensure() gathers the facts (the costly ones only
 * when asked for) and carries the decision out. */
#ifndef HUTCH_SESSION_LIFECYCLE_H
#define HUTCH_SESSION_LIFECYCLE_H

#include <stdbool.h>

#include "session/record.h"

/* A fact that costs I/O is UNKNOWN until the decision asks for it. */
enum fact { FACT_UNKNOWN, FACT_NO, FACT_YES };

/* The state of a sandbox as a probe finds it. */
enum probed {
    PROBED_UNKNOWN,
    PROBED_RUNNING,
    PROBED_STOPPED, /* stopped on purpose, or gone */
    PROBED_BROKEN,  /* there, but its agent does not answer */
};

struct lifecycle_facts {
    bool has_record;
    bool create_if_missing; /* autoCreate, or session create */
    bool fail_if_exists;    /* session create */
    /* With a record: */
    enum record_state state;
    bool same_config;    /* the settings fixed at creation are this policy's */
    bool wanted_kind;    /* the record's kind is the one this policy gives */
    bool marked_broken;  /* its agent misbehaved (session_mark_broken) */
    bool uses_agent;     /* commands go through the agent's socket */
    enum fact agent_answers; /* a connection to the agent passed its checks */
    enum probed probed;
};

enum lifecycle_action {
    LIFE_NEED_AGENT,     /* connect to the agent, set agent_answers, decide again */
    LIFE_NEED_PROBE,     /* probe the sandbox, set probed, decide again */
    LIFE_USE,            /* up and unchanged: use it as it is */
    LIFE_CREATE,         /* no record: make the sandbox */
    LIFE_RECREATE,       /* its settings or kind changed: remove, make anew (with a notice) */
    LIFE_RETRY,          /* its creation failed: remove what is left, make anew */
    LIFE_REPLACE,        /* its agent misbehaved: remove the sandbox, start a new one */
    LIFE_RESTART,        /* stopped or gone: start it again */
    LIFE_RESTART_BROKEN, /* gone without a stop, or its agent is mute: start again (notice) */
    LIFE_REFUSE_EXISTS,  /* session create of a session that exists */
    LIFE_REFUSE_MISSING, /* no record, and autoCreate is off */
};

enum lifecycle_action session_lifecycle(const struct lifecycle_facts *f);

/* The state status reports, from the record's state and a probe. */
enum probed session_state_now(enum record_state recorded, bool marked_broken, enum probed probed);

#endif
