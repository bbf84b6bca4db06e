import { describe, expect, it } from 'vitest';
import { UserError } from '@banger/errors';
import { kvmUsable } from '@banger/host';
import { whyNoWarmStart } from './create-driver.js';
import { kvmProblem, selectHypervisor, type HypervisorProbe } from './select.js';

function probe(opts: { kvm: boolean; files: Record<string, string | undefined> }): Partial<HypervisorProbe> {
  // files maps an absolute path to its `--version` output; names resolve under /usr/bin.
  const resolve = (name: string) => {
    const path = name.startsWith('/') ? name : `/usr/bin/${name}`;
    return path in opts.files ? path : undefined;
  };
  return {
    kvmProblem: () => (opts.kvm ? undefined : '/dev/kvm is missing or not readable and writable by this user'),
    findExecutable: resolve,
    versionOutput: async (binary) => opts.files[binary],
  };
}

const QEMU = { '/usr/bin/qemu-system-x86_64': 'QEMU emulator version 8.2.2 (Debian 1:8.2.2+ds-0ubuntu1)' };
const FC = { '/usr/bin/firecracker': 'Firecracker v1.10.1\n' };

describe('selectHypervisor', () => {
  it('picks Firecracker on auto when /dev/kvm is usable and Firecracker 1.10 is on PATH', async () => {
    const choice = await selectHypervisor({ preference: 'auto', probe: probe({ kvm: true, files: { ...QEMU, ...FC } }) });
    expect(choice).toMatchObject({ kind: 'firecracker', accel: 'kvm', binary: '/usr/bin/firecracker', version: '1.10.1' });
    expect(choice.warning).toBeUndefined();
  });

  it('falls back to QEMU with KVM on auto when Firecracker is older than 1.8 and says why', async () => {
    const choice = await selectHypervisor({
      preference: 'auto',
      probe: probe({ kvm: true, files: { ...QEMU, '/usr/bin/firecracker': 'Firecracker v1.7.0' } }),
    });
    expect(choice).toMatchObject({ kind: 'qemu', accel: 'kvm', version: '8.2.2' });
    expect(choice.reason).toContain('1.7.0');
  });

  it('falls back to QEMU with TCG and a slowness warning when /dev/kvm is missing', async () => {
    const choice = await selectHypervisor({ preference: 'auto', probe: probe({ kvm: false, files: { ...QEMU, ...FC } }) });
    expect(choice).toMatchObject({ kind: 'qemu', accel: 'tcg', binary: '/usr/bin/qemu-system-x86_64' });
    expect(choice.warning).toMatch(/slow/);
    expect(choice.reason).toMatch(/kvm/i);
  });

  it('uses firecracker_bin when it is given as a path', async () => {
    const choice = await selectHypervisor({
      preference: 'auto',
      firecrackerBin: '/opt/fc/firecracker',
      probe: probe({ kvm: true, files: { ...QEMU, '/opt/fc/firecracker': 'Firecracker v1.8.0' } }),
    });
    expect(choice).toMatchObject({ kind: 'firecracker', binary: '/opt/fc/firecracker', version: '1.8.0' });
  });

  it('refuses hypervisor = firecracker without /dev/kvm with a UserError that names /dev/kvm', async () => {
    const attempt = selectHypervisor({ preference: 'firecracker', probe: probe({ kvm: false, files: { ...FC } }) });
    await expect(attempt).rejects.toBeInstanceOf(UserError);
    await expect(attempt).rejects.toThrow('hypervisor = firecracker needs /dev/kvm: /dev/kvm is missing');
  });

  it('refuses hypervisor = firecracker when the binary is missing and names firecracker_bin', async () => {
    const attempt = selectHypervisor({
      preference: 'firecracker',
      firecrackerBin: '/nope/firecracker',
      probe: probe({ kvm: true, files: {} }),
    });
    await expect(attempt).rejects.toThrow('firecracker_bin = /nope/firecracker is not an executable file');
  });

  it('honours hypervisor = qemu even when Firecracker would be usable', async () => {
    const choice = await selectHypervisor({ preference: 'qemu', probe: probe({ kvm: true, files: { ...QEMU, ...FC } }) });
    expect(choice).toMatchObject({ kind: 'qemu', accel: 'kvm' });
  });

  it('fails with an install hint when no hypervisor is installed at all', async () => {
    const attempt = selectHypervisor({ preference: 'auto', probe: probe({ kvm: false, files: {} }) });
    await expect(attempt).rejects.toMatchObject({ hint: expect.stringContaining('qemu-system-x86') });
  });

  it('does not trust a /dev/kvm node when the CPU has no vmx/svm flag (nested virtualisation off)', () => {
    const noVirt = 'processor\t: 0\nflags\t\t: fpu vme de pse tsc msr hypervisor lahf_lm\n';
    const withVmx = 'processor\t: 0\nflags\t\t: fpu vme vmx de pse\n';
    if (!kvmUsable()) {
      expect(kvmProblem(withVmx)).toMatch(/missing or not readable/);
    } else {
      expect(kvmProblem(noVirt)).toMatch(/no VT-x\/AMD-V/);
      expect(kvmProblem(withVmx)).toBeUndefined();
    }
  });

  it('finds the real qemu-system-x86_64 on this host', async () => {
    const choice = await selectHypervisor({ preference: 'qemu' });
    expect(choice.kind).toBe('qemu');
    expect(choice.version).toMatch(/^\d+\.\d+/);
  });
});

describe('whyNoWarmStart', () => {
  it('lets QEMU and Firecracker 1.16 or newer restore warm templates, and names the version an older Firecracker lacks', () => {
    expect(whyNoWarmStart({ kind: 'qemu', binary: '/usr/bin/qemu-system-x86_64', version: '7.2.22' })).toBeUndefined();
    expect(whyNoWarmStart({ kind: 'firecracker', binary: '/usr/bin/firecracker', version: '1.16.1' })).toBeUndefined();
    expect(whyNoWarmStart({ kind: 'firecracker', binary: '/usr/bin/firecracker', version: '1.17.0' })).toBeUndefined();
    expect(whyNoWarmStart({ kind: 'firecracker', binary: '/opt/fc', version: '1.10.1' })).toBe('/opt/fc is Firecracker 1.10.1; restoring a warm template needs ≥ 1.16.0');
    expect(whyNoWarmStart({ kind: 'firecracker', binary: '/opt/fc' })).toBe('/opt/fc is Firecracker (unknown version); restoring a warm template needs ≥ 1.16.0');
  });
});
