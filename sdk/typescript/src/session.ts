/** Sessions: sandboxes kept between calls (docs/sessions.md). */
import { McpClient, type ToolInfo } from './mcp.js';
import { perRun, toFlags, PER_RUN_KEYS, type PerRunOptions, type PolicyOptions } from './options.js';
import { hutchJson, runHutch, type CallOptions, type ClientOptions, type Command, type IoOptions } from './process.js';
import { camelKeys, type RunResult, type SessionStats, type SessionStatus, type ToolResult } from './result.js';
import { RunStream } from './stream.js';

/** Options of a session object: how to reach hutch, and per-run defaults for its execs and tool calls. */
export interface SessionOptions extends ClientOptions, PerRunOptions {}

/** Options of `Session.create`: the policy fixed for the session, plus the session object's options. */
export interface CreateOptions extends ClientOptions, PolicyOptions, CallOptions {}

/** Options of one exec. */
export interface ExecOptions extends PerRunOptions, IoOptions {}

export type ToolName = 'bash' | 'read' | 'write' | 'edit' | 'process';

export interface ReadArgs { path: string; offset?: number; limit?: number }
export interface WriteArgs { path: string; content: string }
export interface EditArgs {
  path: string;
  oldText?: string;
  newText?: string;
  edits?: { oldText: string; newText: string }[];
  dryRun?: boolean;
}
export interface BashArgs {
  command: string;
  /** Seconds; at most the policy's timeout. */
  timeout?: number;
  workdir?: string;
  env?: Record<string, string>;
  background?: boolean;
}
export interface ProcessArgs {
  action: 'list' | 'poll' | 'log' | 'write' | 'kill' | 'remove';
  id?: string;
  data?: string;
  offset?: number;
  limit?: number;
}

/** A key is a name, never something hutch could read as an option. */
function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key === '') throw new TypeError('a session needs a key (a non-empty string)');
  if (key.startsWith('-')) throw new TypeError(`session key ${JSON.stringify(key)} starts with '-': use a name`);
  if (key.includes('\0')) throw new TypeError('session key contains a NUL character');
}

const CLIENT_KEYS = ['hutch', 'hutchEnv'] as const;

function pick(o: object | undefined, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!o) return out;
  for (const k of keys) {
    const v = (o as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

function omit(o: object | undefined, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!o) return out;
  for (const [k, v] of Object.entries(o)) if (!keys.includes(k) && v !== undefined) out[k] = v;
  return out;
}

/**
 * One hutch session, by key. Execs run `hutch exec KEY`; tool calls go
 * through one long-lived `hutch mcp --session KEY`, started on the first
 * call and ended by `close()`. The session itself (its sandbox, files and
 * background processes) outlives the object until `remove()`.
 */
export class Session {
  readonly key: string;
  private readonly client: ClientOptions;
  private readonly defaults: PerRunOptions;
  private readonly mcp: McpClient;

  /**
   * A session object for KEY. Nothing starts yet: the session is created
   * with the config file's policy on first use if it does not exist (use
   * `Session.create` to give it a policy).
   */
  constructor(key: string, options: SessionOptions = {}) {
    checkKey(key);
    this.key = key;
    this.client = pick(options, CLIENT_KEYS) as ClientOptions;
    const rest = omit(options, CLIENT_KEYS);
    toFlags(rest, PER_RUN_KEYS, 'a session object'); // refuses unknown and creation-time options now
    this.defaults = rest as PerRunOptions;
    this.mcp = new McpClient(this.client, ['mcp', '--session', key, ...toFlags(this.defaults, PER_RUN_KEYS)]);
  }

  /** Opens session KEY (existing or to be made on first use): the same as `new Session`. */
  static open(key: string, options: SessionOptions = {}): Session {
    return new Session(key, options);
  }

  /**
   * Creates session KEY with a policy now (`hutch session create KEY POLICY`),
   * or checks an existing one, and returns its object. The per-run options
   * among `options` (timeout, env, workdir, config, ...) are also the
   * object's defaults for its execs and tool calls.
   */
  static async create(key: string, options: CreateOptions = {}): Promise<Session> {
    checkKey(key);
    const client = pick(options, CLIENT_KEYS) as ClientOptions;
    const policy = omit(options, [...CLIENT_KEYS, 'signal']);
    await hutchJson(client, ['session', 'create', key, ...toFlags(policy, undefined, 'session create'), '--json'], {
      signal: options.signal,
    });
    return new Session(key, { ...client, ...perRun(policy) });
  }

  private execHead(opts: PerRunOptions): string[] {
    return ['exec', this.key, ...toFlags({ ...this.defaults, ...opts }, PER_RUN_KEYS, 'exec')];
  }

  /** Runs a command in the session (`hutch exec KEY`), captured or streamed. */
  async exec(cmd: Command, options: ExecOptions = {}): Promise<RunResult> {
    const { signal, stdin, onStdout, onStderr, ...opts } = options;
    return runHutch(this.client, this.execHead(opts), cmd, { signal, stdin, onStdout, onStderr });
  }

  /**
   * Runs a command in the session and streams its output: iterate over the
   * returned object for `{stream, data}` chunks, then await `.result`.
   */
  execStream(cmd: Command, options: Omit<ExecOptions, 'onStdout' | 'onStderr'> = {}): RunStream {
    const { signal, stdin, ...opts } = options;
    const head = this.execHead(opts);
    return new RunStream((io) => runHutch(this.client, head, cmd, { signal, stdin, ...io }));
  }

  /** The tools the session's policy offers, as `tools/list` describes them. */
  listTools(options: CallOptions = {}): Promise<ToolInfo[]> {
    return this.mcp.listTools(options.signal);
  }

  /**
   * Calls tool NAME with ARGS (docs/tools.md) and returns its result object.
   * A failure of the tool is `{ok: false, error}`, not an exception; an
   * unknown or denied tool, or a session that cannot be brought up, throws
   * a HutchError. Aborting kills the call's processes.
   */
  tool(name: string, args: Record<string, unknown> = {}, options: CallOptions = {}): Promise<ToolResult> {
    return this.mcp.callTool(name, args, options.signal);
  }

  read(args: ReadArgs | string, options?: CallOptions): Promise<ToolResult> {
    return this.tool('read', typeof args === 'string' ? { path: args } : { ...args }, options);
  }

  write(args: WriteArgs, options?: CallOptions): Promise<ToolResult>;
  write(path: string, content: string, options?: CallOptions): Promise<ToolResult>;
  write(a: WriteArgs | string, b?: string | CallOptions, c?: CallOptions): Promise<ToolResult> {
    if (typeof a === 'string') return this.tool('write', { path: a, content: b as string }, c);
    return this.tool('write', { ...a }, b as CallOptions | undefined);
  }

  edit(args: EditArgs, options?: CallOptions): Promise<ToolResult> {
    return this.tool('edit', { ...args }, options);
  }

  bash(args: BashArgs | string, options?: CallOptions): Promise<ToolResult> {
    return this.tool('bash', typeof args === 'string' ? { command: args } : { ...args }, options);
  }

  process(args: ProcessArgs, options?: CallOptions): Promise<ToolResult> {
    return this.tool('process', { ...args }, options);
  }

  /** `hutch session status KEY --json`. */
  async status(options: CallOptions = {}): Promise<SessionStatus> {
    const j = await hutchJson(this.client, ['session', 'status', this.key, '--json'], options);
    return camelKeys<SessionStatus>(j as Record<string, unknown>);
  }

  /** `hutch session stats KEY --json`: processes, memory and CPU time in the sandbox now. */
  async stats(options: CallOptions = {}): Promise<SessionStats> {
    const j = await hutchJson(this.client, ['session', 'stats', this.key, '--json'], options);
    return camelKeys<SessionStats>(j as Record<string, unknown>);
  }

  /** Starts the session's sandbox again after `stop()` (`hutch session start KEY`). */
  async start(options: CallOptions = {}): Promise<void> {
    await hutchJson(this.client, ['session', 'start', this.key], options);
  }

  /** Ends the sandbox's processes (`hutch session stop KEY`); the next use starts it again. */
  async stop(options: CallOptions = {}): Promise<void> {
    await this.mcp.close();
    await hutchJson(this.client, ['session', 'stop', this.key], options);
  }

  /**
   * Removes the sandbox and the record (`hutch session rm KEY`);
   * `workspaces: true` also the workspace directory when hutch made it.
   * Closes the tool server first.
   */
  async remove(options: CallOptions & { workspaces?: boolean } = {}): Promise<void> {
    await this.mcp.close();
    await hutchJson(this.client, ['session', 'rm', this.key, ...(options.workspaces ? ['--workspaces'] : [])], options);
  }

  /**
   * Ends this object's tool server (`hutch mcp`): calls still running finish
   * first. The session stays; a later call starts a new server.
   */
  close(): Promise<void> {
    return this.mcp.close();
  }
}

/** `hutch session ls --json`: every session in the state directory. */
export async function listSessions(options: ClientOptions & CallOptions = {}): Promise<SessionStatus[]> {
  const j = (await hutchJson(options, ['session', 'ls', '--json'], options)) as Record<string, unknown>[] | null;
  return (j ?? []).map((s) => camelKeys<SessionStatus>(s));
}
