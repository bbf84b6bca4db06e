// banger-reseed, the guest's RNG reseeder, run directly on the host: the real binary, built by
// native/build.sh as `nx build` builds it. Reseeding the host's own RNG with 64 random bytes is harmless.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prerequisites } from '@banger/host/testing';

const needs = prerequisites(['gcc', 'setpriv']);
const buildScript = resolve(import.meta.dirname, '../native/build.sh');
const isRoot = process.getuid?.() === 0;

describe.skipIf(needs.skip)(`banger-reseed${needs.missing.length ? ` (missing: ${needs.missing.join(', ')})` : ''}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'banger-reseed-'));
  const bin = join(dir, 'banger-reseed');
  const reseed = (input: Buffer, { args = [] as string[], asNobody = false } = {}) =>
    asNobody
      ? spawnSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', bin, ...args], { input, encoding: 'utf8' })
      : spawnSync(bin, args, { input, encoding: 'utf8' });

  beforeAll(() => {
    needs.assert();
    const built = spawnSync('sh', [buildScript, bin], { encoding: 'utf8' });
    expect(built.stderr).toBe('');
    expect(built.status).toBe(0);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.skipIf(!isRoot)('reseeds the kernel RNG from 64 bytes on stdin as root, silently, exit 0', () => {
    const r = reseed(randomBytes(64));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('refuses a seed shorter than 16 bytes or longer than 4096 with one line and exit 2', () => {
    const short = reseed(Buffer.from('abc'));
    expect(short.status).toBe(2);
    expect(short.stderr).toBe('banger-reseed: the seed on stdin must be 16 to 4096 bytes, got 3\n');
    const long = reseed(randomBytes(5000));
    expect(long.status).toBe(2);
    expect(long.stderr).toBe('banger-reseed: the seed on stdin must be 16 to 4096 bytes, got more than 4096\n');
  });

  it('takes no arguments: exit 2 with one line', () => {
    const r = reseed(randomBytes(64), { args: ['--now'] });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('banger-reseed: takes no arguments (the seed comes on stdin)\n');
  });

  it.skipIf(!isRoot)('without CAP_SYS_ADMIN the kernel refuses: exit 1 naming the ioctl', () => {
    const r = reseed(randomBytes(64), { asNobody: true });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('banger-reseed: RNDADDENTROPY: Operation not permitted\n');
  });
});
