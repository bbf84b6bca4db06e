import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findExecutable } from '@banger/host';
import { testEnv } from './__fixtures__/env.js';
import { prepareCreate } from './prepare-create.js';
import { VmRepository } from './vm-record.js';

const host = { cpus: 8, memoryMib: 16_384, stateFsBytes: 100 * 2 ** 30 };
const GiB = 2 ** 30;

/** Registers a fake local image whose rootfs is a sparse file of `size` bytes. */
function registerImage(env: ReturnType<typeof testEnv>, name: string, size: number): void {
  const dir = join(env.paths.imagesDir, name);
  mkdirSync(dir, { recursive: true });
  const rootfs = join(dir, 'rootfs.ext4');
  writeFileSync(rootfs, '');
  env.db
    .prepare('INSERT INTO images (name, version, dir, rootfs_path, size_bytes, sha256, kernel_name, source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
    .run(name, 'v1', dir, rootfs, size, 'a'.repeat(64), 'debian-cloud', '{}', Date.now());
}

describe.skipIf(!findExecutable('qemu-system-x86_64'))('prepareCreate (validation before anything is written)', () => {
  let env: ReturnType<typeof testEnv>;
  afterEach(() => env?.cleanup());

  const nothingWritten = (): void => {
    expect(new VmRepository(env.db).list()).toEqual([]);
    expect(existsSync(env.paths.vmsDir)).toBe(false);
    expect(env.db.prepare('SELECT COUNT(*) AS n FROM ip_leases').get()).toEqual({ n: 0 });
  };

  it('resolves sizing with provenance, flags winning, and the kernel from the image', async () => {
    env = testEnv({ vmDefaults: { memoryMib: 2048 } });
    registerImage(env, 'debian-minimal', GiB / 2);
    const prepared = await prepareCreate(env, { name: 'sandbox', image: 'debian-minimal', vcpu: 3 }, { host });
    expect(prepared.isNew).toBe(true);
    expect(prepared.record).toMatchObject({ name: 'sandbox', state: 'creating', image: 'debian-minimal', kernel: 'debian-cloud', vcpu: 3, memoryMib: 2048 });
    expect(prepared.sizing.vcpu).toEqual({ value: 3, source: 'flag', detail: '--vcpu' });
    expect(prepared.sizing.memoryMib.source).toBe('config');
    expect(prepared.sizing.diskBytes).toMatchObject({ value: 8 * GiB, source: 'host' });
    expect(prepared.record.id).toMatch(/^vm_[0-9a-f]{12}$/);
    nothingWritten();
  });

  it('rejects an invalid name', async () => {
    env = testEnv();
    await expect(prepareCreate(env, { name: 'No_Way' }, { host })).rejects.toThrow(/^invalid VM name "No_Way"/);
    nothingWritten();
  });

  it('rejects an image that is neither registered nor in the catalog, listing both', async () => {
    env = testEnv();
    registerImage(env, 'mine', GiB);
    await expect(prepareCreate(env, { name: 'x', image: 'nope' }, { host })).rejects.toThrow(
      'image nope is neither registered nor in the catalog (registered: mine; catalog: debian-bookworm, debian-minimal)',
    );
    nothingWritten();
  });

  it('rejects a disk smaller than the image and says how big it must be', async () => {
    env = testEnv();
    registerImage(env, 'big', 3 * GiB + 1);
    const error = await prepareCreate(env, { name: 'x', image: 'big', diskBytes: 2 * GiB }, { host }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'VM_DISK_TOO_SMALL', exitCode: 1, message: 'disk 2G (--disk) is smaller than image big (4G)', hint: 'use --disk 4G or more' });
    nothingWritten();
  });

  it('rejects a file_sync entry whose host path is missing, naming the entry and the path', async () => {
    env = testEnv({ fileSync: [{ host: '/nonexistent/creds', guest: '/root/.creds' }], source: '/home/u/.config/banger/config.toml' });
    registerImage(env, 'debian-minimal', GiB);
    await expect(prepareCreate(env, { name: 'x', image: 'debian-minimal' }, { host })).rejects.toThrow(
      'file_sync[0] in /home/u/.config/banger/config.toml: host path /nonexistent/creds does not exist',
    );
    nothingWritten();
  });

  it('rejects a file_sync guest path outside /root', async () => {
    env = testEnv({ fileSync: [{ host: '/etc/hostname', guest: '/etc/elsewhere' }] });
    registerImage(env, 'debian-minimal', GiB);
    await expect(prepareCreate(env, { name: 'x', image: 'debian-minimal' }, { host })).rejects.toThrow(/guest path must be under \/root/);
    nothingWritten();
  });

  it('returns the existing VM when the asked inputs match it, and names every changed input otherwise', async () => {
    env = testEnv();
    registerImage(env, 'debian-minimal', GiB);
    const first = await prepareCreate(env, { name: 'sandbox', image: 'debian-minimal', vcpu: 2 }, { host });
    new VmRepository(env.db).insert(first.record);
    const again = await prepareCreate(env, { name: 'sandbox', image: 'debian-minimal' }, { host });
    expect(again.isNew).toBe(false);
    expect(again.record.id).toBe(first.record.id);
    expect(again.sizing.vcpu).toEqual({ value: 2, source: 'flag', detail: '--vcpu' });
    await expect(prepareCreate(env, { name: 'sandbox', image: 'debian-bookworm', vcpu: 4, diskBytes: 16 * GiB }, { host })).rejects.toThrow(
      'vm sandbox exists with image debian-minimal (asked: debian-bookworm), vcpu 2 (asked: 4), disk 8G (asked: 16G); delete it first or use another name',
    );
  });
});
