/** Typed results: hutch's JSON (docs/result.md) with camelCase names. */

/** The result of a run or an exec (`hutch run --json`, docs/result.md). */
export interface RunResult {
  /** The backend that ran the command: `native`, `docker`, `spawn`, `host`. */
  backend: string;
  /** `false` for `host` and `spawn`, which isolate nothing but environment and time. */
  isolated: boolean;
  /** As a shell reports it: 128+N when killed by signal N, 124 on timeout, 126, 127. */
  exitCode: number;
  /** The signal that ended the command, or null. */
  signal: number | null;
  timedOut: boolean;
  oomKilled: boolean;
  /** How limits were applied: `cgroup-v2`, `cgroup-v1`, `rlimit`, `docker`, `none`. */
  limitsVia: string;
  durationMs: number;
  /** Captured output; `""` when it was streamed to callbacks instead. */
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  stdoutBytes: number;
  stderrBytes: number;
  /** A fallback backend ran instead of the one asked for. */
  degraded: boolean;
  degradedReason?: string;
  unenforced?: string[];
  networkDenied?: string[];
  /** Why the command could not be started (not found, not executable), or null. */
  error: string | null;
  /**
   * hutch's own warnings and notices (lines of its stderr) for a captured
   * run, e.g. the host backend's "no isolation" warning; `[]` when streamed.
   * Not enumerable: it is not part of hutch's JSON.
   */
  readonly notices?: readonly string[];
  /** Any field a newer hutch adds, camelCased. */
  [field: string]: unknown;
}

/** A tool's result (docs/tools.md): `{ok: true, text, ...}` or `{ok: false, error}`. */
export interface ToolResult {
  ok: boolean;
  /** What the model reads (when ok). */
  text?: string;
  /** One line that says what is wrong and what to do (when not ok). */
  error?: string;
  /** Tool-specific fields as hutch sends them (`exit_code`, `output_file`, `diff`, ...). */
  [field: string]: unknown;
}

/** A session as `hutch session status --json` shows it, camelCased. */
export interface SessionStatus {
  key: string;
  name: string;
  /** `running`, `stopped`, `broken`, `failed`, ... */
  state: string;
  backend: string;
  workspace: string;
  detail?: string;
  execCount?: number;
  createdAt?: number;
  lastUsedAt?: number;
  [field: string]: unknown;
}

/** What `hutch session stats --json` reports. */
export interface SessionStats {
  key: string;
  pids: number;
  memoryBytes: number;
  cpuSeconds: number;
  [field: string]: unknown;
}

/** `exit_code` -> `exitCode`. */
export function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Renames an object's own keys to camelCase (one level: values stay as they are). */
export function camelKeys<T>(obj: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[camel(k)] = v;
  return out as T;
}

/** A run result from hutch's JSON; `stdout`/`stderr` `null` (not captured) become `""`. */
export function toRunResult(json: Record<string, unknown>): RunResult {
  const r = camelKeys<RunResult>(json);
  if (r.stdout === null || r.stdout === undefined) r.stdout = '';
  if (r.stderr === null || r.stderr === undefined) r.stderr = '';
  return r;
}
