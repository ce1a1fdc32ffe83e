/** Errors thrown by the SDK. */

/**
 * hutch could not do what was asked: it exited with status 125 (a bad option,
 * a bad config, a backend that cannot run or cannot enforce the policy), an
 * MCP call was refused with a JSON-RPC error, or the binary could not be
 * started. `message` is hutch's one-line reason.
 */
export class HutchError extends Error {
  /** hutch's exit status when it exited (125 when hutch failed). */
  readonly exitCode: number | null;
  /** The whole stderr hutch wrote, when there was a process. */
  readonly stderr: string;
  /** The JSON-RPC error code of an MCP call that was refused. */
  readonly code: number | null;
  /** The command line that failed (binary first). */
  readonly command: readonly string[];

  constructor(
    message: string,
    init: { exitCode?: number | null; stderr?: string; code?: number | null; command?: readonly string[] } = {},
  ) {
    super(message);
    this.name = 'HutchError';
    this.exitCode = init.exitCode ?? null;
    this.stderr = init.stderr ?? '';
    this.code = init.code ?? null;
    this.command = init.command ?? [];
  }
}

/**
 * The error an aborted call rejects with (`name` is `"AbortError"`, like
 * `fetch`'s). `result` is the run's result when hutch reported one after it
 * tore the sandbox down (runs and execs); tool calls have none.
 */
export class AbortError extends Error {
  readonly result: unknown;
  constructor(message = 'the operation was aborted', result: unknown = undefined, cause?: unknown) {
    super(message);
    this.name = 'AbortError';
    this.result = result;
    if (cause !== undefined) (this as { cause?: unknown }).cause = cause;
  }
}

/** The last non-empty line of hutch's stderr: its one-line reason. */
export function lastLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  return lines.length > 0 ? lines[lines.length - 1]! : '';
}
