// The programs that ship with the SDK: examples/agent-loop.mjs, the
// benchmark, and the example of docs/sdk.md, run as a user would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HUTCH, STATE, key, track } from './helpers.mjs';

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repo = resolve(pkg, '../..');

test('examples/agent-loop.mjs runs its scripted tool calls in a session', () => {
  const k = key('loop');
  const out = execFileSync(process.execPath, [join(repo, 'examples/agent-loop.mjs'), k], { encoding: 'utf8' });
  assert.match(out, /^tools: bash, read, write, edit, process\n/);
  assert.match(out, /#1 write .*\n-> ok\n   Wrote 32 bytes to hello.py\n/);
  assert.match(out, /#2 bash .*\n-> ok\n   hello from the sandbox\n/);
  assert.match(out, /#4 read .*\n-> ok\n   print\("goodbye from the sandbox"\)\n/);
  assert.match(out, /#5 bash .*\n-> ok\n   goodbye from the sandbox\n   hello.py\n/);
  assert.match(out, /#7 process .*\n-> ok\n   p1 .*running.*sleep 60\n/);
  assert.match(out, /#8 read .*\n-> error\n   Error: \/etc\/shadow is outside the workspace/);
  assert.match(out, /\ndone\n$/);
  const ls = execFileSync(HUTCH, ['session', 'ls', '--json'], { encoding: 'utf8' });
  assert.ok(!JSON.parse(ls).some((s) => s.key === k), 'the example removed its session');
});

test('bench/sdk-node.mjs prints one line of latencies', () => {
  const k = key('bench');
  execFileSync(HUTCH, ['session', 'create', k], { stdio: 'ignore' });
  execFileSync(HUTCH, ['tool', k, 'write', JSON.stringify({ path: 'f.txt', content: 'x'.repeat(1023) + '\n' })], { stdio: 'ignore' });
  const r = spawnSync(process.execPath, [join(repo, 'bench/sdk-node.mjs'), '--hutch', HUTCH, '--session', k, '--path', 'f.txt', '--runs', '50'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const m = r.stdout.match(/^node median_ms=(\d+\.\d{3}) p90_ms=(\d+\.\d{3}) runs=50\n$/);
  assert.ok(m, r.stdout);
  assert.ok(Number(m[1]) > 0 && Number(m[1]) <= Number(m[2]));
  const bad = spawnSync(process.execPath, [join(repo, 'bench/sdk-node.mjs'), '--hutch', HUTCH, '--session', k, '--path', 'missing', '--runs', '5'], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0, 'a read that fails is not timed');
});

test('the example of docs/sdk.md runs as written, importing the package by name', () => {
  const md = readFileSync(join(repo, 'docs/sdk.md'), 'utf8');
  const m = md.match(/<!-- tested: example -->\n```js\n([\s\S]*?)```/);
  assert.ok(m, 'docs/sdk.md has the tested example');
  const want = md.match(/<!-- tested: example output -->\n```\n([\s\S]*?)```/);
  assert.ok(want, 'docs/sdk.md shows the example\'s output');
  const dir = join(STATE, 'docs-example');
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  symlinkSync(pkg, join(dir, 'node_modules', 'hutch-sandbox'));
  writeFileSync(join(dir, 'example.mjs'), m[1]);
  track('docs-example'); // the example's session key, removed after the file even if it fails
  const out = execFileSync(process.execPath, [join(dir, 'example.mjs')], { encoding: 'utf8', cwd: dir });
  assert.equal(out, want[1]);
});
