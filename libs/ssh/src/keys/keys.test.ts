import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import ssh2 from 'ssh2';
import { UserError } from '@banger/errors';
import { ensureUserKey } from './user-key.js';
import { generateHostKey } from './host-key.js';
import { pinHostKey, pinnedHostKey, unpinHostKey } from './known-hosts.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'banger-keys-test-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ensureUserKey', () => {
  it('creates an ed25519 key pair that OpenSSH reads, private half 0600', async () => {
    const path = join(dir, 'ssh', 'id_ed25519');
    const key = await ensureUserKey(path);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'ssh'))).mode & 0o777).toBe(0o700);
    expect(key.publicKey).toMatch(/^ssh-ed25519 AAAA\S+ banger$/);
    const derived = await execa('ssh-keygen', ['-y', '-f', path]);
    expect(derived.stdout.split(' ').slice(0, 2)).toEqual(key.publicKey.split(' ').slice(0, 2));
    expect((await readFile(`${path}.pub`, 'utf8')).trim()).toBe(key.publicKey);
  });

  it('gives every one of eight concurrent first calls the same key, the one on disk (concurrent first VM creations)', async () => {
    const path = join(dir, 'ssh', 'id_ed25519');
    const keys = await Promise.all(Array.from({ length: 8 }, () => ensureUserKey(path)));
    const onDisk = await readFile(path, 'utf8');
    expect(new Set(keys.map((k) => k.privateKey))).toEqual(new Set([onDisk]));
    const derived = (await execa('ssh-keygen', ['-y', '-f', path])).stdout.split(' ').slice(0, 2).join(' ');
    for (const key of keys) expect(key.publicKey.split(' ').slice(0, 2).join(' ')).toBe(derived);
    expect((await readFile(`${path}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ')).toBe(derived);
  });

  it('uses an existing key as it is and recreates a missing .pub', async () => {
    const path = join(dir, 'id_ed25519');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'me@host', '-f', path]);
    const original = await readFile(path, 'utf8');
    const pub = (await readFile(`${path}.pub`, 'utf8')).trim();
    await rm(`${path}.pub`);
    const key = await ensureUserKey(path);
    expect(key.privateKey).toBe(original);
    expect(key.publicKey.split(' ').slice(0, 2)).toEqual(pub.split(' ').slice(0, 2));
    expect(await readFile(`${path}.pub`, 'utf8')).toContain(pub.split(' ')[1]);
  });

  it('derives the public key from the private key when the .pub belongs to another key', async () => {
    const path = join(dir, 'id_ed25519');
    const key = await ensureUserKey(path);
    await writeFile(`${path}.pub`, `${generateHostKey('stale').publicKey}\n`);
    expect((await ensureUserKey(path)).publicKey).toBe(key.publicKey);
  });

  it('refuses a passphrase-protected key, naming the file', async () => {
    const path = join(dir, 'id_locked');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret', '-f', path]);
    const error = (await ensureUserKey(path).catch((e: unknown) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(`ssh key ${path}: it is protected by a passphrase`);
    expect(error.hint).toContain('ssh_key_path');
  });

  it('refuses a file that is not a private key, naming it', async () => {
    const path = join(dir, 'garbage');
    await writeFile(path, 'not a key\n');
    await expect(ensureUserKey(path)).rejects.toThrow(`ssh key ${path}: not a usable private key`);
  });

  it('refuses an unreadable key path, naming it', async () => {
    await expect(ensureUserKey(dir)).rejects.toThrow(`ssh key ${dir}: cannot read it`);
  });
});

describe('generateHostKey', () => {
  it('makes an OpenSSH ed25519 host key whose public half names the VM', async () => {
    const key = generateHostKey('sandbox');
    expect(key.publicKey).toMatch(/^ssh-ed25519 AAAA\S+ banger-vm-sandbox$/);
    expect(key.privateKey).toContain('BEGIN OPENSSH PRIVATE KEY');
    const parsed = ssh2.utils.parseKey(key.privateKey);
    expect(parsed).not.toBeInstanceOf(Error);
    const path = join(dir, 'host');
    await writeFile(path, key.privateKey, { mode: 0o600 });
    expect((await execa('ssh-keygen', ['-y', '-f', path])).stdout.split(' ')[1]).toBe(key.publicKey.split(' ')[1]);
  });
});

describe('pinned known_hosts', () => {
  it('pins a key under every name of the VM in OpenSSH format, 0600', async () => {
    const file = join(dir, 'known_hosts');
    const key = generateHostKey('a');
    await pinHostKey(file, { names: ['a.vm', '172.16.0.2'], publicKey: key.publicKey });
    const [type, blob] = key.publicKey.split(' ');
    expect(await readFile(file, 'utf8')).toBe(`a.vm,172.16.0.2 ${type} ${blob}\n`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const found = await execa('ssh-keygen', ['-F', '172.16.0.2', '-f', file]);
    expect(found.stdout).toContain(blob);
  });

  it('replaces the pin of a name that moves to another key, e.g. a reused IP', async () => {
    const file = join(dir, 'known_hosts');
    const first = generateHostKey('a');
    const second = generateHostKey('b');
    await pinHostKey(file, { names: ['a.vm', '172.16.0.2'], publicKey: first.publicKey });
    await pinHostKey(file, { names: ['b.vm', '172.16.0.2'], publicKey: second.publicKey });
    expect(await pinnedHostKey(file, 'a.vm')).toBeUndefined();
    expect(await pinnedHostKey(file, '172.16.0.2')).toBe(second.publicKey.split(' ').slice(0, 2).join(' '));
  });

  it('keeps every pin when many are written at the same time', async () => {
    const file = join(dir, 'known_hosts');
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => pinHostKey(file, { names: [`vm${i}.vm`, `172.16.0.${i + 2}`], publicKey: generateHostKey(`vm${i}`).publicKey })),
    );
    expect((await readFile(file, 'utf8')).trim().split('\n')).toHaveLength(20);
  });

  it('unpins all names of a VM given any one of them, and tolerates unknown names', async () => {
    const file = join(dir, 'known_hosts');
    await pinHostKey(file, { names: ['a.vm', '172.16.0.2'], publicKey: generateHostKey('a').publicKey });
    await pinHostKey(file, { names: ['b.vm', '172.16.0.3'], publicKey: generateHostKey('b').publicKey });
    await unpinHostKey(file, 'A.vm');
    await unpinHostKey(file, 'nope.vm');
    expect(await pinnedHostKey(file, '172.16.0.2')).toBeUndefined();
    expect(await pinnedHostKey(file, 'b.vm')).toBeDefined();
  });

  it('refuses a pin without a valid public key', async () => {
    await expect(pinHostKey(join(dir, 'kh'), { names: ['a.vm'], publicKey: 'ssh-ed25519 garbage' })).rejects.toThrow(/not a public key line for a\.vm/);
  });
});
