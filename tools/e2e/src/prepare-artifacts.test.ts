import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { findExecutable } from '@banger/host';
import { loadArtifacts, prepareArtifacts, prepareImage, preparedImage } from './artifacts.js';
import { prepareVmRunImage } from './vm-run-image.js';

const missing = ['apt-get', 'dpkg-deb', 'depmod', 'mmdebstrap', 'mkfs.ext4'].filter((t) => !findExecutable(t));

describe.skipIf(missing.length > 0)(`e2e artefacts (needs ${missing.join(', ') || 'apt, mmdebstrap, e2fsprogs'})`, () => {
  it('builds or reuses the kernel bundle and the test image, and the netns step can find them offline', async () => {
    const log = (line: string) => process.stderr.write(`  prepare: ${line}\n`);
    const prepared = await prepareArtifacts({ line: log });
    const loaded = await loadArtifacts();
    expect(loaded.kernelVersion).toBe(prepared.kernelVersion);
    expect(loaded.kernelVersion).toMatch(/^\d+\.\d+\.\d+-\d+-cloud-amd64$/);
    for (const path of [loaded.kernel.vmlinux, loaded.kernel.initrd, loaded.kernel.modules, loaded.rootfs]) expect(existsSync(path)).toBe(true);
  });

  it('builds or reuses the image with git that the vm run workspace tests boot', async () => {
    const dir = await prepareVmRunImage({ line: (line) => process.stderr.write(`  prepare: ${line}\n`) });
    expect(existsSync(dir)).toBe(true);
    expect(await preparedImage('vm-run-git')).toBe(dir);
  });

  // The golden-image e2e runs inside the netns, where nothing can be downloaded.
  it.skipIf(process.env['BANGER_SLOW_TESTS'] !== '1')('builds or reuses the golden debian-bookworm image for the slow e2e test', async () => {
    const dir = await prepareImage('debian-bookworm', 'debian-bookworm', { line: (line) => process.stderr.write(`  prepare: ${line}\n`) });
    expect(existsSync(dir)).toBe(true);
    expect(await preparedImage('debian-bookworm')).toBe(dir);
  });
});
