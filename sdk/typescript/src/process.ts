/** Starting the hutch binary: captured (`--json`) and streamed (`--result-fd 3`) runs. */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { AbortError, HutchError, lastLine } from './errors.js';
import { toRunResult, type RunResult } from './result.js';

/** How to find and start hutch. */
export interface ClientOptions {
  /** The hutch binary: this, else `$HUTCH_BIN`, else `hutch` on PATH. */
  hutch?: string;
  /**
   * The environment hutch itself runs with (default: `process.env`), e.g.
   * to set `HUTCH_STATE_DIR` or `DOCKER_HOST`. It is not the sandbox's
   * environment: that is the `env` option.
   */
  hutchEnv?: NodeJS.ProcessEnv;
}

/** Options of one call that every call takes. */
export interface CallOptions {
  /** Aborting kills the call: the command's processes and its sandbox. */
  signal?: AbortSignal;
}

/** What to run: an argv (no shell), or `{shell}` for `/bin/sh -c`. */
export type Command = readonly string[] | { shell: string; args?: readonly string[] };

/** A chunk of streamed output. */
export interface OutputChunk {
  stream: 'stdout' | 'stderr';
  data: string;
}

/** Streaming and input options of a run or an exec. */
export interface IoOptions extends CallOptions {
  /** Given to the command on its standard input (otherwise it reads /dev/null). */
  stdin?: string | Uint8Array;
  /**
   * Called with each piece of the command's stdout as it is written (UTF-8
   * text). Giving either callback streams the output instead of capturing
   * it: the result's `stdout` and `stderr` are then `""`.
   */
  onStdout?: (data: string) => void;
  onStderr?: (data: string) => void;
}

/** The hutch binary to start. */
export function hutchBinary(opts?: ClientOptions): string {
  return opts?.hutch ?? process.env['HUTCH_BIN'] ?? 'hutch';
}

/** The argv tail for a command: `-- ARGV` or `-c STRING [-- NAME ARG...]`. */
export function commandArgs(cmd: Command): string[] {
  if (Array.isArray(cmd)) {
    const argv = cmd as readonly string[];
    if (argv.length === 0) throw new TypeError('empty command: give at least the program name');
    for (const a of argv) {
      if (typeof a !== 'string') throw new TypeError('command: every argument must be a string');
    }
    return ['--', ...argv];
  }
  const c = cmd as { shell?: unknown; args?: readonly string[] };
  if (typeof c.shell !== 'string') {
    throw new TypeError('command: give an array of arguments, or {shell: "a shell string"}');
  }
  const out = ['-c', c.shell];
  if (c.args && c.args.length > 0) out.push('--', ...c.args);
  return out;
}

/** How long a killed hutch gets to tear its sandbox down before SIGKILL. */
const KILL_GRACE_MS = 10_000;
/** How much of hutch's stderr is kept to report its error line. */
const STDERR_TAIL = 65536;

function abortReason(signal: AbortSignal): unknown {
  return (signal as { reason?: unknown }).reason;
}

/** Rejects with an AbortError now when the signal is already aborted. */
export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('the operation was aborted before it started', undefined, abortReason(signal));
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  resultFd: string;
  aborted: boolean;
}

/**
 * Runs `hutch ARGS` to its end. `stream` gives fd 3 as a pipe for the
 * result and hands stdout/stderr to the callbacks; otherwise they are
 * collected. On abort, hutch gets SIGTERM (it forwards it and tears the
 * sandbox down), and SIGKILL if it is still there after a grace period.
 */
export function spawnHutch(
  client: ClientOptions | undefined,
  args: string[],
  io: IoOptions & { stream?: boolean },
): Promise<Exit> {
  const bin = hutchBinary(client);
  return new Promise<Exit>((resolve, reject) => {
    const stdio: StdioOptions = [io.stdin !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'];
    if (io.stream) stdio.push('pipe');
    let child: ChildProcess;
    try {
      child = spawn(bin, args, { stdio, env: client?.hutchEnv ?? process.env });
    } catch (e) {
      reject(new HutchError(`cannot start ${bin}: ${(e as Error).message}`, { command: [bin, ...args] }));
      return;
    }
    const outDec = new StringDecoder('utf8');
    const errDec = new StringDecoder('utf8');
    let stdout = '';
    let stderr = '';
    let resultFd = '';
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    let spawnError: Error | undefined;

    child.stdout!.on('data', (b: Buffer) => {
      const s = outDec.write(b);
      if (!io.stream) stdout += s;
      else if (s && io.onStdout) io.onStdout(s);
    });
    child.stderr!.on('data', (b: Buffer) => {
      const s = errDec.write(b);
      // Only hutch's own last line matters here; a streamed command's stderr
      // can be endless, so keep a bounded tail.
      stderr = (stderr + s).slice(-STDERR_TAIL);
      if (io.stream && s && io.onStderr) io.onStderr(s);
    });
    if (io.stream) {
      const fd3 = child.stdio[3] as NodeJS.ReadableStream;
      fd3.setEncoding('utf8');
      fd3.on('data', (s: string) => (resultFd += s));
      fd3.on('error', () => {});
    }
    if (io.stdin !== undefined) {
      child.stdin!.on('error', () => {}); // the command may not read it all
      child.stdin!.end(io.stdin);
    }
    const onAbort = (): void => {
      if (aborted) return;
      aborted = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      killTimer.unref();
    };
    io.signal?.addEventListener('abort', onAbort, { once: true });
    if (io.signal?.aborted) onAbort();

    child.on('error', (e) => (spawnError = e));
    child.on('close', (code, sig) => {
      io.signal?.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      if (spawnError) {
        reject(new HutchError(`cannot start ${bin}: ${spawnError.message} (set HUTCH_BIN or the hutch option)`, {
          command: [bin, ...args],
        }));
        return;
      }
      const outRest = outDec.end();
      const errRest = errDec.end();
      if (!io.stream) stdout += outRest;
      else if (outRest && io.onStdout) io.onStdout(outRest);
      stderr = (stderr + errRest).slice(-STDERR_TAIL);
      if (io.stream && errRest && io.onStderr) io.onStderr(errRest);
      resolve({ code, signal: sig, stdout, stderr, resultFd, aborted });
    });
  });
}

function parseObject(text: string): Record<string, unknown> | null {
  const t = text.trim();
  if (!t.startsWith('{')) return null;
  try {
    const v = JSON.parse(t.split('\n')[0]!);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Runs `hutch SUBCOMMAND... [OPTIONS] --json|--result-fd 3 [--stdin] CMD`
 * and returns its result. `head` is everything before the output flags.
 */
export async function runHutch(
  client: ClientOptions | undefined,
  head: string[],
  cmd: Command,
  io: IoOptions,
): Promise<RunResult> {
  checkAborted(io.signal);
  const stream = io.onStdout !== undefined || io.onStderr !== undefined;
  const args = [...head, ...(stream ? ['--result-fd', '3'] : ['--json'])];
  if (io.stdin !== undefined) args.push('--stdin');
  args.push(...commandArgs(cmd));
  const exit = await spawnHutch(client, args, { ...io, stream });
  const json = parseObject(stream ? exit.resultFd : exit.stdout);
  const command = [hutchBinary(client), ...args];
  // hutch could not run it: no result at all (--json), or a result with
  // exit_code 125 and hutch's reason in `error` (--result-fd). A command
  // that exits 125 itself has no `error`.
  const failed = json === null || (json['exit_code'] === 125 && typeof json['error'] === 'string');
  if (exit.aborted) {
    const result = json && !failed ? toRunResult(json) : undefined;
    throw new AbortError('the run was aborted: hutch killed the command and tore its sandbox down', result,
      abortReason(io.signal!));
  }
  if (failed) {
    const why =
      (json && typeof json['error'] === 'string' ? `hutch: ${json['error'] as string}` : '') ||
      lastLine(exit.stderr) ||
      `hutch ended without a result (exit status ${exit.code ?? 'none'}, signal ${exit.signal ?? 'none'})`;
    throw new HutchError(why, { exitCode: exit.code, stderr: exit.stderr, command });
  }
  const result = toRunResult(json);
  // hutch's own lines (warnings, notices) when the command's output was
  // captured: its stderr then carries nothing else.
  Object.defineProperty(result, 'notices', {
    value: stream ? [] : exit.stderr.split('\n').filter((l) => l.trim() !== ''),
    enumerable: false,
  });
  return result;
}

/**
 * Runs `hutch ARGS` that prints one JSON document (session subcommands) and
 * returns it parsed; a non-zero exit is a HutchError with hutch's line.
 */
export async function hutchJson(client: ClientOptions | undefined, args: string[], opts: CallOptions): Promise<unknown> {
  checkAborted(opts.signal);
  const exit = await spawnHutch(client, args, { signal: opts.signal });
  if (exit.aborted) throw new AbortError(undefined, undefined, abortReason(opts.signal!));
  if (exit.code !== 0) {
    throw new HutchError(lastLine(exit.stderr) || `hutch ${args[0]} failed with exit status ${exit.code}`, {
      exitCode: exit.code,
      stderr: exit.stderr,
      command: [hutchBinary(client), ...args],
    });
  }
  const t = exit.stdout.trim();
  if (t === '') return null;
  try {
    return JSON.parse(t);
  } catch {
    return t;
  }
}
