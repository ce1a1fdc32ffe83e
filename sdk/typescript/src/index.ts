/**
 * hutch-sandbox: run AI agents' tool calls and commands in hutch sandboxes.
 * Talks to the `hutch` binary (option `hutch`, else `$HUTCH_BIN`, else PATH)
 * through its CLI's JSON and `hutch mcp` (docs/sdk.md).
 */
export { run, stream, type RunOptions } from './run.js';
export {
  Session,
  listSessions,
  type SessionOptions,
  type CreateOptions,
  type ExecOptions,
  type ToolName,
  type ReadArgs,
  type WriteArgs,
  type EditArgs,
  type BashArgs,
  type ProcessArgs,
} from './session.js';
export { tools, resultText, type AgentTool } from './tools.js';
export {
  getSandboxExecutor,
  executorPolicy,
  DOCKER_UNAVAILABLE,
  type ExecutorMode,
  type SandboxExecutorConfig,
  type SandboxExecutor,
  type ExecuteResult,
} from './executor.js';
export { RunStream } from './stream.js';
export { HutchError, AbortError } from './errors.js';
export { FLAGS, PER_RUN_KEYS, toFlags, type PolicyOptions, type PerRunOptions, type Size, type Duration } from './options.js';
export { hutchBinary, type ClientOptions, type CallOptions, type Command, type IoOptions, type OutputChunk } from './process.js';
export type { RunResult, ToolResult, SessionStatus, SessionStats } from './result.js';
export type { ToolInfo } from './mcp.js';
