import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundles } from './build-bundles.js';

/**
 * Every CLI start pays for what the bundle loads before the command runs
 * (issue #19). These checks keep the two big costs found by profiling from
 * coming back: ssh2 loaded for commands that never open an ssh connection,
 * and zod's locales carried by a named `z` import.
 */
describe('what a CLI start loads', () => {
  let dir: string;
  let banger: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'banger-lean-'));
    ({ banger } = await buildBundles(dir));
    // No node_modules beside the bundle: a command that needed ssh2 (or any other external) would fail to start.
    unlinkSync(join(dir, 'lib', 'node_modules'));
  }, 120_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs --version, --help and the completion script without ssh2 or any other package installed', () => {
    const env = { ...process.env, BANGER_HOME: join(dir, 'home'), NODE_PATH: '' };
    expect(execFileSync(process.execPath, [banger, '--version'], { env, encoding: 'utf8' }).trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(execFileSync(process.execPath, [banger, 'vm', '--help'], { env, encoding: 'utf8' })).toContain('Usage: banger vm');
    expect(execFileSync(process.execPath, [banger, 'completion', 'bash'], { env, encoding: 'utf8' })).toContain('banger');
  });

  it('carries only the English zod locale', () => {
    // The body (banger-cli.cjs) is whitespace-minified, so its source map is what lists the modules bundled into it.
    const { sources } = JSON.parse(readFileSync(join(dir, 'lib', 'banger-cli.cjs.map'), 'utf8')) as { sources: string[] };
    const locales = sources.map((source) => /node_modules\/zod\/v4\/locales\/([\w-]+)\.js$/.exec(source)?.[1]).filter((name) => name !== undefined && name !== 'index');
    expect(sources.length).toBeGreaterThan(100);
    expect(locales).toEqual(['en']);
  });

  it('answers TAB without commander, zod or any command module (banger-complete.cjs)', () => {
    const { sources } = JSON.parse(readFileSync(join(dir, 'lib', 'banger-complete.cjs.map'), 'utf8')) as { sources: string[] };
    expect(sources.some((source) => source.includes('@bomb.sh/tab'))).toBe(true);
    expect(sources.filter((source) => /node_modules\/(zod|commander)\/|\/src\/commands\//.test(source))).toEqual([]);
  });

  it("runs a group's own body for a command line naming the group, which answers as the whole CLI does", () => {
    const env = { ...process.env, BANGER_HOME: join(dir, 'home'), NODE_PATH: '' };
    const { sources } = JSON.parse(readFileSync(join(dir, 'lib', 'banger-cli-vm.cjs.map'), 'utf8')) as { sources: string[] };
    // Its own group's commands only (helpers such as kernel/format-table.ts may be shared).
    const groupsIn = new Set(sources.map((source) => /\/src\/commands\/([\w-]+)\/index\.ts$/.exec(source)?.[1]).filter((g) => g !== undefined));
    expect([...groupsIn]).toEqual(['vm']);
    for (const group of ['daemon', 'doctor', 'vm', 'kernel', 'image', 'ssh-config']) {
      const own = execFileSync(process.execPath, [banger, group, '--help'], { env, encoding: 'utf8' });
      expect(own).toContain(`Usage: banger ${group}`);
      expect(own).toBe(execFileSync(process.execPath, [banger, 'help', group], { env, encoding: 'utf8' }));
    }
  });
});
