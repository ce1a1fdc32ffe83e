import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { key, procsStartingWith, procsWith, uniqueSleep, waitFor } from './helpers.mjs';
import { Session, listSessions, HutchError, AbortError } from '../dist/index.js';

const K = key('sess');
let s;
after(async () => {
  await s?.close();
});

test('Session.create makes the session with its policy', async () => {
  s = await Session.create(K, { memory: '256m', pids: 64, env: { GREETING: 'hi there' } });
  const st = await s.status();
  assert.equal(st.key, K);
  assert.equal(st.state, 'running');
  assert.equal(st.backend, 'native');
  assert.ok(existsSync(st.workspace), 'the workspace is on the host');
  const all = await listSessions();
  assert.deepEqual(all.map((x) => x.key), [K], 'only this file\'s sessions are seen');
});

test('exec runs in the session: files persist, per-run defaults apply', async () => {
  const a = await s.exec({ shell: 'echo kept > /tmp/state; echo "$GREETING"' });
  assert.equal(a.exitCode, 0);
  assert.equal(a.stdout, 'hi there\n');
  const b = await s.exec(['cat', '/tmp/state']);
  assert.equal(b.stdout, 'kept\n');
  const c = await s.exec(['sh', '-c', 'echo "$X"; exit 5'], { env: { X: 'per call' } });
  assert.equal(c.stdout, 'per call\n');
  assert.equal(c.exitCode, 5);
  await assert.rejects(s.exec(['true'], { memory: '1g' }), /option memory cannot be given to exec/);
});

test('exec streams, and a stream can be aborted', async () => {
  const got = [];
  const r = await s.exec({ shell: 'echo one; sleep 0.3; echo two' }, { onStdout: (d) => got.push([d, Date.now()]) });
  assert.equal(got.map((g) => g[0]).join(''), 'one\ntwo\n');
  assert.ok(got[got.length - 1][1] - got[0][1] >= 200);
  assert.equal(r.exitCode, 0);
  const chunks = [];
  const st = s.execStream(['sh', '-c', 'echo a; echo b >&2']);
  for await (const c of st) chunks.push(`${c.stream}:${c.data}`);
  assert.deepEqual(chunks.sort(), ['stderr:b\n', 'stdout:a\n']);
  const dur = uniqueSleep();
  const ac = new AbortController();
  const t0 = Date.now();
  const p = s.exec(['sleep', dur], { signal: ac.signal });
  assert.ok(await waitFor(() => procsStartingWith(`sleep ${dur}`).length > 0), 'sleep started');
  ac.abort();
  await assert.rejects(p, AbortError);
  assert.ok(Date.now() - t0 < 5000);
  assert.ok(await waitFor(() => procsWith(dur).length === 0, 2000), 'no process is left');
});

test('tool helpers: write, read, edit, bash against the workspace', async () => {
  const w = await s.write('notes/todo.txt', 'buy milk\n');
  assert.equal(w.ok, true);
  assert.equal(w.bytes, 9);
  const ws = (await s.status()).workspace;
  assert.equal(readFileSync(join(ws, 'notes/todo.txt'), 'utf8'), 'buy milk\n', 'the file is in the workspace on the host');
  const r = await s.read('notes/todo.txt');
  assert.equal(r.text, 'buy milk\n');
  const e = await s.edit({ path: 'notes/todo.txt', oldText: 'milk', newText: 'bread' });
  assert.equal(e.ok, true);
  assert.match(e.diff, /-buy milk\n\+buy bread/);
  const b = await s.bash('cat notes/todo.txt; echo "$GREETING"; exit 3');
  assert.equal(b.ok, true);
  assert.equal(b.exit_code, 3);
  assert.match(b.text, /^buy bread\nhi there\n/);
  const b2 = await s.bash({ command: 'echo $V', env: { V: 'from args' } });
  assert.match(b2.text, /from args/);
  const ro = await s.read({ path: 'notes/todo.txt', offset: 1, limit: 1 });
  assert.equal(ro.lines, 1);
});

test('tool failures are results; unknown tools are HutchErrors', async () => {
  const r = await s.read('does/not/exist');
  assert.equal(r.ok, false);
  assert.match(r.error, /does\/not\/exist/);
  const bad = await s.bash({ command: 'id', network: 'host' });
  assert.equal(bad.ok, false);
  assert.match(bad.error, /unknown argument arguments.network/);
  const out = await s.read('../../etc/passwd');
  assert.equal(out.ok, false);
  await assert.rejects(s.tool('browser', {}), (e) => {
    assert.ok(e instanceof HutchError);
    assert.equal(e.code, -32602);
    return true;
  });
});

test('background processes through the process tool', async () => {
  const st = await s.bash({ command: 'for i in 1 2 3; do echo tick $i; sleep 0.1; done; sleep 30', background: true });
  assert.equal(st.ok, true);
  const id = st.id;
  assert.ok(await waitFor(async () => (await s.process({ action: 'log', id })).text.includes('tick 3')));
  const list = await s.process({ action: 'list' });
  assert.match(list.text, new RegExp(id));
  const k = await s.process({ action: 'kill', id });
  assert.equal(k.ok, true);
  assert.ok(await waitFor(async () => {
    const p = await s.process({ action: 'poll', id });
    return p.process && p.process.state === 'exited';
  }));
});

test('calls are multiplexed on one server, and abort kills one call only', async () => {
  const t0 = Date.now();
  const rs = await Promise.all([1, 2, 3, 4, 5].map((i) => s.bash(`sleep 0.4; echo ${i}`)));
  assert.deepEqual(rs.map((r) => r.text.trim()), ['1', '2', '3', '4', '5']);
  assert.ok(Date.now() - t0 < 1800, `5 calls of 0.4 s took ${Date.now() - t0} ms: they ran at once`);

  const dur = uniqueSleep();
  const ac = new AbortController();
  const t1 = Date.now();
  const slow = s.bash(`sleep ${dur}`, { signal: ac.signal });
  const other = s.bash('sleep 0.5; echo survived');
  assert.ok(await waitFor(() => procsWith(dur).length > 0), 'sleep started');
  ac.abort();
  await assert.rejects(slow, (e) => e instanceof AbortError && e.name === 'AbortError');
  assert.ok(Date.now() - t1 < 5000);
  assert.ok(await waitFor(() => procsWith(dur).length === 0, 3000), 'the aborted call\'s process is gone');
  assert.match((await other).text, /survived/);
  // the server goes on serving
  assert.equal((await s.read('notes/todo.txt')).text, 'buy bread\n');
  await assert.rejects(s.bash('true', { signal: AbortSignal.abort() }), AbortError);
});

test('stats, close and reuse, stop and start', async () => {
  const st = await s.stats();
  assert.equal(st.key, K);
  assert.ok(st.pids >= 1);
  assert.ok(st.memoryBytes > 0);
  await s.close();
  assert.equal((await s.read('notes/todo.txt')).text, 'buy bread\n', 'a call after close starts a new server');
  await s.stop();
  assert.equal((await s.status()).state, 'stopped');
  await s.start();
  assert.equal((await s.status()).state, 'running');
  assert.equal((await s.read('notes/todo.txt')).text, 'buy bread\n', 'the workspace survives a stop');
});

test('a session object with per-run options; open() of a new key creates on first use', async () => {
  const k2 = key('opened');
  const o = Session.open(k2, { env: ['ONLY=this'], timeout: 5 });
  try {
    const r = await o.bash('echo $ONLY');
    assert.match(r.text, /^this\n/);
    const x = await o.exec({ shell: 'echo $ONLY' });
    assert.equal(x.stdout, 'this\n');
    assert.throws(() => new Session('x', { memory: '1g' }), /option memory cannot be given to a session object/);
  } finally {
    await o.remove({ workspaces: true });
  }
  await assert.rejects(o.status(), (e) => e instanceof HutchError && e.exitCode !== 0);
});

test('remove deletes the session and its workspace', async () => {
  const ws = (await s.status()).workspace;
  await s.remove({ workspaces: true });
  assert.equal(existsSync(ws), false);
  assert.deepEqual(await listSessions(), []);
});
