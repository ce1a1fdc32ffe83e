/* The config schema, once: every key of the config file, the flag that sets
 * it (if any), how its value is stored and checked, and its help text. The
 * config loader, the CLI flag parser, hutch_policy_set(), `config check` and
 * the help texts are all driven by this list, so they cannot drift apart.
 *
 * X(ID, scope, enforced, key, flag, metavar, storage, member, choices, normalize,
 *   expected, shadow, help)
 *   scope     PER_RUN: every session exec may give it anew; FIXED: fixed when
 *             a session's sandbox is made (a change recreates it)
 *   enforced  for a restriction, the backends that apply it (ENF_*: a
 *             backend refuses a policy asking for one it does not); 0 for
 *             settings that restrict nothing
 *   key       path below "sandbox" in the config file
 *   flag      long option without "--", or NULL when config-only
 *   storage   how the value is kept (fields.h)
 *   member    the struct hutch_policy member it fills
 *   normalize checks and canonicalizes a text value, NULL for built-ins
 *   expected  what a valid value looks like, for error messages
 *   shadow    a docker.* field the flag also resets (flags beat the file)
 */
#ifndef HUTCH_FIELDS_LIST_H
#define HUTCH_FIELDS_LIST_H

/* Backends that apply a restriction (struct field.enforced). */
#define ENF_NATIVE (1u << 0)
#define ENF_DOCKER (1u << 1)
#define ENF_SPAWN (1u << 2)
#define ENF_ISOLATING (ENF_NATIVE | ENF_DOCKER)

#define HUTCH_FIELDS(X)                                                                            \
    X(F_BACKEND, FIXED, 0,                                                                         \
      "backend", "backend", "NAME", S_ENUM, backend, backend_choices, NULL,                        \
      "one of host, spawn, native, docker", -1,                                                    \
      "Backend that enforces the policy (see BACKENDS in hutch help run).")                        \
    X(F_FALLBACK, PER_RUN, 0,                                                                      \
      "fallback", "fallback", "NAME", S_ENUM, fallback, fallback_choices, NULL,                    \
      "one of none, spawn", -1,                                                                    \
      "none: fail when the backend cannot run; spawn: run unisolated instead, "                    \
      "with a warning and \"degraded\": true.")                                                    \
    X(F_FALLBACK_KEEP, PER_RUN, 0,                                                                 \
      "fallbackKeep", "fallback-keep", "KEY", S_LIST, fallback_keep, NULL, norm_restriction_key,   \
      "a restriction's key like network.mode or limits.pids, or all", -1,                          \
      "Restrictions a fallback must not drop: the run is refused instead.")                        \
    X(F_MODE, PER_RUN, 0,                                                                          \
      "mode", NULL, NULL, S_ENUM, mode, mode_choices, NULL,                                        \
      "one of off, non-main, all", -1,                                                             \
      "Which sessions are sandboxed: off (none), non-main (all but mainSession), all.")            \
    X(F_MAIN_SESSION, PER_RUN, 0,                                                                  \
      "mainSession", NULL, NULL, S_STRING, main_session, NULL, norm_nonempty,                      \
      "a session name like main", -1, "The session that mode non-main leaves unsandboxed.")        \
    X(F_PER_SESSION, PER_RUN, 0,                                                                   \
      "perSession", NULL, NULL, S_BOOL, per_session, NULL, NULL,                                   \
      "true or false", -1, "One sandbox and workspace per session key.")                           \
    X(F_WORKSPACE_ROOT, FIXED, 0,                                                                  \
      "workspaceRoot", NULL, NULL, S_STRING, workspace_root, NULL,                                 \
      norm_host_path, "a directory like ~/.local/share/hutch/workspaces", -1,                      \
      "Where session workspaces are created on the host.")                                         \
    X(F_SETUP, FIXED, 0,                                                                           \
      "setupCommand", "setup-command", "COMMAND", S_STRING, setup_command, NULL,                   \
      norm_any, "a shell command", -1,                                                             \
      "Runs once in a new session's sandbox (docker.setupCommand wins for docker).")               \
    X(F_AUTO_CREATE, PER_RUN, 0,                                                                   \
      "autoCreate", NULL, NULL, S_BOOL, auto_create, NULL, NULL,                                   \
      "true or false", -1, "hutch exec creates a session it does not know yet.")                   \
    X(F_WORKSPACE, FIXED, 0,                                                                       \
      "workspace", "workspace", "DIR", S_STRING, workspace, NULL,                                  \
      norm_host_path_or_empty, "a directory like ~/project", -1,                                   \
      "Host directory the command works in (mounted at /workspace by isolating backends).")        \
    X(F_WORKDIR, PER_RUN, 0,                                                                       \
      "workdir", "workdir", "DIR", S_STRING, workdir, NULL, norm_nonempty_or_empty,                \
      "a directory like /workspace/src", F_DOCKER_WORKDIR,                                         \
      "Working directory of the command.")                                                         \
    X(F_USER, FIXED, ENF_ISOLATING,                                                                \
      "user", "user", "UID[:GID]", S_STRING, user, NULL, norm_numeric_user,                        \
      "a numeric user like 1000 or 1000:1000", F_DOCKER_USER,                                      \
      "User and group the command runs as.")                                                       \
    X(F_ALLOW_ROOT_USER, FIXED, 0,                                                                 \
      "allowRootUser", "allow-root-user", NULL, S_BOOL, allow_root_user,                           \
      NULL, NULL, "true or false", -1,                                                             \
      "As root, let user 0 run the native sandbox as the host's root (no capabilities, but "       \
      "the owner of root-only files its mounts show).")                                            \
    X(F_ENV, PER_RUN, 0,                                                                           \
      "env", "env", "NAME[=VALUE]", S_ENV, env, NULL, NULL,                                        \
      "NAME=VALUE with NAME made of letters, digits and _", -1,                                    \
      "Adds an environment variable (NAME alone copies hutch's own value).")                       \
    X(F_INHERIT_ENV, PER_RUN, 0,                                                                   \
      "inheritEnv", "inherit-env", NULL, S_BOOL, inherit_env, NULL, NULL,                          \
      "true or false", -1, "Pass hutch's whole environment instead of a scrubbed one.")            \
    X(F_LIMIT_MEMORY, FIXED, ENF_ISOLATING | ENF_SPAWN,                                            \
      "limits.memory", "memory", "SIZE", S_SIZE, limits.memory, NULL, NULL,                        \
      SIZE_EXAMPLE, -1, "Memory limit (0 = none).")                                                \
    X(F_LIMIT_CPUS, FIXED, ENF_ISOLATING,                                                          \
      "limits.cpus", "cpus", "N", S_CPUS, limits.cpus, NULL, NULL, CPUS_EXAMPLE,                   \
      -1, "CPU limit in cores, fractions allowed (0 = none).")                                     \
    X(F_LIMIT_PIDS, FIXED, ENF_ISOLATING,                                                          \
      "limits.pids", "pids", "N", S_COUNT, limits.pids, NULL, NULL,                                \
      COUNT_EXAMPLE, -1, "Most processes and threads at once (0 = none).")                         \
    X(F_LIMIT_TIMEOUT, PER_RUN, 0,                                                                 \
      "limits.timeoutSeconds", "timeout", "DURATION", S_DURATION,                                  \
      limits.timeout_ms, NULL, NULL, DURATION_EXAMPLE, -1,                                         \
      "Wall-clock limit; a bare number is seconds (0 = none).")                                    \
    X(F_LIMIT_OUTPUT, PER_RUN, 0,                                                                  \
      "limits.outputBytes", "output-limit", "SIZE", S_SIZE,                                        \
      limits.output_bytes, NULL, NULL, SIZE_EXAMPLE, -1,                                           \
      "Output kept per stream; the rest is counted, not kept.")                                    \
    X(F_LIMIT_FILE_SIZE, PER_RUN, ENF_ISOLATING | ENF_SPAWN,                                       \
      "limits.fileSize", "file-size", "SIZE", S_SIZE, limits.file_size,                            \
      NULL, NULL, SIZE_EXAMPLE, -1, "Largest file the command may write (0 = none).")              \
    X(F_LIMIT_DISK, FIXED, ENF_ISOLATING,                                                          \
      "limits.disk", "disk", "SIZE", S_SIZE, limits.disk, NULL, NULL,                              \
      SIZE_EXAMPLE, -1,                                                                            \
      "Most bytes each writable area (workspace, /tmp...) may hold (0 = none).")                   \
    X(F_LIMIT_FILES, FIXED, ENF_ISOLATING,                                                         \
      "limits.files", "files", "N", S_COUNT, limits.files, NULL, NULL,                             \
      COUNT_EXAMPLE, -1,                                                                           \
      "Most files and directories each writable area may hold (0 = none).")                        \
    X(F_LIMIT_RLIMIT_FALLBACK, FIXED, 0,                                                           \
      "limits.rlimitFallback", "rlimit-fallback", NULL, S_BOOL,                                    \
      limits.rlimit_fallback, NULL, NULL, "true or false", -1,                                     \
      "Without a cgroup, limit memory as address space (RLIMIT_AS) instead of refusing.")          \
    X(F_NET_MODE, FIXED, ENF_ISOLATING,                                                            \
      "network.mode", "net", "MODE", S_ENUM, network.mode, net_choices, NULL,                      \
      "one of none, host, bridge, allow (flag: allow:DOMAIN[,DOMAIN...])", F_DOCKER_NETWORK,       \
      "Network access: none, host, bridge, or allow:DOMAIN,... for an allowlist.")                 \
    X(F_NET_ALLOWED, FIXED, 0,                                                                     \
      "network.allowedDomains", NULL, NULL, S_LIST, network.allowed_domains,                       \
      NULL, norm_domain, "a domain like example.com or *.example.com", -1,                         \
      "Domains reachable in network mode allow.")                                                  \
    X(F_NET_DENIED, FIXED, 0,                                                                      \
      "network.deniedDomains", NULL, NULL, S_LIST, network.denied_domains,                         \
      NULL, norm_domain, "a domain like example.com or *.example.com", -1,                         \
      "Domains never reachable; deny wins over allow.")                                            \
    X(F_NET_ADDRESSES, FIXED, 0,                                                                   \
      "network.allowedAddresses", "allow-address", "ADDRESS[/BITS]", S_LIST,                       \
      network.allowed_addresses, NULL, norm_address_range,                                         \
      "an address or range like 10.0.0.5 or 10.0.0.0/8", -1,                                       \
      "Loopback, private or link-local addresses the allowlist may reach (refused otherwise).")    \
    X(F_NET_HOSTS, FIXED, 0,                                                                       \
      "network.hosts", "add-host", "NAME=ADDRESS", S_LIST, network.hosts, NULL,                    \
      norm_host_mapping, "NAME=ADDRESS like git.internal=10.0.0.5", -1,                            \
      "Resolve NAME to ADDRESS in the allowlist's proxy instead of asking DNS.")                   \
    X(F_FS_DENY_READ, FIXED, ENF_ISOLATING,                                                        \
      "filesystem.denyRead", "deny-read", "PATH", S_LIST,                                          \
      filesystem.deny_read, NULL, norm_host_path, "a path like ~/.ssh", -1,                        \
      "Hide a path, even below an allowed mount.")                                                 \
    X(F_FS_ALLOW_WRITE, FIXED, ENF_ISOLATING,                                                      \
      "filesystem.allowWrite", "rw", "SRC[:DST]", S_LIST,                                          \
      filesystem.allow_write, NULL, norm_mount_rw,                                                 \
      "a mount like ~/data, ~/data:/data or ~/data:/data:rw", -1,                                  \
      "Mount a host path read-write.")                                                             \
    X(F_FS_DENY_WRITE, FIXED, ENF_ISOLATING,                                                       \
      "filesystem.denyWrite", "deny-write", "PATH", S_LIST,                                        \
      filesystem.deny_write, NULL, norm_host_path, "a path like ~/project/.git", -1,               \
      "Keep a path read-only inside a writable mount.")                                            \
    X(F_FS_READ_ONLY, FIXED, ENF_ISOLATING,                                                        \
      "filesystem.readOnly", "ro", "SRC[:DST]", S_LIST, filesystem.read_only,                      \
      NULL, norm_mount_ro,                                                                         \
      "a mount like /opt/tools, /opt/tools:/tools or /opt/tools:/tools:ro", -1,                    \
      "Mount a host path read-only.")                                                              \
    X(F_FS_TMPFS, FIXED, ENF_ISOLATING,                                                            \
      "filesystem.tmpfs", "tmpfs", "PATH", S_LIST, filesystem.tmpfs, NULL,                         \
      norm_tmpfs, "an absolute path like /scratch", -1, "Mount an empty tmpfs at a path.")         \
    X(F_FS_READ_ONLY_ROOT, FIXED, ENF_ISOLATING,                                                   \
      "filesystem.readOnlyRoot", "read-only-root", NULL, S_BOOL,                                   \
      filesystem.read_only_root, NULL, NULL, "true or false", F_DOCKER_READ_ONLY_ROOT,             \
      "Make the sandbox's root filesystem read-only.")                                             \
    X(F_DOCKER_IMAGE, FIXED, 0,                                                                    \
      "docker.image", "image", "IMAGE", S_STRING, docker.image, NULL,                              \
      norm_image, "an image like hutch-sandbox:bookworm-slim", -1, "Image for docker runs.")       \
    X(F_DOCKER_PREFIX, FIXED, 0,                                                                   \
      "docker.containerPrefix", NULL, NULL, S_STRING,                                              \
      docker.container_prefix, NULL, norm_container_prefix,                                        \
      "up to 40 letters, digits, '_', '.', '-' like hutch-sbx-", -1,                               \
      "Prefix of the containers hutch creates.")                                                   \
    X(F_DOCKER_CONTAINER, FIXED, 0,                                                                \
      "docker.container", "sandbox", "WHERE", S_STRING,                                            \
      docker.container, NULL, norm_container_name,                                                 \
      "a container name like my-agent (flag: none, host, spawn, native, docker or docker:NAME)",   \
      -1,                                                                                          \
      "docker:NAME runs in this existing container, adopted: hutch never stops or removes it; "    \
      "none (the host, unisolated), host, spawn, native or docker selects that backend.")          \
    X(F_DOCKER_WORKDIR, PER_RUN, 0,                                                                \
      "docker.workdir", NULL, NULL, S_STRING, docker.workdir, NULL,                                \
      norm_sandbox_path_or_empty, "an absolute path like /workspace", -1,                          \
      "Working directory inside docker containers (default: workdir, else /workspace).")           \
    X(F_DOCKER_READ_ONLY_ROOT, FIXED, 0,                                                           \
      "docker.readOnlyRoot", NULL, NULL, S_BOOL,                                                   \
      docker.read_only_root, NULL, NULL, "true or false", -1,                                      \
      "Read-only root filesystem for docker containers.")                                          \
    X(F_DOCKER_TMPFS, FIXED, 0,                                                                    \
      "docker.tmpfs", NULL, NULL, S_LIST, docker.tmpfs, NULL, norm_tmpfs,                          \
      "an absolute path like /tmp", -1, "tmpfs mounts of docker containers.")                      \
    X(F_DOCKER_NETWORK, FIXED, 0,                                                                  \
      "docker.network", NULL, NULL, S_STRING, docker.network, NULL,                                \
      norm_docker_network, "none, bridge, host or a network name", -1,                             \
      "Container network (default: from network.mode).")                                           \
    X(F_DOCKER_USER, FIXED, 0,                                                                     \
      "docker.user", NULL, NULL, S_STRING, docker.user, NULL, norm_docker_user,                    \
      "a user like 1000:1000", -1, "Container user (default: user, else 1000:1000).")              \
    X(F_DOCKER_CAP_DROP, FIXED, 0,                                                                 \
      "docker.capDrop", NULL, NULL, S_LIST, docker.cap_drop, NULL,                                 \
      norm_capability, "ALL or a capability like NET_RAW", -1, "Capabilities to drop.")            \
    X(F_DOCKER_ENV, PER_RUN, 0,                                                                    \
      "docker.env", NULL, NULL, S_ENV, docker.env, NULL, NULL,                                     \
      "an object of NAME: \"VALUE\" strings", -1, "Extra environment in docker containers.")       \
    X(F_DOCKER_SETUP, FIXED, 0,                                                                    \
      "docker.setupCommand", NULL, NULL, S_STRING, docker.setup_command, NULL,                     \
      norm_any, "a shell command", -1, "Runs once after a session container is created.")          \
    X(F_DOCKER_RUNTIME, FIXED, 0,                                                                  \
      "docker.runtime", "runtime", "NAME", S_STRING, docker.runtime, NULL,                         \
      norm_runtime, "an OCI runtime name like runsc", -1, "OCI runtime, e.g. runsc (gVisor).")     \
    X(F_DOCKER_HOST, PER_RUN, 0,                                                                   \
      "docker.host", NULL, NULL, S_STRING, docker.host, NULL, norm_docker_host,                    \
      "unix:///path/docker.sock or tcp://host:port", -1,                                           \
      "Docker engine address (default: DOCKER_HOST, else /var/run/docker.sock).")                  \
    X(F_TOOLS_ALLOW, PER_RUN, 0,                                                                   \
      "tools.allow", NULL, NULL, S_LIST, tools.allow, NULL, norm_tool_name,                        \
      "a tool name like bash", -1, "Tools offered (empty: every tool not denied).")                \
    X(F_TOOLS_DENY, PER_RUN, 0,                                                                    \
      "tools.deny", NULL, NULL, S_LIST, tools.deny, NULL, norm_tool_name,                          \
      "a tool name like bash", -1, "Tools refused; deny wins over allow.")                         \
    X(F_APPROVAL_REQUIRE, PER_RUN, 0,                                                              \
      "approval.require", "require-approval", "ENTRY", S_LIST, approval.require, NULL,             \
      norm_approval_entry,                                                                         \
      "a tool name like bash, * (every tool) or command:GLOB like command:git push*", -1,           \
      "Ask before these tool calls or commands run (a tool, *, or command:GLOB); refused when "    \
      "no one can be asked.")                                                                      \
    X(F_PRUNE_IDLE, PER_RUN, 0,                                                                    \
      "prune.idleHours", NULL, NULL, S_NUMBER, prune.idle_hours, NULL, NULL,                       \
      NUMBER_EXAMPLE, -1, "Remove sandboxes idle this long (0 = never).")                          \
    X(F_PRUNE_AGE, PER_RUN, 0,                                                                     \
      "prune.maxAgeDays", NULL, NULL, S_NUMBER, prune.max_age_days, NULL, NULL,                    \
      NUMBER_EXAMPLE, -1, "Remove sandboxes older than this (0 = never).")

#endif
