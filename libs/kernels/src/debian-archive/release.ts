import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '@banger/errors';
import { run } from '@banger/host';
import { parseParagraphs } from './control-file.js';

export interface IndexEntry {
  sha256: string;
  size: number;
}

/** What a verified InRelease says: the suite it is, and the hash of every index file. */
export interface Release {
  suite: string;
  codename: string;
  date: string;
  /** Path relative to `dists/<suite>/` → hash and size. */
  files: Map<string, IndexEntry>;
}

/**
 * Checks the clear-signed InRelease with gpgv against `keyring` and parses
 * only the signed text gpgv writes out, so nothing outside the signature is
 * ever believed. Throws a UserError naming the URL when the signature does not
 * verify (tampered, unsigned, or signed by a key the keyring does not hold).
 */
export async function verifyInRelease(signed: Buffer, options: { url: string; keyring: string; expectSuite: string }): Promise<Release> {
  if (!existsSync(options.keyring)) {
    throw new UserError('DEBIAN_KEYRING_MISSING', `cannot check ${options.url}: keyring ${options.keyring} does not exist`, {
      hint: 'install debian-archive-keyring (apt-get install debian-archive-keyring), or set debian_keyring',
    });
  }
  const dir = await mkdtemp(join(tmpdir(), 'banger-inrelease-'));
  try {
    await writeFile(join(dir, 'InRelease'), signed);
    const result = await run('gpgv', ['--quiet', '--keyring', options.keyring, '--output', join(dir, 'Release'), join(dir, 'InRelease')], { allowFailure: true });
    if (result.exitCode !== 0) {
      const why = result.stderr.split('\n').map((l) => l.replace(/^gpgv: /, '').trim()).filter(Boolean).pop() ?? `gpgv exited ${result.exitCode}`;
      throw new UserError('DEBIAN_RELEASE_BAD_SIGNATURE', `${options.url}: signature does not verify against ${options.keyring}: ${why}`, {
        hint: 'the mirror may be tampered with or out of date; try another debian_mirror',
      });
    }
    return parseRelease(await readFile(join(dir, 'Release'), 'utf8'), options);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function parseRelease(text: string, options: { url: string; expectSuite: string }): Release {
  const fields = parseParagraphs(text)[0];
  if (!fields) throw new UserError('DEBIAN_RELEASE_INVALID', `${options.url}: the signed Release is empty`);
  const suite = fields.get('Suite') ?? '';
  const codename = fields.get('Codename') ?? '';
  // A validly signed Release of another suite (an old or different one) must not stand in for this one.
  if (suite !== options.expectSuite && codename !== options.expectSuite) {
    throw new UserError('DEBIAN_RELEASE_WRONG_SUITE', `${options.url}: is the Release of ${codename || suite || 'an unnamed suite'}, not ${options.expectSuite}`);
  }
  const files = new Map<string, IndexEntry>();
  for (const line of (fields.get('SHA256') ?? '').split('\n')) {
    const [sha256, size, path] = line.trim().split(/\s+/);
    if (sha256 && size && path && /^[0-9a-f]{64}$/.test(sha256)) files.set(path, { sha256, size: Number(size) });
  }
  if (files.size === 0) throw new UserError('DEBIAN_RELEASE_INVALID', `${options.url}: the Release lists no SHA256 sums`);
  return { suite, codename, date: fields.get('Date') ?? '', files };
}
