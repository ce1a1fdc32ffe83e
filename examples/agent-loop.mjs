#!/usr/bin/env node
// A minimal agent tool loop on hutch: the "model" is a scripted list of tool
// calls, each run through the session's tools (tools(session)) exactly as a
// model's calls would be, with its result fed back as the model would read
// it. Build the SDK first (cd sdk/typescript && npm ci && npm run build).
//
//   HUTCH_BIN=build/hutch node examples/agent-loop.mjs [SESSION-KEY]
import { Session, tools, resultText } from '../sdk/typescript/dist/index.js';

const key = process.argv[2] ?? `agent-loop-${process.pid}`;

// What a model would answer, turn by turn: tool calls by name and arguments.
const script = [
  { name: 'write', args: { path: 'hello.py', content: 'print("hello from the sandbox")\n' } },
  { name: 'bash', args: { command: 'python3 hello.py' } },
  { name: 'edit', args: { path: 'hello.py', oldText: 'hello from', newText: 'goodbye from' } },
  { name: 'read', args: { path: 'hello.py' } },
  { name: 'bash', args: { command: 'python3 hello.py; ls /workspace' } },
  { name: 'bash', args: { command: 'sleep 60', background: true } },
  { name: 'process', args: { action: 'list' } },
  { name: 'read', args: { path: '/etc/shadow' } }, // refused: the model reads why
];

const session = new Session(key);
try {
  const toolset = await tools(session);
  const byName = new Map(toolset.map((t) => [t.name, t]));
  console.log(`tools: ${toolset.map((t) => t.name).join(', ')}`);
  let turn = 0;
  for (const call of script) {
    turn += 1;
    const tool = byName.get(call.name);
    if (!tool) throw new Error(`the model asked for ${call.name}, which is not offered`);
    console.log(`#${turn} ${call.name} ${JSON.stringify(call.args)}`);
    const result = await tool.execute(call.args, { signal: AbortSignal.timeout(30_000) });
    const text = resultText(result).trimEnd().split('\n').map((l) => `   ${l}`).join('\n');
    console.log(`-> ${result.ok ? 'ok' : 'error'}\n${text}`);
  }
} finally {
  await session.remove({ workspaces: true });
}
console.log('done');
