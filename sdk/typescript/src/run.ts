/** One-shot runs: `hutch run` in a fresh sandbox. */
import { toFlags, type PolicyOptions } from './options.js';
import { runHutch, type ClientOptions, type Command, type IoOptions } from './process.js';
import type { RunResult } from './result.js';
import { RunStream } from './stream.js';

/** Options of a one-shot run: the policy, how to reach hutch, input, streaming and abort. */
export interface RunOptions extends PolicyOptions, ClientOptions, IoOptions {}

const NOT_POLICY = ['hutch', 'hutchEnv', 'signal', 'stdin', 'onStdout', 'onStderr'];

function split(options: RunOptions): { policy: Record<string, unknown>; rest: Record<string, unknown> } {
  const policy: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) (NOT_POLICY.includes(k) ? rest : policy)[k] = v;
  return { policy, rest };
}

/**
 * Runs one command in a fresh sandbox (`hutch run POLICY -- ARGV`) and
 * returns its result. The argv is passed as is (no shell); `{shell: '...'}`
 * runs `/bin/sh -c`. With `onStdout`/`onStderr` the output is streamed to
 * them as it is written instead of captured. A non-zero exit is a result,
 * not an error; hutch failing (exit status 125) throws a HutchError with
 * its one-line reason; aborting kills the command and rejects with an
 * AbortError once the sandbox is gone.
 */
export async function run(cmd: Command, options: RunOptions = {}): Promise<RunResult> {
  const { policy, rest } = split(options);
  return runHutch(rest as ClientOptions, ['run', ...toFlags(policy, undefined, 'run')], cmd, rest as IoOptions);
}

/** `run`, with the output as an async iterator of chunks and the result in `.result`. */
export function stream(cmd: Command, options: Omit<RunOptions, 'onStdout' | 'onStderr'> = {}): RunStream {
  const { policy, rest } = split(options);
  const head = ['run', ...toFlags(policy, undefined, 'run')];
  return new RunStream((io) => runHutch(rest as ClientOptions, head, cmd, { ...(rest as IoOptions), ...io }));
}
