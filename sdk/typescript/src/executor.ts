/**
 * The coding agent's executor shape (harness-shapes.md section 4,
 * docs/migrating.md): `getSandboxExecutor({mode, ...}).execute(cmd, args)`.
 */
import { HutchError } from './errors.js';
import type { PolicyOptions } from './options.js';
import type { CallOptions, ClientOptions } from './process.js';
import { run } from './run.js';

export type ExecutorMode = 'spawn' | 'docker' | 'none';

export interface SandboxExecutorConfig extends ClientOptions {
  /** `spawn` (default): hutch's native sandbox; `docker`: a container per command; `none`: no isolation (hutch's host backend, which warns). */
  mode?: ExecutorMode;
  /** Wall-clock limit in milliseconds (0 or absent = none). */
  timeout?: number;
  /** Memory limit in MiB (docker mode: 256 when absent). */
  memoryLimit?: number;
  /** Network access (default false: none). */
  networkEnabled?: boolean;
  /** Working directory of the commands, inside the sandbox (e.g. `/workspace`). */
  workdir?: string;
  /** Make the sandbox's root filesystem read-only. */
  readOnlyRoot?: boolean;
  /** hutch only: the host directory mounted at /workspace (none: an empty one per command). */
  workspace?: string;
  /** hutch only: the docker image (default hutch's `hutch-sandbox:bookworm-slim`). */
  image?: string;
  /** Where the fallback warning goes (default `console.warn`). */
  warn?: (message: string) => void;
}

export interface ExecuteResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  oomKilled?: boolean;
}

export interface SandboxExecutor {
  /** The mode commands run in now (`spawn` after a docker fallback). */
  readonly mode: ExecutorMode;
  /** Runs CMD with ARGS (no shell) and returns how it ended. */
  execute(cmd: string, args?: readonly string[], options?: CallOptions): Promise<ExecuteResult>;
}

export const DOCKER_UNAVAILABLE = 'Docker not available, falling back to spawn mode';
const DOCKER_DOWN = /Docker engine not reachable|no permission to use the Docker engine|talking to the Docker engine/;

/** The hutch policy options a mode and config stand for. */
export function executorPolicy(mode: ExecutorMode, c: SandboxExecutorConfig): PolicyOptions {
  const p: PolicyOptions = { noConfig: true };
  if (c.timeout) p.timeout = `${Math.ceil(c.timeout)}ms`;
  if (c.workdir) p.workdir = c.workdir;
  if (c.workspace) p.workspace = c.workspace;
  if (mode === 'none') {
    // No isolation, as the agent's none mode: hutch's host backend enforces
    // nothing but the environment, the timeout and output limits.
    p.backend = 'host';
    return p;
  }
  p.readOnlyRoot = c.readOnlyRoot ? true : undefined;
  if (mode === 'docker') {
    p.backend = 'docker';
    p.memory = `${c.memoryLimit ?? 256}m`;
    p.net = c.networkEnabled ? 'bridge' : 'none';
    if (c.image) p.image = c.image;
  } else {
    p.backend = 'native';
    if (c.memoryLimit) p.memory = `${c.memoryLimit}m`;
    p.net = c.networkEnabled ? 'host' : 'none';
  }
  return p;
}

/**
 * An executor with the coding agent's shape. In docker mode, when the
 * Docker engine cannot be reached, it warns "Docker not available, falling
 * back to spawn mode" once and runs in spawn mode (hutch's native sandbox)
 * from then on, as the agent does.
 */
export function getSandboxExecutor(config: SandboxExecutorConfig = {}): SandboxExecutor {
  let mode: ExecutorMode = config.mode ?? 'spawn';
  if (!['spawn', 'docker', 'none'].includes(mode)) {
    throw new TypeError(`mode ${JSON.stringify(mode)}: use 'spawn', 'docker' or 'none'`);
  }
  const warn = config.warn ?? ((m: string) => console.warn(m));
  const client: ClientOptions = { hutch: config.hutch, hutchEnv: config.hutchEnv };

  const once = async (m: ExecutorMode, cmd: string, args: readonly string[], o: CallOptions): Promise<ExecuteResult> => {
    const r = await run([cmd, ...args], { ...executorPolicy(m, config), ...client, signal: o.signal });
    for (const line of r.notices ?? []) warn(line);
    const out: ExecuteResult = { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut };
    out.oomKilled = r.oomKilled;
    return out;
  };

  return {
    get mode() {
      return mode;
    },
    async execute(cmd: string, args: readonly string[] = [], options: CallOptions = {}): Promise<ExecuteResult> {
      if (mode !== 'docker') return once(mode, cmd, args, options);
      try {
        return await once('docker', cmd, args, options);
      } catch (e) {
        if (!(e instanceof HutchError) || !DOCKER_DOWN.test(e.message)) throw e;
        if (mode === 'docker') {
          mode = 'spawn';
          warn(DOCKER_UNAVAILABLE);
        }
        return once('spawn', cmd, args, options);
      }
    },
  };
}
