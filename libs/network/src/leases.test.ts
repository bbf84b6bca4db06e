import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '@banger/store';
import { LeaseStore } from './leases.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'banger-leases-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('LeaseStore', () => {
  it('leases the lowest free address and gives the same owner the same address back', () => {
    const leases = new LeaseStore(openDatabase(':memory:'));
    expect(leases.lease('172.16.0.0/24', 'vm_a')).toBe('172.16.0.2');
    expect(leases.lease('172.16.0.0/24', 'vm_b')).toBe('172.16.0.3');
    expect(leases.lease('172.16.0.0/24', 'vm_a')).toBe('172.16.0.2');
    expect(leases.leases('172.16.0.0/24').map((l) => [l.ip, l.owner])).toEqual([
      ['172.16.0.2', 'vm_a'],
      ['172.16.0.3', 'vm_b'],
    ]);
  });

  it('reuses a released address and treats a second release as a no-op', () => {
    const leases = new LeaseStore(openDatabase(':memory:'));
    leases.lease('172.16.0.0/24', 'vm_a');
    leases.lease('172.16.0.0/24', 'vm_b');
    expect(leases.release('vm_a')).toBe(1);
    expect(leases.release('vm_a')).toBe(0);
    expect(leases.lease('172.16.0.0/24', 'vm_c')).toBe('172.16.0.2');
    expect(leases.leaseOf('vm_c')?.ip).toBe('172.16.0.2');
  });

  it('fails with a clear error when the subnet is full', () => {
    const leases = new LeaseStore(openDatabase(':memory:'));
    for (const owner of ['a', 'b', 'c', 'd', 'e']) leases.lease('10.1.0.0/29', owner);
    expect(() => leases.lease('10.1.0.0/29', 'f')).toThrow('bridge_subnet 10.1.0.0/29 is full: all 5 guest addresses are leased');
  });

  it('never hands out one address twice when two processes lease at once on one database file', async () => {
    const dbPath = join(dir, 'state.db');
    openDatabase(dbPath).close();
    const entry = join(dir, 'entry.ts');
    writeFileSync(
      entry,
      `import { openDatabase } from '@banger/store';\nimport { LeaseStore } from ${JSON.stringify(resolve(import.meta.dirname, 'leases.ts'))};\n` +
        `const [db, who, n, startAt] = process.argv.slice(2);\nconst store = new LeaseStore(openDatabase(db));\n` +
        // Both racers start leasing at the same wall-clock moment, after their (unequal) start-up.
        `while (Date.now() < Number(startAt)) {}\n` +
        `const got = [];\nfor (let i = 0; i < Number(n); i++) got.push(store.lease('10.20.0.0/24', who + '-' + i));\nconsole.log(JSON.stringify(got));\n`,
    );
    const bundle = join(dir, 'racer.mjs');
    await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: bundle,
      conditions: ['@banger/source'],
      external: ['better-sqlite3'],
      // The entry lives in a temp dir: resolve @banger/* from the repo.
      nodePaths: [resolve(import.meta.dirname, '../../../node_modules')],
      logLevel: 'silent',
    });
    // The native better-sqlite3 stays external; point its import at the repo's copy.
    const sqlite = resolve(import.meta.dirname, '../../../node_modules/better-sqlite3/lib/index.js');
    const racer = join(dir, 'racer-linked.mjs');
    writeFileSync(racer, readFileSync(bundle, 'utf8').replaceAll('"better-sqlite3"', JSON.stringify(sqlite)));
    const startAt = String(Date.now() + 1500);
    {
      const runOne = (who: string) =>
        new Promise<string[]>((ok, fail) => {
          const child = spawn(process.execPath, [racer, dbPath, who, '100', startAt], { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          child.stdout.on('data', (c) => (out += c));
          child.stderr.on('data', (c) => (err += c));
          child.on('exit', (code) => (code === 0 ? ok(JSON.parse(out) as string[]) : fail(new Error(`racer ${who} exited ${code}: ${err}`))));
        });
      const [a, b] = await Promise.all([runOne('a'), runOne('b')]);
      const all = [...a, ...b];
      expect(all).toHaveLength(200);
      expect(new Set(all).size).toBe(200);
      expect(new LeaseStore(openDatabase(dbPath)).leases('10.20.0.0/24')).toHaveLength(200);
    }
  });
});
