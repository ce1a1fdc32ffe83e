// hutch mcp driven by the official MCP TypeScript SDK over stdio: the
// handshake, the tool list, every tool, progress, cancellation and errors.
// Run by tests/integration/test_mcp.py with Node 22 (scripts/mcp-deps.sh):
//   HUTCH_BIN=build/hutch HUTCH_MCP_SESSION=key node sdk_client.mjs
// Exits 0 when every check passed; prints one line per check.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";

let failures = 0;
let count = 0;
function check(ok, what, detail) {
  count++;
  console.log(`${ok ? "ok" : "not ok"} ${count} - ${what}`);
  if (!ok) {
    failures++;
    if (detail !== undefined) console.log(`# ${JSON.stringify(detail).slice(0, 2000)}`);
  }
}

function text(result) {
  return (result.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("");
}

const hutch = process.env.HUTCH_BIN;
const session = process.env.HUTCH_MCP_SESSION ?? "sdk";
const transport = new StdioClientTransport({
  command: hutch,
  args: ["mcp", "--session", session],
  env: process.env,
  stderr: "inherit",
});
const client = new Client({ name: "hutch-sdk-test", version: "1.0.0" });
await client.connect(transport);

check(client.getServerVersion()?.name === "hutch", "serverInfo names hutch", client.getServerVersion());
const caps = client.getServerCapabilities();
check(caps?.tools && caps?.logging, "tools and logging capabilities", caps);
check((await client.ping()) !== undefined, "ping");
await client.setLoggingLevel("info");

const { tools } = await client.listTools();
const names = tools.map((t) => t.name).sort();
check(JSON.stringify(names) === JSON.stringify(["bash", "edit", "process", "read", "write"]),
  "the five tools are listed", names);
for (const t of tools) {
  check(t.inputSchema?.type === "object" && t.inputSchema?.additionalProperties === false,
    `${t.name}: a closed object schema`, t.inputSchema);
  check(typeof t.description === "string" && t.annotations !== undefined,
    `${t.name}: description and annotations`, t);
}

async function call(name, args, options) {
  return client.callTool({ name, arguments: args }, undefined, options);
}

// write, read, edit
let r = await call("write", { path: "sdk/notes.txt", content: "hello from the SDK\nline two\n" });
check(!r.isError && r.structuredContent?.ok === true, "write", r);
r = await call("read", { path: "sdk/notes.txt" });
check(!r.isError && text(r).includes("hello from the SDK"), "read", r);
r = await call("edit", { path: "sdk/notes.txt", oldText: "hello", newText: "goodbye" });
check(!r.isError && r.structuredContent?.diff?.includes("+goodbye from the SDK"),
  "edit returns a diff", r);
r = await call("edit", { path: "sdk/notes.txt", oldText: "not there", newText: "x" });
check(r.isError === true && /not found/.test(text(r)), "a failed edit is an isError result", r);

// bash, in the sandbox
r = await call("bash", { command: "cat sdk/notes.txt; pwd" });
check(!r.isError && text(r).includes("goodbye from the SDK") && text(r).includes("/workspace"),
  "bash sees what write wrote, in /workspace", r);
r = await call("bash", { command: "exit 3" });
check(r.structuredContent?.exit_code === 3, "bash reports the exit code", r);
r = await call("bash", { command: "id", dangerouslyDisableSandbox: true });
check(r.isError === true && text(r).includes("dangerouslyDisableSandbox"),
  "an argument that would change the sandbox is refused", r);

// process: a background bash
r = await call("bash", { command: "echo started; sleep 60", background: true });
const pid = r.structuredContent?.id;
check(!r.isError && typeof pid === "string", "bash background returns a process id", r);
r = await call("process", { action: "list" });
check(!r.isError && (r.structuredContent?.processes ?? []).some((p) => p.id === pid),
  "process list shows it", r);
r = await call("process", { action: "kill", id: pid });
check(!r.isError, "process kill", r);

// progress: a 2-second call with onprogress asks for a progressToken
const progress = [];
r = await call("bash", { command: "sleep 2.5; echo slept" }, {
  onprogress: (p) => progress.push(p),
});
check(!r.isError && text(r).includes("slept"), "a long call is answered", r);
check(progress.length >= 2 && progress.every((p, i) => i === 0 || p.progress > progress[i - 1].progress),
  "progress notifications, growing", progress);

// cancellation: aborting the request sends notifications/cancelled
const controller = new AbortController();
setTimeout(() => controller.abort("test"), 700);
const started = Date.now();
let aborted = false;
try {
  await call("bash", { command: "sleep 30" }, { signal: controller.signal });
} catch (e) {
  aborted = true;
}
check(aborted && Date.now() - started < 5000, "an aborted call ends at once");
const t0 = Date.now();
await client.ping();
check(Date.now() - t0 < 2000, "the server still answers after a cancel");
// [3]0: the pattern does not match this command line itself
r = await call("bash", {
  command: "for i in $(seq 50); do pgrep -f 'sleep [3]0' >/dev/null || { echo none; exit; }; " +
    "sleep 0.1; done; echo still there",
});
check(text(r).includes("none"), "the cancelled command's process is gone", r);

// protocol errors
let code = null;
try {
  await call("no_such_tool", {});
} catch (e) {
  code = e instanceof McpError ? e.code : e;
}
check(code === -32602, "an unknown tool is error -32602", code);

await client.close();
console.log(`1..${count}`);
console.log(`sdk client: ${count - failures} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
