#!/usr/bin/env node
// Latency of a `read` tool call from Node through the TypeScript SDK
// (sdk/typescript, over `hutch mcp`), in an existing session:
//
//   node bench/sdk-node.mjs --hutch BIN --session KEY --path FILE --runs N
//
// prints one line `node median_ms=X p90_ms=Y runs=N`. FILE is a path the
// read tool takes (relative to the session's workspace). bench/sdk.sh runs
// it beside the C and Python numbers. Build the SDK first (scripts/sdk-ts-test.sh
// does, or: cd sdk/typescript && npm ci && npm run build).
import { Session } from '../sdk/typescript/dist/index.js';

function usage(msg) {
  console.error(`bench/sdk-node.mjs: ${msg}\nusage: node bench/sdk-node.mjs --hutch BIN --session KEY --path FILE --runs N`);
  process.exit(2);
}

const opt = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const name = argv[i];
  if (!['--hutch', '--session', '--path', '--runs'].includes(name)) usage(`unknown argument ${name}`);
  if (argv[i + 1] === undefined) usage(`${name} needs a value`);
  opt[name.slice(2)] = argv[i + 1];
}
for (const k of ['hutch', 'session', 'path', 'runs']) if (!opt[k]) usage(`--${k} is missing`);
const runs = Number(opt.runs);
if (!Number.isInteger(runs) || runs < 1) usage(`--runs ${opt.runs}: give a whole number >= 1`);

const session = new Session(opt.session, { hutch: opt.hutch });
try {
  // Start the server and warm up, as a long-lived agent would be.
  for (let i = 0; i < Math.min(20, runs); i++) {
    const r = await session.read(opt.path);
    if (!r.ok) throw new Error(`read ${opt.path}: ${r.error}`);
  }
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = await session.read(opt.path);
    const t1 = process.hrtime.bigint();
    if (!r.ok) throw new Error(`read ${opt.path}: ${r.error}`);
    ms.push(Number(t1 - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  const at = (q) => ms[Math.min(ms.length - 1, Math.ceil(q * ms.length) - 1)];
  const median = ms.length % 2 ? ms[(ms.length - 1) / 2] : (ms[ms.length / 2 - 1] + ms[ms.length / 2]) / 2;
  console.log(`node median_ms=${median.toFixed(3)} p90_ms=${at(0.9).toFixed(3)} runs=${runs}`);
} finally {
  await session.close();
}
