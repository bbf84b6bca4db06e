import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecutable, run } from '@banger/host';
import { DEFAULT_BOOT_MODULES, moduleNameOf, readModuleIndex, resolveModules, type ModuleIndex } from './modules-dep.js';
import { realKernelSkipReason, unpackedKernel, type UnpackedKernel } from './__fixtures__/real-kernel.js';

describe('resolveModules on a synthetic module tree', () => {
  let root: string;
  let index: ModuleIndex;
  const kver = '9.9.9-test';

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'banger-modules-'));
    const dir = join(root, 'lib/modules', kver);
    await mkdir(dir, { recursive: true });
    // Shaped like the generic Debian kernel: ext4 is a module with a dependency chain and a softdep on crc32c (an alias).
    await writeFile(
      join(dir, 'modules.dep'),
      [
        'kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.xz kernel/fs/mbcache.ko.xz kernel/fs/jbd2/jbd2.ko.xz',
        'kernel/fs/jbd2/jbd2.ko.xz:',
        'kernel/fs/mbcache.ko.xz:',
        'kernel/lib/crc16.ko.xz:',
        'kernel/crypto/crc32c_generic.ko.xz:',
        'kernel/arch/x86/crypto/crc32c-intel.ko.xz:',
        'kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz',
        'kernel/drivers/virtio/virtio.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz',
        'kernel/drivers/virtio/virtio_ring.ko.xz:',
        '',
      ].join('\n'),
    );
    await writeFile(join(dir, 'modules.softdep'), '# soft\nsoftdep ext4 pre: crc32c\n');
    await writeFile(join(dir, 'modules.alias'), 'alias crypto-crc32c crc32c_intel\nalias crc32c crc32c_intel\nalias crc32c crc32c_generic\n');
    await writeFile(join(dir, 'modules.builtin'), 'kernel/drivers/tty/serial/8250/8250.ko\n');
    index = await readModuleIndex(root, kver);
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('puts dependencies before the modules that need them', () => {
    expect(resolveModules(index, ['virtio_blk']).load.map((m) => m.name)).toEqual(['virtio_ring', 'virtio', 'virtio_blk']);
  });

  it('loads softdep pre modules (through their alias) before the module', () => {
    expect(resolveModules(index, ['ext4']).load.map((m) => m.name)).toEqual(['crc32c_intel', 'crc32c_generic', 'jbd2', 'mbcache', 'crc16', 'ext4']);
  });

  it('lists each module once even when several requests share it', () => {
    const names = resolveModules(index, ['virtio_blk', 'virtio', 'ext4', 'virtio_blk']).load.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('keeps the compressed file path so the initrd builder can decompress it', () => {
    expect(resolveModules(index, ['virtio_ring']).load).toEqual([{ name: 'virtio_ring', path: 'kernel/drivers/virtio/virtio_ring.ko.xz' }]);
  });

  it('reports built-in modules instead of loading them', () => {
    expect(resolveModules(index, ['8250', 'virtio'])).toEqual({
      load: [
        { name: 'virtio_ring', path: 'kernel/drivers/virtio/virtio_ring.ko.xz' },
        { name: 'virtio', path: 'kernel/drivers/virtio/virtio.ko.xz' },
      ],
      builtin: ['8250'],
    });
  });

  it('names an unknown module and the kernel in its error', () => {
    expect(() => resolveModules(index, ['virtio_nope'])).toThrow(
      'cannot resolve boot module virtio_nope: kernel 9.9.9-test has no such module, built-in or loadable',
    );
  });

  it('treats dashes and underscores in module names alike', () => {
    expect(moduleNameOf('kernel/drivers/char/hw_random/virtio-rng.ko.zst')).toBe('virtio_rng');
    expect(resolveModules(index, ['crc32c-intel']).load.map((m) => m.name)).toEqual(['crc32c_intel']);
  });

  it('explains how to get modules.dep when it is missing', async () => {
    await expect(readModuleIndex(root, '0.0.0-none')).rejects.toThrow(/modules\.dep does not exist/);
  });
});

const skip = realKernelSkipReason() ?? (findExecutable('modprobe') ? undefined : 'modprobe is not installed');

describe.skipIf(skip)(`resolveModules on the Debian cloud kernel${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let kernel: UnpackedKernel;
  let index: ModuleIndex;

  beforeAll(async () => {
    kernel = await unpackedKernel('linux-image-cloud-amd64');
    index = await readModuleIndex(kernel.root, kernel.kernelVersion);
  }, 300_000);

  /** What modprobe would insmod for `name`, as paths relative to lib/modules/<kver>. */
  async function modprobeOrder(name: string): Promise<string[]> {
    const { stdout } = await run('modprobe', ['-d', kernel.root, '-S', kernel.kernelVersion, '--show-depends', name]);
    const prefix = join(kernel.root, 'lib/modules', kernel.kernelVersion) + '/';
    return stdout
      .split('\n')
      .filter((line) => line.startsWith('insmod '))
      .map((line) => line.slice('insmod '.length).trim().replace(prefix, ''));
  }

  it.each(DEFAULT_BOOT_MODULES.filter((name) => name !== 'ext4'))('loads %s in the order modprobe --show-depends gives', async (name) => {
    expect(resolveModules(index, [name]).load.map((m) => m.path)).toEqual(await modprobeOrder(name));
  });

  it('knows ext4 is built into the cloud kernel, as modprobe does', async () => {
    const { stdout } = await run('modprobe', ['-d', kernel.root, '-S', kernel.kernelVersion, '--show-depends', 'ext4']);
    expect(stdout.trim()).toBe('builtin ext4');
    expect(resolveModules(index, ['ext4'])).toEqual({ load: [], builtin: ['ext4'] });
  });

  it('resolves the default boot set to the 15 modules measured on this kernel', () => {
    expect(resolveModules(index, DEFAULT_BOOT_MODULES).load.map((m) => m.name)).toEqual([
      'virtio_ring', 'virtio', 'virtio_mmio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci', 'virtio_blk',
      'failover', 'net_failover', 'virtio_net', 'virtio_console', 'virtio_rng', 'vsock', 'vmw_vsock_virtio_transport_common',
      'vmw_vsock_virtio_transport',
    ]);
  });
});
