/* The session lifecycle's decisions (src/session/lifecycle.c): every
 * transition, from every recorded state, and the facts it asks for. */
#include "session/lifecycle.h"
#include "tap.h"

static const char *action_name(enum lifecycle_action a)
{
    static const char *const names[] = {
        "need-agent", "need-probe", "use",     "create",          "recreate",       "retry",
        "replace",    "restart",    "restart-broken", "refuse-exists", "refuse-missing"};
    return names[a];
}

/* A session with a record, unchanged, using its agent. */
static struct lifecycle_facts existing(enum record_state state)
{
    return (struct lifecycle_facts){
        .has_record = true,
        .create_if_missing = true,
        .state = state,
        .same_config = true,
        .wanted_kind = true,
        .uses_agent = true,
    };
}

#define EXPECT(facts, want, ...)                                                               \
    do {                                                                                       \
        struct lifecycle_facts f_ = (facts);                                                   \
        CHECK_STR(action_name(session_lifecycle(&f_)), action_name(want), __VA_ARGS__);        \
    } while (0)

static void without_record(void)
{
    struct lifecycle_facts f = {.create_if_missing = true};
    EXPECT(f, LIFE_CREATE, "no record, autoCreate: create");
    f.fail_if_exists = true;
    EXPECT(f, LIFE_CREATE, "session create of a new key: create");
    f.create_if_missing = false;
    f.fail_if_exists = false;
    EXPECT(f, LIFE_REFUSE_MISSING, "no record, autoCreate off: refused");
}

static void with_record(void)
{
    struct lifecycle_facts f = existing(RECORD_RUNNING);
    f.fail_if_exists = true;
    EXPECT(f, LIFE_REFUSE_EXISTS, "session create of an existing key: refused");

    for (int st = RECORD_CREATING; st <= RECORD_FAILED; st++) {
        const char *name = record_state_name((enum record_state)st);
        f = existing((enum record_state)st);
        f.same_config = false;
        EXPECT(f, LIFE_RECREATE, "%s, configuration changed: recreate", name);
        f = existing((enum record_state)st);
        f.wanted_kind = false;
        EXPECT(f, LIFE_RECREATE, "%s, another kind of sandbox wanted: recreate", name);
        f = existing((enum record_state)st);
        f.marked_broken = true;
        EXPECT(f, st == RECORD_FAILED ? LIFE_RETRY : LIFE_REPLACE,
               "%s, agent marked broken: %s", name, st == RECORD_FAILED ? "retry" : "replace");
    }
    EXPECT(existing(RECORD_FAILED), LIFE_RETRY, "failed creation: tried again");
    EXPECT(existing(RECORD_STOPPED), LIFE_RESTART, "stopped: started, no probe needed");
}

static void fast_path(void)
{
    struct lifecycle_facts f = existing(RECORD_RUNNING);
    EXPECT(f, LIFE_NEED_AGENT, "running with an agent: connect first");
    f.agent_answers = FACT_YES;
    EXPECT(f, LIFE_USE, "the agent answers: use it");
    f.agent_answers = FACT_NO;
    EXPECT(f, LIFE_NEED_PROBE, "the agent does not answer: probe");
    f.probed = PROBED_RUNNING;
    EXPECT(f, LIFE_USE, "probe finds it running: use it");
    f.probed = PROBED_STOPPED;
    EXPECT(f, LIFE_RESTART_BROKEN, "gone without a stop: restarted with a notice");
    f.probed = PROBED_BROKEN;
    EXPECT(f, LIFE_RESTART_BROKEN, "there but mute: restarted with a notice");

    f = existing(RECORD_RUNNING);
    f.uses_agent = false; /* host sessions, adopted containers, TCP engines */
    EXPECT(f, LIFE_NEED_PROBE, "no agent: probe instead of connecting");
    f.probed = PROBED_RUNNING;
    EXPECT(f, LIFE_USE, "no agent, running: use it");

    f = existing(RECORD_CREATING); /* a creation that was cut off */
    EXPECT(f, LIFE_NEED_PROBE, "creating: probe");
    f.probed = PROBED_STOPPED;
    EXPECT(f, LIFE_RESTART, "creating, nothing there: start");
    f.probed = PROBED_RUNNING;
    EXPECT(f, LIFE_USE, "creating, running after all: use it");
}

static void state_now(void)
{
    CHECK(session_state_now(RECORD_STOPPED, true, PROBED_RUNNING) == PROBED_STOPPED,
          "stopped on purpose stays stopped");
    CHECK(session_state_now(RECORD_RUNNING, true, PROBED_RUNNING) == PROBED_BROKEN,
          "marked broken is broken whatever the probe says");
    CHECK(session_state_now(RECORD_RUNNING, false, PROBED_STOPPED) == PROBED_BROKEN,
          "running but gone is broken");
    CHECK(session_state_now(RECORD_CREATING, false, PROBED_STOPPED) == PROBED_STOPPED,
          "creating and gone is stopped");
    CHECK(session_state_now(RECORD_RUNNING, false, PROBED_RUNNING) == PROBED_RUNNING,
          "running is running");
}

int main(void)
{
    without_record();
    with_record();
    fast_path();
    state_now();
    return tap_done();
}
