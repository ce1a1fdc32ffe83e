import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HUTCH, procsStartingWith, procsWith, uniqueSleep } from './helpers.mjs';
import { run, stream, HutchError, AbortError } from '../dist/index.js';

test('run captures stdout, stderr and the exit code, camelCased', async () => {
  const r = await run(['sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(r.exitCode, 3);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
  assert.equal(r.backend, 'native');
  assert.equal(r.isolated, true);
  assert.equal(r.timedOut, false);
  assert.equal(r.oomKilled, false);
  assert.equal(r.signal, null);
  assert.equal(r.stdoutBytes, 4);
  assert.equal(r.stderrTruncated, false);
  assert.equal(r.error, null);
  assert.equal(typeof r.durationMs, 'number');
});

test('argv is passed as is: no shell', async () => {
  const r = await run(['printf', '%s|', '$(id)', 'a b', '--x', "'q'"]);
  assert.equal(r.stdout, "$(id)|a b|--x|'q'|");
});

test('{shell} runs sh -c with $0 and $1', async () => {
  const r = await run({ shell: 'echo "$0:$1"; exit 7', args: ['zero', 'one'] });
  assert.equal(r.stdout, 'zero:one\n');
  assert.equal(r.exitCode, 7);
});

test('stdin is given to the command', async () => {
  const r = await run(['tr', 'a-z', 'A-Z'], { stdin: 'hello\n' });
  assert.equal(r.stdout, 'HELLO\n');
});

test('policy options reach the sandbox: env, workdir, timeout, net', async () => {
  const r = await run({ shell: 'echo "$FOO $BAR"; pwd; ls /sys/class/net 2>/dev/null || echo no-net-dir' }, {
    env: { FOO: 'foo value', BAR: 'x=y' },
    workdir: '/tmp',
    net: 'none',
  });
  assert.equal(r.stdout.split('\n')[0], 'foo value x=y');
  assert.equal(r.stdout.split('\n')[1], '/tmp');
  const t0 = Date.now();
  const slow = await run(['sleep', '5'], { timeout: '300ms' });
  assert.equal(slow.timedOut, true);
  assert.equal(slow.exitCode, 124);
  assert.ok(Date.now() - t0 < 4000, 'the timeout ended it');
});

test('a command killed by a signal reports it', async () => {
  const r = await run({ shell: 'kill -9 $$' });
  assert.equal(r.exitCode, 137);
  assert.equal(r.signal, 9);
});

test('a missing program is a result with error, not an exception', async () => {
  const r = await run(['no-such-program-xyz']);
  assert.equal(r.exitCode, 127);
  assert.match(r.error, /command not found/);
});

test('hutch failing (exit 125) throws HutchError with its one line', async () => {
  await assert.rejects(run(['true'], { memory: '12q' }), (e) => {
    assert.ok(e instanceof HutchError);
    assert.equal(e.exitCode, 125);
    assert.match(e.message, /^hutch: --memory: "12q" is not a size like 512m$/);
    return true;
  });
  // streamed: the same error, from the result descriptor
  await assert.rejects(run(['true'], { memory: '12q', onStdout() {} }), (e) => {
    assert.ok(e instanceof HutchError);
    assert.match(e.message, /--memory: "12q" is not a size/);
    return true;
  });
  // the command exiting 125 itself is a result
  const r = await run({ shell: 'exit 125' });
  assert.equal(r.exitCode, 125);
});

test('unknown options and bad binaries are refused clearly', async () => {
  await assert.rejects(run(['true'], { memroy: '1g' }), /unknown option "memroy"/);
  await assert.rejects(run(['true'], { hutch: '/nonexistent/hutch' }), (e) => {
    assert.ok(e instanceof HutchError);
    assert.match(e.message, /cannot start \/nonexistent\/hutch/);
    return true;
  });
});

test('streaming: chunks arrive as they are written, in order, before the result', async () => {
  const t0 = Date.now();
  const events = [];
  const r = await run({ shell: 'echo first; echo warn >&2; sleep 0.6; echo second; exit 4' }, {
    onStdout: (d) => events.push(['out', d, Date.now() - t0]),
    onStderr: (d) => events.push(['err', d, Date.now() - t0]),
  });
  const end = Date.now() - t0;
  const out = events.filter((e) => e[0] === 'out');
  assert.deepEqual(out.map((e) => e[1]).join(''), 'first\nsecond\n');
  assert.deepEqual(events.filter((e) => e[0] === 'err').map((e) => e[1]).join(''), 'warn\n');
  const first = out.find((e) => e[1].includes('first'));
  const second = out.find((e) => e[1].includes('second'));
  assert.ok(second[2] - first[2] >= 400, `first came ${second[2] - first[2]} ms before second: streamed, not at the end`);
  assert.ok(first[2] < end - 400, 'first came well before the end');
  assert.equal(r.exitCode, 4);
  assert.equal(r.stdout, '', 'streamed output is not also captured');
});

test('streaming as an async iterator, then the result', async () => {
  const s = stream({ shell: 'for i in 1 2 3; do echo $i; sleep 0.05; done; echo e >&2' });
  const chunks = [];
  for await (const c of s) chunks.push(c);
  assert.equal(chunks.filter((c) => c.stream === 'stdout').map((c) => c.data).join(''), '1\n2\n3\n');
  assert.equal(chunks.filter((c) => c.stream === 'stderr').map((c) => c.data).join(''), 'e\n');
  const r = await s.result;
  assert.equal(r.exitCode, 0);
  // a failing stream throws from the iterator
  const bad = stream(['true'], { pids: -3 });
  await assert.rejects(async () => {
    for await (const _ of bad) void _;
  }, HutchError);
});

test('abort kills sleep 30 fast and leaves no process', async () => {
  const dur = uniqueSleep();
  const ac = new AbortController();
  const t0 = Date.now();
  const p = run(['sleep', dur], { signal: ac.signal });
  // wait until the command itself runs (hutch's own arguments name it
  // earlier; an abort during setup ends the run before any SIGTERM could)
  while (procsStartingWith(`sleep ${dur}`).length === 0) {
    assert.ok(Date.now() - t0 < 5000, 'sleep did not start');
    await new Promise((r) => setTimeout(r, 20));
  }
  ac.abort();
  await assert.rejects(p, (e) => {
    assert.ok(e instanceof AbortError);
    assert.equal(e.name, 'AbortError');
    if (e.result) assert.equal(e.result.signal, 15);
    return true;
  });
  assert.ok(Date.now() - t0 < 5000, `aborted in ${Date.now() - t0} ms`);
  assert.deepEqual(procsWith(dur), [], 'no process is left');
});

test('abort while streaming, and a signal aborted before the call', async () => {
  const dur = uniqueSleep();
  const ac = new AbortController();
  const t0 = Date.now();
  const got = [];
  const p = run({ shell: `echo started; exec sleep ${dur}` }, { signal: ac.signal, onStdout: (d) => got.push(d) });
  while (!got.join('').includes('started')) {
    assert.ok(Date.now() - t0 < 5000, 'no output');
    await new Promise((r) => setTimeout(r, 20));
  }
  ac.abort();
  await assert.rejects(p, AbortError);
  assert.ok(Date.now() - t0 < 5000);
  assert.deepEqual(procsWith(dur), []);
  await assert.rejects(run(['true'], { signal: AbortSignal.abort() }), AbortError);
});

test('HUTCH_BIN is the default binary', () => {
  assert.ok(HUTCH.length > 0);
});
