import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { buildBundles } from './build-bundles.js';

/** A built CLI + daemon and an isolated BANGER_HOME, with every daemon it saw killed at dispose. */
export interface Harness {
  dir: string;
  home: string;
  lib: string;
  bangerd: string;
  /** A directory holding a `banger` launcher, for PATH (completion scripts call `banger`). */
  binDir: string;
  env: Record<string, string>;
  banger(args: string[], extraEnv?: Record<string, string>): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** Remembers a daemon pid so killTracked()/dispose() can kill it if a test left it running. */
  track(pid: number): void;
  /**
   * SIGKILLs every tracked daemon, and any other daemon whose BANGER_HOME is
   * under this harness's directory (one a command started on the side, e.g.
   * `vm ssh <name> --help` passing `--help` on to ssh): each test's daemon
   * must not outlive it.
   */
  killTracked(): void;
  freshHome(): void;
  dispose(): Promise<void>;
}

export async function createHarness(options: { cliEntry?: string } = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'banger-cli-'));
  const { lib, banger, bangerd } = await buildBundles(dir, options);
  const binDir = join(dir, 'bin');
  mkdirSync(binDir);
  writeFileSync(join(binDir, 'banger'), `#!/bin/sh\nexec ${process.execPath} ${banger} "$@"\n`);
  chmodSync(join(binDir, 'banger'), 0o755);
  const pids = new Set<number>();
  let n = 0;
  const h: Harness = {
    dir,
    home: '',
    lib,
    bangerd,
    binDir,
    env: {},
    async banger(args, extraEnv = {}) {
      const r = await execa(process.execPath, [banger, ...args], { env: { ...h.env, ...extraEnv }, extendEnv: false, reject: false, timeout: 60_000, stdin: 'ignore', stripFinalNewline: false });
      return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
    },
    track: (pid) => void pids.add(pid),
    freshHome() {
      h.home = join(dir, `home${n++}`);
      h.env = { PATH: `${binDir}:${process.env['PATH'] ?? '/usr/bin:/bin'}`, HOME: h.home, BANGER_HOME: h.home, NO_COLOR: '1', LANG: 'C.UTF-8' };
    },
    killTracked() {
      for (const pid of daemonsUnder(dir)) pids.add(pid);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      pids.clear();
    },
    async dispose() {
      h.killTracked();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  h.freshHome();
  return h;
}

/** The pids of bangerd processes whose BANGER_HOME lies under `dir` (read from /proc; others' processes are never touched). */
function daemonsUnder(dir: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'bangerd') continue;
      const home = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').find((v) => v.startsWith('BANGER_HOME='));
      if (home?.slice('BANGER_HOME='.length).startsWith(`${dir}/`)) found.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

export const readLog = (h: Harness): string => readFileSync(join(h.home, 'state', 'bangerd.log'), 'utf8');

/**
 * The usual hooks of a test file on the harness: one built harness for the
 * file, a fresh BANGER_HOME per test, every daemon a test saw killed after it.
 * Returns the harness (usable inside tests and hooks, once beforeAll ran).
 */
export function useHarness(options: { cliEntry?: string } = {}): Harness {
  let real: Harness | undefined;
  const live = (): Harness => {
    if (!real) throw new Error('the harness is built in beforeAll; use it inside a test or hook');
    return real;
  };
  beforeAll(async () => {
    real = await createHarness(options);
  });
  afterAll(async () => {
    await real?.dispose();
  });
  beforeEach(() => live().freshHome());
  afterEach(() => live().killTracked());
  return new Proxy({} as Harness, {
    get: (_target, key) => Reflect.get(live(), key),
    set: (_target, key, value) => Reflect.set(live(), key, value),
  });
}
