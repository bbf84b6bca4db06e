import { mkdtemp, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '@banger/host';
import { prerequisites, testDebianMirror, testCacheRoot } from '@banger/host/testing';
import { openDebianArchive } from './archive.js';
import { resolveKernelPackage } from '../debian-package.js';

const needs = prerequisites(['gpg', 'gpgv']);
const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** A signing key made for this test, in its own GNUPGHOME; `keyring` is its public part. */
async function makeKey(dir: string, name: string): Promise<{ home: string; keyring: string }> {
  const home = join(dir, `gnupg-${name}`);
  await mkdir(home, { mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: home };
  await run('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--quick-gen-key', `${name} <${name}@test.invalid>`, 'ed25519', 'sign', 'never'], { env });
  const keyring = join(dir, `${name}.gpg`);
  await run('gpg', ['--batch', '--yes', '--output', keyring, '--export'], { env });
  return { home, keyring };
}

const clearSign = async (home: string, text: string): Promise<Buffer> =>
  Buffer.from((await run('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--clearsign'], { env: { ...process.env, GNUPGHOME: home }, input: text })).stdout);

/**
 * A small Debian mirror on 127.0.0.1: dists/bookworm/InRelease (clear-signed
 * by a test key), main/binary-amd64/Packages.gz and a pool of .debs. `files`
 * can be changed between requests to play a tampered mirror.
 */
describe.skipIf(needs.skip)('a Debian archive opened from a local mirror signed with a test key', () => {
  let dir: string;
  let server: Server;
  let mirror: string;
  let trusted: { home: string; keyring: string };
  let stranger: { home: string; keyring: string };
  const files = new Map<string, Buffer>();
  const deb = Buffer.from('!<arch>\nnot really a deb, but bytes with a hash\n');
  const debPath = 'pool/main/l/linux-signed-amd64/linux-image-6.1.0-99-cloud-amd64_6.1.999-1_amd64.deb';
  const packagesText = [
    'Package: linux-image-cloud-amd64\nVersion: 6.1.999-1\nDepends: linux-image-6.1.0-99-cloud-amd64 (= 6.1.999-1)\nFilename: pool/main/l/meta.deb\nSize: 10\nSHA256: ' + 'a'.repeat(64),
    `Package: linux-image-6.1.0-99-cloud-amd64\nVersion: 6.1.999-1\nDescription: Linux 6.1 for x86-64 cloud\n a continued description line\nFilename: ${debPath}\nSize: ${deb.length}\nSHA256: ${sha(deb)}`,
    '',
  ].join('\n\n');
  const packagesGz = gzipSync(packagesText);
  const releaseText = (suite: string, packages: Buffer = packagesGz) =>
    `Origin: Debian\nSuite: stable\nCodename: ${suite}\nDate: Sat, 01 Nov 2026 00:00:00 UTC\nSHA256:\n ${sha(packages)} ${packages.length} main/binary-amd64/Packages.gz\n`;

  beforeAll(async () => {
    needs.assert();
    dir = await mkdtemp(join(tmpdir(), 'banger-archive-'));
    trusted = await makeKey(dir, 'trusted');
    stranger = await makeKey(dir, 'stranger');
    server = createServer((req, res) => {
      const body = files.get((req.url ?? '').replace(/^\//, ''));
      if (body) res.writeHead(200).end(body);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);
  afterAll(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const serveGood = async () => {
    files.clear();
    files.set('dists/bookworm/InRelease', await clearSign(trusted.home, releaseText('bookworm')));
    files.set('dists/bookworm/main/binary-amd64/Packages.gz', packagesGz);
    files.set(debPath, deb);
  };
  const open = async (cache: string) => openDebianArchive({ debian: { mirror, keyring: trusted.keyring }, cacheDir: join(dir, cache) });

  it('resolves a meta package to the kernel image package and downloads its .deb checked against the signed index', async () => {
    await serveGood();
    const archive = await open('good');
    const kernel = resolveKernelPackage(archive, 'linux-image-cloud-amd64');
    expect(kernel).toMatchObject({ package: 'linux-image-6.1.0-99-cloud-amd64', version: '6.1.999-1', filename: debPath });
    const path = await archive.fetchDeb(kernel);
    expect(await readFile(path)).toEqual(deb);
    // The second fetch is served from the cache: the mirror no longer has it.
    files.delete(debPath);
    expect(await archive.fetchDeb(kernel)).toBe(path);
  });

  it('takes the newest version across the release and its -updates suite, as apt would', async () => {
    await serveGood();
    const newer = Buffer.from('a newer kernel');
    const newerPath = 'pool/main/l/linux-signed-amd64/linux-image-6.1.0-99-cloud-amd64_6.1.1000-1_amd64.deb';
    const updates = gzipSync(`Package: linux-image-6.1.0-99-cloud-amd64\nVersion: 6.1.1000-1\nFilename: ${newerPath}\nSize: ${newer.length}\nSHA256: ${sha(newer)}\n`);
    files.set('dists/bookworm-updates/InRelease', await clearSign(trusted.home, releaseText('bookworm-updates', updates)));
    files.set('dists/bookworm-updates/main/binary-amd64/Packages.gz', updates);
    files.set(newerPath, newer);
    const archive = await open('updates');
    expect([...archive.releases.keys()]).toEqual(['bookworm', 'bookworm-updates']);
    const kernel = resolveKernelPackage(archive, 'linux-image-cloud-amd64');
    expect(kernel.version).toBe('6.1.1000-1');
    expect(await readFile(await archive.fetchDeb(kernel))).toEqual(newer);
  });

  it('refuses an InRelease signed by a key the keyring does not hold', async () => {
    await serveGood();
    files.set('dists/bookworm/InRelease', await clearSign(stranger.home, releaseText('bookworm')));
    await expect(open('stranger')).rejects.toThrow(`${mirror}/dists/bookworm/InRelease: signature does not verify against ${trusted.keyring}`);
  });

  it('refuses an InRelease whose signed text was changed after signing', async () => {
    await serveGood();
    const signed = (await clearSign(trusted.home, releaseText('bookworm'))).toString().replace('Origin: Debian', 'Origin: Evil!!');
    files.set('dists/bookworm/InRelease', Buffer.from(signed));
    await expect(open('edited')).rejects.toThrow(/signature does not verify/);
  });

  it('refuses a validly signed Release of another suite standing in for this one', async () => {
    await serveGood();
    files.set('dists/bookworm/InRelease', await clearSign(trusted.home, releaseText('bullseye')));
    await expect(open('suite')).rejects.toThrow(`${mirror}/dists/bookworm/InRelease: is the Release of bullseye, not bookworm`);
  });

  it('refuses a package index that does not match the signed hash, and keeps no copy of it', async () => {
    await serveGood();
    files.set('dists/bookworm/main/binary-amd64/Packages.gz', gzipSync(packagesText.replace('6.1.999-1', '6.1.666-1')));
    await expect(open('index')).rejects.toThrow(/Packages\.gz: (got \d+ bytes with sha256 [0-9a-f]{64}, the signed index says|larger than the \d+ bytes the signed index lists)/);
    expect(await readFileNames(join(dir, 'index', 'debian-index'))).toEqual([]);
  });

  it('refuses a .deb that does not match the index, and keeps no copy of it', async () => {
    await serveGood();
    files.set(debPath, Buffer.from(deb.toString().replace('bytes', 'BYTES')));
    const archive = await open('deb');
    await expect(archive.fetchDeb(archive.get('linux-image-6.1.0-99-cloud-amd64'))).rejects.toThrow(/\.deb: got \d+ bytes with sha256/);
    expect(await readFileNames(join(dir, 'deb', 'debs'))).toEqual([]);
  });

  it('names the mirror and suite when a package does not exist', async () => {
    await serveGood();
    const archive = await open('missing');
    expect(() => archive.get('no-such-package')).toThrow(`cannot find Debian package no-such-package in ${mirror} bookworm/main`);
  });

  it('says which mirror it could not reach', async () => {
    await expect(openDebianArchive({ debian: { mirror: 'http://127.0.0.1:9', keyring: trusted.keyring }, cacheDir: join(dir, 'down') })).rejects.toThrow(
      /^cannot reach http:\/\/127\.0\.0\.1:9\/dists\/bookworm\/InRelease: /,
    );
  });
});

const readFileNames = (path: string): Promise<string[]> => readdir(path).catch(() => []);

/** The real thing: Debian's mirror, checked with Debian's keyring (no apt sources involved). */
describe.skipIf(prerequisites(['gpgv']).skip)('the real Debian mirror', () => {
  it('verifies bookworm with debian-archive-keyring and resolves the cloud kernel meta package', async () => {
    const archive = await openDebianArchive({ debian: { mirror: testDebianMirror() }, cacheDir: join(testCacheRoot(), 'kernels') });
    expect([...archive.releases.keys()]).toEqual(testDebianMirror() === 'http://deb.debian.org/debian' ? ['bookworm', 'bookworm-updates', 'bookworm-security'] : expect.arrayContaining(['bookworm']));
    const kernel = resolveKernelPackage(archive, 'linux-image-cloud-amd64');
    expect(kernel.package).toMatch(/^linux-image-6\.1\.0-\d+-cloud-amd64$/);
    expect(kernel.filename).toMatch(/^pool\/(updates\/)?main\/l\/linux-signed-amd64\/linux-image-6\.1\.0-\d+-cloud-amd64_.*_amd64\.deb$/);
    expect(archive.get('busybox-static').version).toMatch(/^1:1\.\d+/);
  }, 120_000);
});
