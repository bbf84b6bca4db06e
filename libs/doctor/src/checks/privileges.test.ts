import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PRIVILEGED_BUILD_TOOLS } from './build.js';

const repo = join(import.meta.dirname, '../../../..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (['node_modules', 'dist', 'out-tsc'].includes(name)) return [];
    if (statSync(path).isDirectory()) return sources(path);
    return /\.ts$/.test(name) && !/\.test\.ts$/.test(name) && !path.includes('__fixtures__') && !path.includes('/testing/') ? [path] : [];
  });
}

/** Every command product code hands to runPrivileged(), read from the sources themselves. */
const privileged = [
  ...new Set(
    [...sources(join(repo, 'libs')), ...sources(join(repo, 'apps'))].flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/runPrivileged\(\s*'([^']+)'/g)].map((m) => m[1]!),
    ),
  ),
].sort();

describe('the privileged commands', () => {
  it('are found in the sources (the scan itself works)', () => {
    expect(privileged).toEqual(expect.arrayContaining(['ip', 'nft', 'mmdebstrap']));
  });

  it('each appear in the sudoers example of docs/privileges.md', () => {
    const doc = readFileSync(join(repo, 'docs/privileges.md'), 'utf8');
    const sudoers = /```\n# \/etc\/sudoers\.d\/banger[\s\S]*?```/.exec(doc)?.[0] ?? '';
    const allowed = [...sudoers.matchAll(/\/(?:usr\/)?s?bin\/([\w.-]+)/g)].map((m) => m[1]);
    for (const command of privileged) expect(allowed, `${command} is run privileged but not in the sudoers example`).toContain(command);
  });

  it('are each either a network command (the sudo check) or a build command the local-builds check asks sudo about', () => {
    const network = ['ip', 'nft', 'sysctl'];
    for (const command of privileged) expect([...network, ...PRIVILEGED_BUILD_TOOLS], command).toContain(command);
  });
});
