/* Help texts, written like manual pages: NAME, SYNOPSIS, DESCRIPTION,
 * OPTIONS, EXIT STATUS, EXAMPLES. POLICY options come from the field table. */
#include "cli/cli.h"

void help_overview(FILE *out)
{
    fprintf(out,
            "NAME\n"
            "    hutch - run the tool calls of AI agents inside a sandbox\n"
            "\n"
            "SYNOPSIS\n"
            "    hutch run [POLICY] [--json] [--stdin] [--] COMMAND [ARG...]\n"
            "    hutch run [POLICY] [--json] [--stdin] -c 'SHELL STRING'\n"
            "    hutch exec KEY [OPTIONS] [--] COMMAND [ARG...] | -c 'SHELL STRING'\n"
            "    hutch session create|start|stop|rm|status|stats|shell KEY | ls\n"
            "    hutch tool KEY NAME ['JSON' | -] [--content-from FILE|-]\n"
            "    hutch session log KEY [--follow]\n"
            "    hutch mcp [--session KEY] [--http PORT] [--config FILE]\n"
            "    hutch prune [--dry-run] [--workspaces]\n"
            "    hutch config check [FILE] [POLICY]\n"
            "    hutch config path | tool-allowed NAME...\n"
            "    hutch image build DIR [-t TAG] | ls [--all] | rm NAME...\n"
            "    hutch skill build DIR | run DIR ACTION [--args JSON] [POLICY]\n"
            "    hutch doctor [--json]\n"
            "    hutch help [COMMAND]\n"
            "    hutch --version\n"
            "\n"
            "DESCRIPTION\n"
            "    hutch runs commands under a policy that says what they may do:\n"
            "    filesystem, network, resources, identity and environment. A backend\n"
            "    enforces the policy; the result is the command's output and exit status,\n"
            "    or with --json one JSON object.\n"
            "\n"
            "COMMANDS\n"
            "    run       Run one command in a fresh sandbox and wait for it.\n"
            "    exec      Run a command in a session: a sandbox kept between calls.\n"
            "    session   Create, inspect, stop and remove sessions.\n"
            "    tool      Call an agent tool (bash, read, write, edit, process) in a session.\n"
            "    mcp       Serve the tools to an MCP client, on stdio or local HTTP.\n"
            "    prune     Remove the sandboxes of idle or old sessions.\n"
            "    config    Check a config file and print the effective policy.\n"
            "    image     Build, list and remove images for the docker backend.\n"
            "    skill     Build and run a skill: a directory with a Dockerfile.\n"
            "    doctor    Show what works on this machine, and why not.\n"
            "    help      Show the manual of a command: hutch help run.\n"
            "\n"
            "    Policy options are the same for every command: hutch help policy.\n"
            "    Configuration file format: hutch help config, or man 5 hutch-config.\n"
            "\n"
            "EXIT STATUS\n"
            "    run: the command's own status; 128+N when it died by signal N; 124 when\n"
            "    the timeout killed it; 126 when it is not executable; 127 when it was not\n"
            "    found. 125 when hutch itself could not do what was asked (bad option, bad\n"
            "    config, a protection that cannot be set up); hutch then prints one line\n"
            "    on stderr that says what is wrong and what to do.\n");
}

static void help_run(FILE *out)
{
    fprintf(out,
            "NAME\n"
            "    hutch run - run one command in a fresh sandbox\n"
            "\n"
            "SYNOPSIS\n"
            "    hutch run [POLICY] [--json | --result-fd N] [--stdin] [--] COMMAND [ARG...]\n"
            "    hutch run [POLICY] [--json | --result-fd N] [--stdin] -c 'SHELL STRING'\n"
            "              [-- NAME ARG...]\n"
            "\n"
            "DESCRIPTION\n"
            "    Runs COMMAND with its arguments exactly as given: no shell is involved, so\n"
            "    spaces, quotes, $(...) and leading dashes reach the command intact. The\n"
            "    first argument that is not an option starts the command; -- ends the\n"
            "    options explicitly. With -c, runs /bin/sh -c 'SHELL STRING'; arguments\n"
            "    after -- become $0, $1, ...\n"
            "\n"
            "    The environment starts empty except PATH, HOME, LANG and TERM (copied\n"
            "    from hutch's own; PATH defaults to the standard directories and LANG to\n"
            "    C.UTF-8), plus every --env. Standard input is /dev/null unless --stdin.\n"
            "\n"
            "    Without --json the command writes straight to hutch's stdout and stderr\n"
            "    (terminals stay terminals), and hutch exits with the command's status.\n"
            "    When --output-limit is given, output is relayed through hutch and cut at\n"
            "    the limit. With --json, both streams are captured up to --output-limit\n"
            "    each (default 1m; the rest is counted, not kept) and one JSON object is\n"
            "    printed: backend, isolated, exit_code, signal, timed_out, oom_killed,\n"
            "    duration_ms, stdout, stderr, stdout_truncated, stderr_truncated,\n"
            "    stdout_bytes, stderr_bytes, degraded, error.\n"
            "\n"
            "    When the command ends, every process it left in its process group is\n"
            "    killed. On timeout, the group gets SIGTERM, then SIGKILL 2 seconds later.\n"
            "    SIGINT, SIGTERM and SIGHUP sent to hutch are forwarded to the group.\n"
            "\n"
            "OPTIONS\n"
            "    -c STRING\n"
            "        Run STRING with /bin/sh -c.\n"
            "    --json\n"
            "        Capture the output and print one JSON result object.\n"
            "    --result-fd N\n"
            "        Let the output stream as without --json, and write the JSON result\n"
            "        (stdout and stderr null) as one line to open descriptor N (> 2) at\n"
            "        the end, also when hutch fails. N never reaches the sandbox.\n"
            "    --stdin\n"
            "        Give the command hutch's standard input instead of /dev/null.\n"
            "    -h, --help\n"
            "        Show this text.\n"
            "\n"
            "POLICY OPTIONS\n");
    help_policy_options(out);
    fprintf(out,
            "\n"
            "BACKENDS\n"
            "    native (default) Linux namespaces (user, mount, pid, net, ipc, uts,\n"
            "                     cgroup), a root built from read-only binds of /usr and\n"
            "                     /etc (secrets hidden), /workspace read-write, fresh /proc,\n"
            "                     /dev and /tmp; seccomp, Landlock, no capabilities, cgroup\n"
            "                     limits. Works unprivileged. The workspace is --workspace\n"
            "                     DIR, else an empty tmpfs. As root, commands run as\n"
            "                     nobody (65534) unless --user is given.\n"
            "    docker           A fresh container per command through the Docker Engine\n"
            "                     API (--image, default hutch-sandbox:bookworm-slim):\n"
            "                     no network, all capabilities dropped, no-new-privileges,\n"
            "                     read-only root with a tmpfs /tmp, user 1000, limits by\n"
            "                     the engine; removed afterwards, also on timeout or\n"
            "                     error. --runtime runsc for gVisor. --sandbox\n"
            "                     docker:NAME runs in an existing container instead and\n"
            "                     never stops or removes it.\n"
            "    spawn            A child process with a scrubbed environment, its own\n"
            "                     process group, no core dumps, and rlimits for --memory\n"
            "                     (address space) and --file-size. Same filesystem,\n"
            "                     network and user as the caller: not isolated.\n"
            "    host             No isolation at all; prints a warning. Environment,\n"
            "                     timeout and output limits still apply.\n"
            "    A restriction the backend cannot enforce (e.g. --net none, --ro, --pids\n"
            "    with spawn) is refused with exit status 125: hutch never pretends.\n"
            "\n"
            "EXIT STATUS\n"
            "    The command's own status; 128+N when it died by signal N; 124 on\n"
            "    timeout; 126 not executable; 127 not found; 125 when hutch failed.\n"
            "\n"
            "EXAMPLES\n"
            "    hutch run -- echo 'hello, world'\n"
            "    hutch run --json --timeout 10s -c 'make test'\n"
            "    hutch run --env DEBUG=1 --workdir /srv/app -- ./check.sh --fast\n");
}

static void help_config(FILE *out)
{
    fprintf(out,
            "NAME\n"
            "    hutch config - check a config file and show the effective policy\n"
            "\n"
            "SYNOPSIS\n"
            "    hutch config check [FILE] [POLICY]\n"
            "    hutch config path\n"
            "    hutch config tool-allowed NAME... [POLICY]\n"
            "\n"
            "DESCRIPTION\n"
            "    check validates FILE (default: the default config file, if it exists),\n"
            "    applies the POLICY options on top, and prints the effective policy as a\n"
            "    config document. Every error names the key path, the bad value and the\n"
            "    expected form, e.g.\n"
            "        sandbox.limits.memory: \"12q\" is not a size like 512m\n"
            "    path prints where the default config file is looked for:\n"
            "    $XDG_CONFIG_HOME/hutch/config.json, else ~/.config/hutch/config.json.\n"
            "    tool-allowed prints \"NAME allowed\" or \"NAME denied\" for each tool\n"
            "    name under tools.allow and tools.deny (deny wins), hutch's tools and a\n"
            "    harness's own alike.\n"
            "\n"
            "    The file is JSON5 (plain JSON is JSON5): {\"sandbox\": {...}} with the\n"
            "    keys listed in hutch-config(5). Unknown keys are errors. Also accepted as\n"
            "    they are: a chat-gateway config with {\"agent\": {\"sandbox\": {...}}},\n"
            "    a sandbox runtime settings file with top-level \"network\" and\n"
            "    \"filesystem\", a coding agent's executor options ({mode, timeout,\n"
            "    memoryLimit, ...}) and a skill runner's sandbox_config ({cpu_limit,\n"
            "    memory_limit, network_mode}); how each maps is in\n"
            "    " HUTCH_DOCDIR "/docs/migrating.md.\n"
            "\n"
            "    Sizes: 512m, 1g, 1536k, 1048576 (k/m/g/t are powers of 1024).\n"
            "    Durations: 30s, 500ms, 5m, 1h; a bare number is seconds.\n"
            "    CPUs: 0.5, 2. Flags override the file; list flags add to its lists.\n"
            "\n"
            "EXIT STATUS\n"
            "    check: 0 when valid; 1 when the file or an option is invalid (the reason\n"
            "    is on stderr); 125 for a usage error. tool-allowed: 0 when every NAME is\n"
            "    allowed, 1 when one is denied, 125 for an error.\n"
            "\n"
            "EXAMPLES\n"
            "    hutch config check ~/.config/hutch/config.json\n"
            "    hutch config check --memory 1g --net none\n"
            "    hutch config tool-allowed browser bash --config gateway.json5\n");
}

static void help_doctor(FILE *out)
{
    fprintf(out,
            "NAME\n"
            "    hutch doctor - show what works on this machine, and why not\n"
            "\n"
            "SYNOPSIS\n"
            "    hutch doctor [--json]\n"
            "\n"
            "DESCRIPTION\n"
            "    Probes, as the calling user: the native backend (a real sandbox runs\n"
            "    /bin/true), the spawn backend, the seccomp filter, the kernel's Landlock\n"
            "    ABI, and cgroups (layout, controllers, and whether a cgroup with memory,\n"
            "    pids and CPU limits can be created), and the Docker engine (reachable,\n"
            "    API version, runtimes, default image present, a container runs\n"
            "    /bin/true). Each line says ok or no, and for\n"
            "    no, why and what to do.\n"
            "\n"
            "EXIT STATUS\n"
            "    0 when the native backend works here, 1 when it does not.\n");
}

static void help_image(FILE *out)
{
    fprintf(out,
            "NAME\n"
            "    hutch image - build, list and remove images for the docker backend\n"
            "\n"
            "SYNOPSIS\n"
            "    hutch image build DIR [-t TAG] [-f DOCKERFILE] [--no-cache] [-q]\n"
            "    hutch image ls [--all] [--json]\n"
            "    hutch image rm NAME...\n"
            "    hutch image prune [NAME...] [--dry-run] [--json]\n"
            "\n"
            "DESCRIPTION\n"
            "    build tars DIR (leaving out what its .dockerignore names), sends it to the\n"
            "    engine and prints the build's progress; a failed step is shown with the\n"
            "    engine's message and exit status 125. The image is tagged TAG (default\n"
            "    hutch-image:latest) and labelled hutch.managed=true. The Dockerfile's\n"
            "    FROM must be available locally or from a registry the engine reaches.\n"
            "\n"
            "    ls lists the images hutch built (all images with --all). rm removes\n"
            "    images by tag or ID.\n"
            "\n"
            "    prune removes what hutch built and no longer needs: each skill's older\n"
            "    images (all but the newest hutch-skill-NAME tag of each skill directory)\n"
            "    and dangling images (a tag built again moved away from them); NAME...\n"
            "    (repositories, e.g. hutch-skill-weather) limits it to those. Images hutch\n"
            "    did not build are never touched; one a container still uses is kept and\n"
            "    said so on stderr. --dry-run lists what would go; --json prints\n"
            "    [{\"name\", \"id\", \"reason\", \"removed\", \"error\"}].\n"
            "\n"
            "    The engine is docker.host from the config, else DOCKER_HOST, else\n"
            "    /var/run/docker.sock. --config FILE and --no-config are accepted.\n"
            "\n"
            "    The default sandbox image, hutch-sandbox:bookworm-slim, comes from\n"
            "        " HUTCH_DATADIR "/images/Dockerfile.sandbox\n"
            "    (needs a registry for debian:bookworm-slim) or, offline, from\n"
            "        " HUTCH_DATADIR "/bootstrap-image.sh\n"
            "    (debootstrap + import; as root).\n"
            "\n"
            "EXAMPLES\n"
            "    hutch image build " HUTCH_DATADIR "/images -f Dockerfile.sandbox \\\n"
            "        -t hutch-sandbox:bookworm-slim\n"
            "    hutch image ls\n"
            "    hutch image rm hutch-image:latest\n"
            "    hutch image prune --dry-run\n");
}

static void help_skill(FILE *out)
{
    fprintf(out,
            "NAME\n"
            "    hutch skill - build and run a skill in a container\n"
            "\n"
            "SYNOPSIS\n"
            "    hutch skill build DIR [-f DOCKERFILE]\n"
            "    hutch skill run DIR ACTION [--args JSON] [--json] [-v] [POLICY]\n"
            "\n"
            "DESCRIPTION\n"
            "    A skill is a directory with a Dockerfile. Its image is tagged\n"
            "    hutch-skill-NAME:DIGEST, where DIGEST hashes the files the build sees\n"
            "    (after .dockerignore), so it is rebuilt only when they change; the\n"
            "    skill's older images are removed then. build builds it ahead of time\n"
            "    and prints the tag.\n"
            "\n"
            "    run starts an ephemeral container of that image with the docker\n"
            "    backend's safe defaults and POLICY on top, and runs ACTION the way the\n"
            "    image is written to be run:\n"
            "        its own ENTRYPOINT:  ENTRYPOINT ACTION\n"
            "        else its own CMD:    CMD ACTION ARGS   (e.g. python -m skills.NAME)\n"
            "        else:                ACTION, a command of the image\n"
            "    ARGS is the JSON of --args (default {}), which is also on standard\n"
            "    input and in SKILL_ARGS, with ACTION in SKILL_ACTION. It prints one\n"
            "    JSON object:\n"
            "        {\"status\": \"ok\" | \"error\", \"output\": ..., \"error\": ...}\n"
            "    output is the action's stdout, parsed when it is JSON, else a string;\n"
            "    error is null, or why it failed (its stderr, the exit status, out of\n"
            "    memory, timed out). An action that succeeds and prints a JSON object\n"
            "    with a \"status\" of its own answers with that object. With --json the\n"
            "    result fields of hutch run are added. -v shows the build. A skill\n"
            "    always runs on the docker backend: --backend with another value is\n"
            "    refused.\n"
            "\n"
            "EXIT STATUS\n"
            "    The action's status; 125 when hutch could not build or run it.\n"
            "\n"
            "EXAMPLES\n"
            "    hutch skill run ./weather forecast --args '{\"city\": \"Oslo\"}'\n"
            "    hutch skill build ./weather\n");
}

static void help_exec(FILE *out)
{
    fprintf(out,
            "NAME\n"
            "    hutch exec - run a command in a session\n"
            "\n"
            "SYNOPSIS\n"
            "    hutch exec KEY [--json | --result-fd N] [--stdin] [OPTIONS] [--] COMMAND...\n"
            "    hutch exec KEY [--json | --result-fd N] [--stdin] [OPTIONS] -c 'STRING'\n"
            "\n"
            "DESCRIPTION\n"
            "    Runs COMMAND in the sandbox of session KEY, which persists between calls:\n"
            "    files written outside /workspace stay until the session is removed, and\n"
            "    /workspace is the session's workspace directory on the host. A session\n"
            "    that does not exist yet is created with the config file's policy (unless\n"
            "    autoCreate is false); one whose config changed is recreated, with a notice\n"
            "    (the workspace is kept); one whose sandbox is gone is started again.\n"
            "\n"
            "    The command is started by the session's agent, hutch-init, with hutch's\n"
            "    own standard streams (or capture pipes with --json): no copying.\n"
            "    Output, exit status, --json and --result-fd are those of hutch run.\n"
            "\n"
            "OPTIONS\n"
            "    Per-run options only: --timeout, --output-limit, --file-size, --env,\n"
            "    --inherit-env, --workdir, --config, --no-config. Settings fixed at\n"
            "    creation (mounts, network, limits, backend, image...) go to\n"
            "    hutch session create.\n"
            "\n"
            "EXIT STATUS\n"
            "    As hutch run: the command's status, 124 on timeout, 125 when hutch failed.\n"
            "\n"
            "EXAMPLES\n"
            "    hutch exec chat-42 -- ls -la\n"
            "    hutch exec chat-42 --json --timeout 30 -c 'pip list | wc -l'\n");
}

static void help_session(FILE *out)
{
    fprintf(out,
            "NAME\n"
            "    hutch session - manage sessions: sandboxes kept between calls\n"
            "\n"
            "SYNOPSIS\n"
            "    hutch session create KEY [--workspace DIR] [POLICY] [--json]\n"
            "    hutch session start KEY | stop KEY | rm KEY [--workspaces]\n"
            "    hutch session status KEY [--json] | stats KEY [--json] | ls [--json]\n"
            "    hutch session shell KEY\n"
            "    hutch session log KEY [--follow]\n"
            "\n"
            "DESCRIPTION\n"
            "    create makes the session's sandbox now (hutch exec would on first use)\n"
            "    and keeps POLICY for it; setupCommand runs once in it. A session is one\n"
            "    container (docker backend) or one set of namespaces (native), with the\n"
            "    agent hutch-init as its PID 1, and a workspace directory under\n"
            "    workspaceRoot (or --workspace) mounted at /workspace.\n"
            "\n"
            "    stop ends the sandbox's processes; the next use starts it again. rm\n"
            "    removes the sandbox and the record; --workspaces also the workspace\n"
            "    directory, when hutch made it. Adopted containers (--sandbox docker:NAME)\n"
            "    are never stopped or removed, only forgotten.\n"
            "\n"
            "    status shows one session (running, stopped, broken, failed and why);\n"
            "    ls all of them; stats the processes, memory and CPU time in its sandbox\n"
            "    now; shell opens an interactive shell on a pseudo terminal; log prints the\n"
            "    audit log of tool calls, one JSON line each (--follow waits for more).\n"
            "\n"
            "    State lives in $HUTCH_STATE_DIR, else /var/lib/hutch for root, else\n"
            "    $XDG_STATE_HOME/hutch (" HUTCH_DOCDIR "/docs/sessions.md).\n"
            "\n"
            "EXAMPLES\n"
            "    hutch session create chat-42 --memory 512m\n"
            "    hutch session ls\n"
            "    hutch session rm chat-42 --workspaces\n");
}

static void help_tool(FILE *out)
{
    fprintf(out,
            "NAME\n"
            "    hutch tool - call an agent tool in a session\n"
            "\n"
            "SYNOPSIS\n"
            "    hutch tool KEY NAME ['JSON' | -] [--content-from FILE|-] [--config FILE]\n"
            "\n"
            "DESCRIPTION\n"
            "    Calls tool NAME (bash, read, write, edit, process) with the JSON object of\n"
            "    arguments (from stdin with -) inside session KEY, creating the session when\n"
            "    needed, and prints the result as one JSON object: {\"ok\": true, \"text\":\n"
            "    ...} or {\"ok\": false, \"error\": ...}. Arguments are checked against the\n"
            "    tool's schema: unknown fields are refused, numbers are clamped to the\n"
            "    policy, and nothing in them can change the sandbox. tools.allow and\n"
            "    tools.deny decide which tools exist. Every call is appended to the\n"
            "    session's audit log (hutch session log KEY). --content-from streams the\n"
            "    content of a write from a file or stdin, of any size.\n"
            "    " HUTCH_DOCDIR "/docs/tools.md.\n"
            "\n"
            "EXIT STATUS\n"
            "    0 when the tool succeeded, 1 when it reported a failure, 125 when hutch\n"
            "    could not call it (unknown or denied tool, bad JSON, no session).\n"
            "\n"
            "EXAMPLES\n"
            "    hutch tool chat-42 write '{\"path\": \"notes.txt\", \"content\": \"hi\\n\"}'\n"
            "    hutch tool chat-42 read '{\"path\": \"notes.txt\"}'\n"
            "    hutch tool chat-42 bash '{\"command\": \"ls -la\"}'\n");
}

static void help_mcp(FILE *out)
{
    fprintf(out,
            "NAME\n"
            "    hutch mcp - serve the agent tools to an MCP client\n"
            "\n"
            "SYNOPSIS\n"
            "    hutch mcp [--session KEY] [--config FILE] [--http PORT] [OPTIONS]\n"
            "\n"
            "DESCRIPTION\n"
            "    A Model Context Protocol server (revision 2025-11-25; 2025-06-18 and\n"
            "    2025-03-26 too) whose tools, bash, read, write, edit and process, run in\n"
            "    the sandbox of session KEY (default: mcp), as hutch tool runs them: the\n"
            "    session is created on the first call, tools.allow and tools.deny decide\n"
            "    which tools are listed, and arguments cannot change the sandbox.\n"
            "\n"
            "    By default it speaks on stdin and stdout, one JSON-RPC message per line;\n"
            "    stdout carries nothing else, messages go to stderr. Calls run\n"
            "    concurrently; notifications/cancelled kills a call's processes, and a\n"
            "    call with a progressToken gets notifications/progress every second. At\n"
            "    the end of stdin, running calls finish and are answered; SIGTERM or\n"
            "    SIGINT cancels them. With --http, it serves streamable HTTP at\n"
            "    http://127.0.0.1:PORT/mcp instead (PORT 0 picks a free port; the URL is\n"
            "    printed on stderr): loopback only, and requests whose Origin or Host is\n"
            "    not a loopback name are refused (403). Any local user can reach that\n"
            "    port: prefer stdio on shared machines.\n"
            "    " HUTCH_DOCDIR "/docs/mcp.md.\n"
            "\n"
            "OPTIONS\n"
            "    --session KEY\n"
            "        The session the tools run in (default: mcp).\n"
            "    --http PORT\n"
            "        Serve streamable HTTP on 127.0.0.1:PORT instead of stdio.\n"
            "    --config FILE, --no-config, and the per-run options of hutch exec\n"
            "        (--timeout, --output-limit, --env...) apply to every call.\n"
            "\n"
            "EXIT STATUS\n"
            "    0 when stdin ends or a signal stops the server; 125 when it cannot start.\n"
            "\n"
            "EXAMPLES\n"
            "    hutch mcp --session my-agent\n"
            "    hutch mcp --session my-agent --http 8765\n"
            "    MCP client config: {\"mcpServers\": {\"hutch\": {\"command\": \"hutch\",\n"
            "                        \"args\": [\"mcp\", \"--session\", \"my-agent\"]}}}\n");
}

static void help_prune(FILE *out)
{
    fprintf(out,
            "NAME\n"
            "    hutch prune - remove the sandboxes of idle or old sessions\n"
            "\n"
            "SYNOPSIS\n"
            "    hutch prune [--dry-run] [--workspaces] [--json] [--quiet] [--config FILE]\n"
            "\n"
            "DESCRIPTION\n"
            "    Removes every session idle longer than prune.idleHours or older than\n"
            "    prune.maxAgeDays (0 disables a rule). Workspaces are kept unless\n"
            "    --workspaces is given; adopted containers are never pruned. --dry-run\n"
            "    only lists them. hutch exec runs a pass by itself at most every 5\n"
            "    minutes (HUTCH_NO_AUTO_PRUNE=1 turns that off).\n");
}

static void help_policy(FILE *out)
{
    fprintf(out,
            "POLICY OPTIONS\n"
            "    Accepted by every command that runs something. Each sets the config key\n"
            "    named below it and overrides the config file.\n\n");
    help_policy_options(out);
}

int help_topic(const char *topic, FILE *out)
{
    if (strcmp(topic, "run") == 0)
        help_run(out);
    else if (strcmp(topic, "config") == 0)
        help_config(out);
    else if (strcmp(topic, "policy") == 0)
        help_policy(out);
    else if (strcmp(topic, "doctor") == 0)
        help_doctor(out);
    else if (strcmp(topic, "image") == 0)
        help_image(out);
    else if (strcmp(topic, "skill") == 0)
        help_skill(out);
    else if (strcmp(topic, "exec") == 0)
        help_exec(out);
    else if (strcmp(topic, "mcp") == 0)
        help_mcp(out);
    else if (strcmp(topic, "session") == 0)
        help_session(out);
    else if (strcmp(topic, "tool") == 0)
        help_tool(out);
    else if (strcmp(topic, "prune") == 0)
        help_prune(out);
    else if (strcmp(topic, "help") == 0)
        help_overview(out);
    else
        return -1;
    return 0;
}
