// Approval through elicitation (approval.require, docs/mcp.md), with the
// official MCP TypeScript SDK's client: a client that declares the
// elicitation capability is asked before each bash call and its answer
// decides (accept with approve true, decline, cancel, accept unchecked); a
// client that does not declare it gets the call refused. Over stdio (the
// client starts `hutch mcp --require-approval bash`) or HTTP (the test
// started `hutch mcp --http 0 --require-approval bash`: HUTCH_MCP_URL).
//   HUTCH_BIN=build/hutch HUTCH_MCP_SESSION=key node approval_client.mjs stdio|http
// Exits 0 when every check passed; prints one line per check.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

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

const mode = process.argv[2] ?? "stdio";
const session = process.env.HUTCH_MCP_SESSION ?? "sdk-approval";

function transport() {
  if (mode === "http") return new StreamableHTTPClientTransport(new URL(process.env.HUTCH_MCP_URL));
  return new StdioClientTransport({
    command: process.env.HUTCH_BIN,
    args: ["mcp", "--session", session, "--require-approval", "bash"],
    env: process.env,
    stderr: "inherit",
  });
}

// A client that can be asked: what it answers depends on the command.
const asked = [];
const client = new Client({ name: "hutch-approval-test", version: "1.0.0" },
  { capabilities: { elicitation: { form: {} } } });
client.setRequestHandler(ElicitRequestSchema, async (request) => {
  const params = request.params;
  asked.push(params);
  if (params.message.includes("approve-me")) return { action: "accept", content: { approve: true } };
  if (params.message.includes("uncheck-me")) return { action: "accept", content: { approve: false } };
  if (params.message.includes("cancel-me")) return { action: "cancel" };
  return { action: "decline" };
});
await client.connect(transport());

async function bash(c, command) {
  return c.callTool({ name: "bash", arguments: { command } });
}

let r = await bash(client, "echo approve-me");
check(!r.isError && text(r).includes("approve-me"), `${mode}: an accepted call runs`, r);
const first = asked[0] ?? {};
check(asked.length === 1 && first.mode === "form" &&
  first.requestedSchema?.properties?.approve?.type === "boolean" &&
  first.requestedSchema?.required?.includes("approve"),
  `${mode}: elicitation/create in form mode, with a boolean approve`, first);
check(first.message?.includes('bash {"command":"echo approve-me"}') &&
  first.message?.includes(`in session ${session}`),
  `${mode}: the message shows the tool, its arguments and the session`, first);

r = await bash(client, "echo decline-me > /workspace/declined");
check(r.isError === true && /^not approved: declined/.test(text(r)), `${mode}: declined: refused`, r);
r = await bash(client, "echo cancel-me");
check(r.isError === true && /not approved: dismissed/.test(text(r)), `${mode}: cancelled: refused`, r);
r = await bash(client, "echo uncheck-me");
check(r.isError === true && /did not approve/.test(text(r)),
  `${mode}: accepted without approve true: refused`, r);
r = await client.callTool({ name: "read", arguments: { path: "declined" } });
check(r.isError === true && asked.length === 4,
  `${mode}: a declined call did not run, and read is not asked about`, { r, asked: asked.length });
await client.close();

// A client that cannot be asked: refused, with the reason.
const plain = new Client({ name: "hutch-approval-plain", version: "1.0.0" });
await plain.connect(transport());
r = await bash(plain, "echo never");
check(r.isError === true && /not approved: .*elicitation/.test(text(r)),
  `${mode}: a client without elicitation: refused`, r);
await plain.close();

console.log(`1..${count}`);
console.log(`approval client: ${count - failures} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
