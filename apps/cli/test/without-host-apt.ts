import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Runs `argv` in a private mount namespace where the host's apt sources are
 * empty (an empty directory over /etc/apt/sources.list.d, an empty file over
 * /etc/apt/sources.list), as on a host that is not Debian 12: whatever banger
 * builds there must come from the configured Debian mirror. A daemon the
 * command starts stays in that namespace. Needs root (unshare -m).
 */
let root: string | undefined;

export function withoutHostApt(argv: readonly string[]): string[] {
  if (!root) {
    root = mkdtempSync(join(tmpdir(), 'banger-no-apt-'));
    mkdirSync(join(root, 'sources.list.d'));
    writeFileSync(join(root, 'sources.list'), '');
  }
  const empty = join(root, 'sources.list.d');
  const script = [
    'set -e',
    `mount --bind "${empty}" /etc/apt/sources.list.d`,
    `if [ -e /etc/apt/sources.list ]; then mount --bind "${join(root, 'sources.list')}" /etc/apt/sources.list; fi`,
    'exec "$@"',
  ].join('\n');
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', ...argv];
}

/** Removes the empty sources (a test file's afterAll; a namespace that bound them keeps its own reference). */
export function removeWithoutHostApt(): void {
  if (root) rmSync(root, { recursive: true, force: true });
  root = undefined;
}
