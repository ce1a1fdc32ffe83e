// The SDK cannot drift from the CLI: every flag it emits is run through the
// real binary, and every policy flag of `hutch help run` has an option.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HUTCH, STATE, key } from './helpers.mjs';
import { FLAGS, PER_RUN_KEYS, toFlags } from '../dist/index.js';

const dir = join(STATE, 'flags');
mkdirSync(dir, { recursive: true });
const cfg = join(dir, 'config.json');
writeFileSync(cfg, JSON.stringify({ sandbox: { limits: { timeoutSeconds: 60 } } }));

const SAMPLES = {
  config: cfg, noConfig: true, timeout: 5, outputLimit: '1m', fileSize: '1m', env: { A: 'b' }, inheritEnv: true,
  workdir: '/tmp', backend: 'native', fallback: 'spawn', fallbackKeep: ['all'], setupCommand: 'true',
  workspace: dir, user: 1000, allowRootUser: true, memory: '64m', cpus: 0.5, pids: 64, disk: '1m', files: 100,
  rlimitFallback: true, net: ['example.com', 'example.org'], allowAddress: '10.0.0.1', addHost: { a: '10.0.0.1' },
  denyRead: '/etc/shadow', rw: dir, denyWrite: join(dir, 'x'), ro: '/usr', tmpfs: '/scratch', readOnlyRoot: true,
  image: 'hutch-sandbox:bookworm-slim', sandbox: 'native', runtime: 'runsc', requireApproval: 'bash', docker: true,
};

// Settings that only make sense with another one.
const WITH = { allowAddress: { net: ['example.com'] }, addHost: { net: ['example.com'] } };

function helpFlags() {
  const help = execFileSync(HUTCH, ['help', 'run'], { encoding: 'utf8' });
  const start = help.search(/^POLICY OPTIONS$/m);
  const end = help.search(/^BACKENDS$/m);
  assert.ok(start > 0 && end > start, 'hutch help run has POLICY OPTIONS and BACKENDS sections');
  const policy = help.slice(start, end);
  return new Set([...policy.matchAll(/^ {4}(--[a-z-]+)/gm)].map((m) => m[1]));
}

test('every option has a sample here, and FLAGS matches hutch help run both ways', () => {
  assert.deepEqual(Object.keys(SAMPLES).sort(), Object.keys(FLAGS).sort());
  const sdk = new Set(Object.values(FLAGS).map(([f]) => f));
  const cli = helpFlags();
  assert.ok(cli.size > 30, `read ${cli.size} flags from hutch help run`);
  assert.deepEqual([...sdk].filter((f) => !cli.has(f)), [], 'flags the SDK emits that hutch does not list');
  assert.deepEqual([...cli].filter((f) => !sdk.has(f)), [], 'policy flags of hutch that the SDK has no option for');
});

test('hutch accepts every policy flag the SDK emits, with its value', () => {
  for (const [name, value] of Object.entries(SAMPLES)) {
    const flags = toFlags({ [name]: value, ...WITH[name] });
    assert.ok(flags.length > 0, name);
    // --config names the file config check would take as its argument
    const args = name === 'config' ? ['config', 'check', ...flags] : ['config', 'check', '--no-config', ...flags].filter((a, i, all) => !(a === '--no-config' && all.indexOf(a) !== i));
    const r = spawnSync(HUTCH, args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `hutch ${args.join(' ')}: ${r.stderr}`);
  }
});

test('hutch exec and hutch mcp accept every per-run flag the SDK emits', () => {
  const k = key('flags');
  for (const name of PER_RUN_KEYS) {
    const v = name === 'workdir' ? '/tmp' : SAMPLES[name];
    const flags = toFlags({ [name]: v }, PER_RUN_KEYS);
    const e = spawnSync(HUTCH, ['exec', k, ...flags, '--json', '--', 'true'], { encoding: 'utf8' });
    assert.equal(e.status, 0, `hutch exec ${flags.join(' ')}: ${e.stderr}`);
    const m = spawnSync(HUTCH, ['mcp', '--session', k, ...flags], { input: '', encoding: 'utf8' });
    assert.equal(m.status, 0, `hutch mcp ${flags.join(' ')}: ${m.stderr}`);
  }
  // and refuse a flag it does not know, so the checks above can fail
  const bad = spawnSync(HUTCH, ['exec', k, '--no-such-flag', '--json', '--', 'true'], { encoding: 'utf8' });
  assert.equal(bad.status, 125);
});

test('toFlags: repeated, boolean and mapped options', () => {
  assert.deepEqual(toFlags({ ro: ['/a', '/b:/c'], readOnlyRoot: false, env: { X: '1', Y: 'a=b' }, net: 'none' }),
    ['--env', 'X=1', '--env', 'Y=a=b', '--net', 'none', '--ro', '/a', '--ro', '/b:/c']);
  assert.deepEqual(toFlags({ net: ['a.com', '*.b.com'] }), ['--net', 'allow:a.com,*.b.com']);
  assert.throws(() => toFlags({ env: { 'A=B': 'c' } }), /contains '='/);
  assert.throws(() => toFlags({ workdir: 'a\0b' }), /NUL/);
  assert.throws(() => toFlags({ readOnlyRoot: 'yes' }), /expected a boolean/);
});
