/**
 * Options and the CLI flags they become. Every option maps to exactly one
 * flag of `hutch help run`; the table below is the only place that names
 * flags, and a test runs the real binary with every one of them.
 */

/** A size: a number of bytes, or a string like `"512m"`, `"1g"`. */
export type Size = number | string;
/** A duration: a number of seconds, or a string like `"30s"`, `"500ms"`, `"5m"`. */
export type Duration = number | string;

/** Options every run, exec and tool call may take (`hutch exec`'s per-run options). */
export interface PerRunOptions {
  /** Read the policy from this config file instead of the default one. */
  config?: string;
  /** Ignore the default config file. */
  noConfig?: boolean;
  /** Wall-clock limit (seconds when a number). 0 = none. */
  timeout?: Duration;
  /** Output kept per stream; the rest is counted, not kept. */
  outputLimit?: Size;
  /** Largest file the command may write. */
  fileSize?: Size;
  /** Environment variables to add (`NAME=VALUE`, or `NAME` to copy hutch's own). */
  env?: Record<string, string> | readonly string[];
  /** Pass hutch's whole environment instead of a scrubbed one. */
  inheritEnv?: boolean;
  /** Working directory of the command. */
  workdir?: string;
}

/** Policy options: everything `hutch run` and `hutch session create` take. */
export interface PolicyOptions extends PerRunOptions {
  backend?: 'native' | 'docker' | 'spawn' | 'host';
  fallback?: 'none' | 'spawn';
  fallbackKeep?: string | readonly string[];
  setupCommand?: string;
  /** Host directory the command works in (mounted at /workspace by isolating backends). */
  workspace?: string;
  /** `"UID"` or `"UID:GID"`. */
  user?: string | number;
  allowRootUser?: boolean;
  memory?: Size;
  cpus?: number | string;
  pids?: number;
  disk?: Size;
  files?: number;
  rlimitFallback?: boolean;
  /** `none`, `host`, `bridge`, or `allow:DOMAIN,...` (or an array of domains for an allowlist). */
  net?: string | readonly string[];
  allowAddress?: string | readonly string[];
  /** `{name: address}` or `["name=address"]`. */
  addHost?: Record<string, string> | readonly string[];
  denyRead?: string | readonly string[];
  /** Host paths mounted read-write: `SRC` or `SRC:DST`. */
  rw?: string | readonly string[];
  denyWrite?: string | readonly string[];
  /** Host paths mounted read-only: `SRC` or `SRC:DST`. */
  ro?: string | readonly string[];
  tmpfs?: string | readonly string[];
  readOnlyRoot?: boolean;
  image?: string;
  /** `none`, `host`, `spawn`, `native`, `docker`, or `docker:NAME` to adopt a container. */
  sandbox?: string;
  runtime?: string;
  requireApproval?: string | readonly string[];
  docker?: boolean;
}

type Kind = 'value' | 'bool' | 'list' | 'env' | 'map' | 'net';

/** option name -> [flag, kind]. Per-run options first. */
export const FLAGS: Readonly<Record<keyof PolicyOptions, readonly [string, Kind]>> = {
  config: ['--config', 'value'],
  noConfig: ['--no-config', 'bool'],
  timeout: ['--timeout', 'value'],
  outputLimit: ['--output-limit', 'value'],
  fileSize: ['--file-size', 'value'],
  env: ['--env', 'env'],
  inheritEnv: ['--inherit-env', 'bool'],
  workdir: ['--workdir', 'value'],
  backend: ['--backend', 'value'],
  fallback: ['--fallback', 'value'],
  fallbackKeep: ['--fallback-keep', 'list'],
  setupCommand: ['--setup-command', 'value'],
  workspace: ['--workspace', 'value'],
  user: ['--user', 'value'],
  allowRootUser: ['--allow-root-user', 'bool'],
  memory: ['--memory', 'value'],
  cpus: ['--cpus', 'value'],
  pids: ['--pids', 'value'],
  disk: ['--disk', 'value'],
  files: ['--files', 'value'],
  rlimitFallback: ['--rlimit-fallback', 'bool'],
  net: ['--net', 'net'],
  allowAddress: ['--allow-address', 'list'],
  addHost: ['--add-host', 'map'],
  denyRead: ['--deny-read', 'list'],
  rw: ['--rw', 'list'],
  denyWrite: ['--deny-write', 'list'],
  ro: ['--ro', 'list'],
  tmpfs: ['--tmpfs', 'list'],
  readOnlyRoot: ['--read-only-root', 'bool'],
  image: ['--image', 'value'],
  sandbox: ['--sandbox', 'value'],
  runtime: ['--runtime', 'value'],
  requireApproval: ['--require-approval', 'list'],
  docker: ['--docker', 'bool'],
};

/** The options `hutch exec` and `hutch mcp` take (the rest is fixed when a session is created). */
export const PER_RUN_KEYS: readonly (keyof PerRunOptions)[] = [
  'config', 'noConfig', 'timeout', 'outputLimit', 'fileSize', 'env', 'inheritEnv', 'workdir',
];

function str(name: string, v: unknown): string {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError(`option ${name}: ${v} is not a finite number`);
    return String(v);
  }
  if (typeof v === 'string') {
    if (v.includes('\0')) throw new TypeError(`option ${name}: contains a NUL character`);
    return v;
  }
  throw new TypeError(`option ${name}: expected a string or a number, got ${typeof v}`);
}

function list(name: string, v: unknown): string[] {
  if (typeof v === 'string' || typeof v === 'number') return [str(name, v)];
  if (Array.isArray(v)) return v.map((x) => str(name, x));
  throw new TypeError(`option ${name}: expected a string or an array of strings`);
}

function pairs(name: string, v: unknown): string[] {
  if (Array.isArray(v) || typeof v === 'string') return list(name, v);
  if (v !== null && typeof v === 'object') {
    return Object.entries(v as Record<string, unknown>).map(([k, x]) => {
      if (k.includes('=')) throw new TypeError(`option ${name}: name ${JSON.stringify(k)} contains '='`);
      return `${k}=${str(name, x)}`;
    });
  }
  throw new TypeError(`option ${name}: expected an object or an array of "NAME=VALUE" strings`);
}

/**
 * Turns options into CLI flags, in the table's order. Unknown option names
 * are refused (a typo must not silently drop a restriction); `undefined`
 * and `false` mean "not given". `only` restricts to a set of keys (those
 * `hutch exec` takes) and refuses the others.
 */
export function toFlags(opts: object | undefined, only?: readonly string[], what = 'this call'): string[] {
  const out: string[] = [];
  if (!opts) return out;
  const o = opts as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (o[key] === undefined) continue;
    if (!Object.prototype.hasOwnProperty.call(FLAGS, key)) {
      throw new TypeError(`unknown option ${JSON.stringify(key)}: hutch takes ${Object.keys(FLAGS).join(', ')}`);
    }
    if (only && !only.includes(key)) {
      throw new TypeError(
        `option ${key} cannot be given to ${what}: it is fixed when the session is created (Session.create); ` +
          `${what} takes ${only.join(', ')}`,
      );
    }
  }
  for (const [key, [flag, kind]] of Object.entries(FLAGS) as [string, readonly [string, Kind]][]) {
    const v = o[key];
    if (v === undefined || v === null) continue;
    switch (kind) {
      case 'bool':
        if (typeof v !== 'boolean') throw new TypeError(`option ${key}: expected a boolean`);
        if (v) out.push(flag);
        break;
      case 'value':
        out.push(flag, str(key, v));
        break;
      case 'list':
        for (const x of list(key, v)) out.push(flag, x);
        break;
      case 'env':
      case 'map':
        for (const x of pairs(key, v)) out.push(flag, x);
        break;
      case 'net':
        if (Array.isArray(v)) out.push(flag, 'allow:' + list(key, v).join(','));
        else out.push(flag, str(key, v));
        break;
    }
  }
  return out;
}

/** Picks the per-run keys out of a set of options. */
export function perRun(opts: object | undefined): PerRunOptions {
  const out: Record<string, unknown> = {};
  if (!opts) return out;
  for (const k of PER_RUN_KEYS) {
    const v = (opts as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = v;
  }
  return out as PerRunOptions;
}
