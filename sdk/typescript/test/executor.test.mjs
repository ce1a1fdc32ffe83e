import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import './helpers.mjs';
import { getSandboxExecutor, executorPolicy, DOCKER_UNAVAILABLE, HutchError } from '../dist/index.js';

test('spawn mode: the native sandbox, argv, exit code, output', async () => {
  const ex = getSandboxExecutor({ mode: 'spawn', timeout: 10000, workdir: '/workspace' });
  const r = await ex.execute('sh', ['-c', 'pwd; echo err >&2; id -u; exit 3']);
  assert.deepEqual(Object.keys(r).sort(), ['exitCode', 'oomKilled', 'stderr', 'stdout', 'timedOut']);
  assert.equal(r.exitCode, 3);
  assert.equal(r.stderr, 'err\n');
  const [pwd, uid] = r.stdout.split('\n');
  assert.equal(pwd, '/workspace');
  const me = process.getuid();
  assert.equal(uid, me === 0 ? '65534' : String(me), 'isolated: root runs as nobody in the native sandbox');
  assert.equal(r.timedOut, false);
  const args = await ex.execute('printf', ['%s|', 'a b', '$HOME', ';rm']);
  assert.equal(args.stdout, 'a b|$HOME|;rm|', 'no shell');
});

test('timeout is milliseconds', async () => {
  const ex = getSandboxExecutor({ mode: 'spawn', timeout: 400 });
  const t0 = Date.now();
  const r = await ex.execute('sleep', ['10']);
  assert.equal(r.timedOut, true);
  assert.equal(r.exitCode, 124);
  assert.ok(Date.now() - t0 < 3500, `took ${Date.now() - t0} ms`);
});

test('memoryLimit is MiB and an OOM kill is reported', async () => {
  const ex = getSandboxExecutor({ mode: 'spawn', memoryLimit: 32, timeout: 30000 });
  const r = await ex.execute('python3', ['-c', 'x = bytearray(200 * 1024 * 1024); print(len(x))']);
  assert.equal(r.oomKilled, true);
  assert.notEqual(r.exitCode, 0);
  const ok = await ex.execute('python3', ['-c', 'x = bytearray(4 * 1024 * 1024); print(len(x))']);
  assert.equal(ok.stdout, '4194304\n');
  assert.equal(ok.oomKilled, false);
});

test('networkEnabled: off is loopback only, on is the host network', async () => {
  const probe = ['-c', 'import socket; print(sorted(n for _, n in socket.if_nameindex()))'];
  const off = await getSandboxExecutor({ mode: 'spawn' }).execute('python3', probe);
  assert.equal(off.stdout.trim(), "['lo']");
  const on = await getSandboxExecutor({ mode: 'spawn', networkEnabled: true }).execute('python3', probe);
  assert.notEqual(on.stdout.trim(), "['lo']");
});

test('readOnlyRoot and the policy each mode stands for', async () => {
  const r = await getSandboxExecutor({ mode: 'spawn', readOnlyRoot: true }).execute('sh', ['-c', 'touch /newfile']);
  assert.notEqual(r.exitCode, 0);
  assert.match(r.stderr, /Read-only file system/);
  assert.deepEqual(executorPolicy('docker', { timeout: 60000, memoryLimit: 512, networkEnabled: false, readOnlyRoot: true, workdir: '/workspace' }), {
    noConfig: true, timeout: '60000ms', workdir: '/workspace', readOnlyRoot: true, backend: 'docker', memory: '512m', net: 'none',
  });
  assert.equal(executorPolicy('docker', {}).memory, '256m', 'docker default: 256 MiB');
  assert.equal(executorPolicy('docker', { networkEnabled: true }).net, 'bridge');
  assert.equal(executorPolicy('spawn', {}).backend, 'native');
  assert.equal(executorPolicy('none', { memoryLimit: 64 }).backend, 'host');
  assert.throws(() => getSandboxExecutor({ mode: 'vm' }), /use 'spawn', 'docker' or 'none'/);
});

test('none mode: no isolation, with hutch\'s warning', async () => {
  const warnings = [];
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'hutch-none-')));
  try {
    const ex = getSandboxExecutor({ mode: 'none', workdir: dir, warn: (m) => warnings.push(m) });
    const r = await ex.execute('sh', ['-c', 'pwd; id -u']);
    assert.equal(r.stdout, `${dir}\n${process.getuid()}\n`, 'runs on the host, as the caller');
    assert.ok(warnings.some((w) => /no isolation/.test(w)), `warned: ${JSON.stringify(warnings)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('docker mode without an engine falls back to spawn mode with the agent\'s warning', async () => {
  const warnings = [];
  const ex = getSandboxExecutor({
    mode: 'docker',
    hutchEnv: { ...process.env, DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
    warn: (m) => warnings.push(m),
  });
  assert.equal(ex.mode, 'docker');
  const r = await ex.execute('id', ['-u']);
  assert.deepEqual(warnings, [DOCKER_UNAVAILABLE]);
  assert.equal(DOCKER_UNAVAILABLE, 'Docker not available, falling back to spawn mode');
  assert.equal(ex.mode, 'spawn');
  assert.equal(r.stdout, process.getuid() === 0 ? '65534\n' : `${process.getuid()}\n`);
  await ex.execute('true');
  assert.equal(warnings.length, 1, 'warned once');
});

test('docker mode: other hutch failures are errors, not fallbacks', async () => {
  const warnings = [];
  const bad = getSandboxExecutor({ mode: 'docker', memoryLimit: 1, warn: (m) => warnings.push(m) });
  await assert.rejects(bad.execute('true'), (e) => e instanceof HutchError && /too little memory/.test(e.message));
  assert.equal(bad.mode, 'docker');
  assert.deepEqual(warnings, []);
});

function dockerUp() {
  try {
    execFileSync('docker', ['image', 'inspect', 'hutch-sandbox:bookworm-slim'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('docker mode on the running engine: a non-root container per command, removed after', { skip: !dockerUp() && 'no Docker engine with the hutch-sandbox image (scripts/docker-up.sh starts it)' }, async () => {
  const warnings = [];
  const ex = getSandboxExecutor({ mode: 'docker', timeout: 60000, memoryLimit: 128, workdir: '/tmp', readOnlyRoot: true, warn: (m) => warnings.push(m) });
  const r = await ex.execute('sh', ['-c', 'id -u; hostname; pwd; cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; touch /x || echo ro']);
  assert.deepEqual(warnings, []);
  assert.equal(r.exitCode, 0, r.stderr);
  const [uid, host, pwd, mem, ro] = r.stdout.trim().split('\n');
  assert.equal(uid, '1000');
  assert.equal(pwd, '/tmp');
  assert.equal(mem, String(128 * 1024 * 1024));
  assert.equal(ro, 'ro');
  // the container this command ran in (its hostname is its id) is gone
  assert.throws(() => execFileSync('docker', ['inspect', host], { stdio: 'ignore' }), 'the container was removed');
});
