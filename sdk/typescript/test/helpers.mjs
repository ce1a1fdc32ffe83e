// Shared by the test files: each file (node --test runs each in its own
// process) gets its own HUTCH_STATE_DIR, so it never sees other sessions,
// and removes it with what it made.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { execFileSync } from 'node:child_process';

if (!process.env.HUTCH_BIN) throw new Error('set HUTCH_BIN to the hutch binary (scripts/sdk-ts-test.sh does)');
export const HUTCH = process.env.HUTCH_BIN;
export const STATE = mkdtempSync(join(tmpdir(), 'hutch-sdk-ts-'));
process.env.HUTCH_STATE_DIR = STATE;
// The tests choose their policies themselves: no user config file.
process.env.XDG_CONFIG_HOME = join(STATE, 'no-config');

const made = new Set();
/** A session key unique to this process; removed after the file's tests. */
export function key(name) {
  const k = `${name}-${process.pid}`;
  made.add(k);
  return k;
}

/** Removes session KEY (as given) after the file's tests. */
export function track(k) {
  made.add(k);
  return k;
}

after(() => {
  for (const k of made) {
    try {
      execFileSync(HUTCH, ['session', 'rm', k, '--workspaces'], { stdio: 'ignore' });
    } catch {
      // never created, or already removed by the test
    }
  }
  rmSync(STATE, { recursive: true, force: true });
});

/** PIDs of processes (anywhere on the machine) whose command line contains MARKER. */
/** Pids of the command itself: its command line starts with prefix (not a
 *  hutch whose arguments name it, which exists before the command runs). */
export function procsStartingWith(prefix) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'latin1').split('\0').join(' ');
      if (cmd.startsWith(prefix)) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export function procsWith(marker) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'latin1').split('\0').join(' ');
      if (cmd.includes(marker)) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Waits until FN() is true, at most MS milliseconds. */
export async function waitFor(fn, ms = 5000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** A sleep duration no other process uses, to find ours in /proc. */
export function uniqueSleep() {
  return `30.${process.pid}${Math.floor(Math.random() * 1e6)}`;
}
