/** The session's tools as ready-made agent tool definitions. */
import type { CallOptions } from './process.js';
import type { ToolResult } from './result.js';
import type { Session } from './session.js';

/**
 * One tool, in the shape model tool loops take: `name`, `description`,
 * `parameters` (the JSON Schema of its arguments, from the server's
 * `tools/list`), and `execute(args, {signal})`, which calls it in the
 * session and returns its result object (`{ok, text}` or `{ok: false,
 * error}`: a failure the model should read, not an exception).
 */
export interface AgentTool {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
  /** MCP annotations: readOnlyHint, destructiveHint, idempotentHint, openWorldHint. */
  annotations?: Record<string, unknown>;
  execute(args: Record<string, unknown>, options?: CallOptions): Promise<ToolResult>;
}

/**
 * The tools the session's policy offers (bash, read, write, edit, process
 * unless `tools.allow`/`tools.deny` say otherwise), with the schemas and
 * descriptions hutch serves, so they cannot drift from what it accepts.
 */
export async function tools(session: Session, options: CallOptions = {}): Promise<AgentTool[]> {
  const list = await session.listTools(options);
  return list.map((t) => ({
    name: t.name,
    description: t.description,
    parameters: t.inputSchema,
    ...(t.annotations ? { annotations: t.annotations } : {}),
    execute: (args: Record<string, unknown>, opts: CallOptions = {}) => session.tool(t.name, args ?? {}, opts),
  }));
}

/** The text a model reads from a tool result: `text` when ok, else `Error: ...`. */
export function resultText(r: ToolResult): string {
  return r.ok ? String(r.text ?? '') : `Error: ${String(r.error ?? 'the tool failed')}`;
}
