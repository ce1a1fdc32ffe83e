import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { key, procsWith, uniqueSleep, waitFor } from './helpers.mjs';
import { Session, tools, resultText, AbortError } from '../dist/index.js';

const s = new Session(key('tools'));
after(() => s.close());

test('tools(session) gives the five tools with the server\'s schemas', async () => {
  const ts = await tools(s);
  assert.deepEqual(ts.map((t) => t.name).sort(), ['bash', 'edit', 'process', 'read', 'write']);
  const served = await s.listTools();
  for (const t of ts) {
    assert.equal(typeof t.description, 'string');
    assert.ok(t.description.length > 20, `${t.name} has a description`);
    assert.equal(t.parameters.type, 'object');
    assert.equal(t.parameters.additionalProperties, false);
    assert.deepEqual(t.parameters, served.find((x) => x.name === t.name).inputSchema);
    assert.equal(typeof t.execute, 'function');
  }
  const byName = Object.fromEntries(ts.map((t) => [t.name, t]));
  assert.deepEqual(byName.read.parameters.required, ['path']);
  assert.ok('command' in byName.bash.parameters.properties);
  assert.ok('oldText' in byName.edit.parameters.properties);
});

test('execute runs each tool in the session', async () => {
  const t = Object.fromEntries((await tools(s)).map((x) => [x.name, x]));
  assert.equal((await t.write.execute({ path: 'a.txt', content: 'alpha\n' })).ok, true);
  assert.equal((await t.read.execute({ path: 'a.txt' })).text, 'alpha\n');
  assert.equal((await t.edit.execute({ path: 'a.txt', oldText: 'alpha', newText: 'beta' })).ok, true);
  const b = await t.bash.execute({ command: 'cat a.txt' });
  assert.match(b.text, /^beta\n/);
  const p = await t.process.execute({ action: 'list' });
  assert.equal(p.ok, true);
  const bad = await t.read.execute({ path: 'a.txt', bogus: 1 });
  assert.equal(bad.ok, false);
  assert.match(resultText(bad), /^Error: unknown argument/);
  assert.equal(resultText(await t.read.execute({ path: 'a.txt' })), 'beta\n');
});

test('execute takes an AbortSignal', async () => {
  const bash = (await tools(s)).find((t) => t.name === 'bash');
  const dur = uniqueSleep();
  const ac = new AbortController();
  const t0 = Date.now();
  const p = bash.execute({ command: `sleep ${dur}` }, { signal: ac.signal });
  assert.ok(await waitFor(() => procsWith(dur).length > 0));
  ac.abort();
  await assert.rejects(p, AbortError);
  assert.ok(Date.now() - t0 < 5000);
  assert.ok(await waitFor(() => procsWith(dur).length === 0, 3000));
});

test('a denied tool is not offered', async () => {
  const { writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const cfg = join(process.env.HUTCH_STATE_DIR, 'deny.json');
  writeFileSync(cfg, JSON.stringify({ sandbox: { tools: { deny: ['bash', 'process'] } } }));
  const d = new Session(key('denied'), { config: cfg });
  try {
    assert.deepEqual((await tools(d)).map((t) => t.name).sort(), ['edit', 'read', 'write']);
    await assert.rejects(d.bash('id'), (e) => e.code === -32602);
  } finally {
    await d.close(); // the session, if a call made it, goes with the file's others
  }
});
