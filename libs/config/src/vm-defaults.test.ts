import { describe, expect, it } from 'vitest';
import { GiB, applySpecOverrides, currentHostFacts, defaultConfig, formatSpecLine, parseConfig, resolveVmDefaults } from './index.js';
import type { BangerConfig, HostFacts } from './index.js';

const BIG_HOST: HostFacts = { cpus: 32, memoryMib: 128 * 1024, stateFsBytes: 500 * GiB };
const MID_HOST: HostFacts = { cpus: 12, memoryMib: 32 * 1024, stateFsBytes: 20 * GiB };
const SMALL_HOST: HostFacts = { cpus: 2, memoryMib: 4 * 1024, stateFsBytes: 10 * GiB };

const withDefaults = (vmDefaults: BangerConfig['vmDefaults']): BangerConfig => ({ ...defaultConfig(), vmDefaults });

describe('resolveVmDefaults', () => {
  it('takes every value from [vm_defaults] when the config sets it, whatever the host', () => {
    const config = parseConfig('[vm_defaults]\nvcpu = 6\nmemory_mib = 3072\ndisk_size = "20G"\n', '/c.toml', { home: '/h' });
    for (const host of [BIG_HOST, SMALL_HOST]) {
      expect(resolveVmDefaults(config, host)).toEqual({
        vcpu: { value: 6, source: 'config', detail: 'vm_defaults.vcpu' },
        memoryMib: { value: 3072, source: 'config', detail: 'vm_defaults.memory_mib' },
        diskBytes: { value: 20 * GiB, source: 'config', detail: 'vm_defaults.disk_size' },
      });
    }
  });

  it('uses the host heuristics below their caps: cpus/4, ram/8, state fs/4', () => {
    expect(resolveVmDefaults(withDefaults({}), MID_HOST)).toEqual({
      vcpu: { value: 3, source: 'host', detail: 'cpus/4' },
      memoryMib: { value: 4096, source: 'host', detail: 'ram/8' },
      diskBytes: { value: 5 * GiB, source: 'host', detail: 'state fs/4' },
    });
  });

  it('caps the host heuristics at 4 vCPU, 8 GiB RAM and an 8 GiB disk', () => {
    expect(resolveVmDefaults(withDefaults({}), BIG_HOST)).toEqual({
      vcpu: { value: 4, source: 'host', detail: 'cpus/4, capped at 4' },
      memoryMib: { value: 8192, source: 'host', detail: 'ram/8, capped at 8 GiB' },
      diskBytes: { value: 8 * GiB, source: 'host', detail: 'state fs/4, capped at 8 GiB' },
    });
  });

  it('falls back to the built-in floor when a heuristic comes out lower', () => {
    expect(resolveVmDefaults(withDefaults({}), SMALL_HOST)).toEqual({
      vcpu: { value: 1, source: 'builtin', detail: 'floor of 1; cpus/4 = 2/4 = 0' },
      memoryMib: { value: 1024, source: 'builtin', detail: 'floor of 1024 MiB; ram/8 = 512 MiB' },
      diskBytes: { value: 4 * GiB, source: 'builtin', detail: 'floor of 4 GiB; state fs/4 = 2 GiB' },
    });
  });

  it('uses the built-in disk floor when the state file system size is unknown', () => {
    const { diskBytes } = resolveVmDefaults(withDefaults({}), { cpus: 8, memoryMib: 16384 });
    expect(diskBytes).toEqual({ value: 4 * GiB, source: 'builtin', detail: 'floor of 4 GiB; state file system size unknown' });
  });

  it('rounds host memory down to a multiple of 128 MiB', () => {
    expect(resolveVmDefaults(withDefaults({}), { cpus: 4, memoryMib: 24105 }).memoryMib).toEqual({ value: 2944, source: 'host', detail: 'ram/8' });
  });

  it('mixes sources per value: config for one, host or builtin for the others', () => {
    const spec = resolveVmDefaults(withDefaults({ memoryMib: 4096 }), { cpus: 8, memoryMib: 2048 });
    expect([spec.vcpu.source, spec.memoryMib.source, spec.diskBytes.source]).toEqual(['host', 'config', 'builtin']);
  });

  it('reads this host when no facts are given', () => {
    const facts = currentHostFacts('/tmp/definitely/not/created/yet');
    expect(facts.cpus).toBeGreaterThan(0);
    expect(facts.memoryMib).toBeGreaterThan(0);
    expect(facts.stateFsBytes).toBeGreaterThan(0);
    expect(resolveVmDefaults(withDefaults({})).vcpu.value).toBeGreaterThanOrEqual(1);
  });
});

describe('formatSpecLine', () => {
  it('prints the seed spec line with the rule for host values and the source otherwise', () => {
    const spec = resolveVmDefaults(withDefaults({ memoryMib: 4096 }), { cpus: 8, memoryMib: 8192 });
    expect(formatSpecLine(spec)).toBe('spec: 2 vCPU (host: cpus/4), 4096 MiB RAM (config), 4 GiB disk (builtin)');
  });

  it('marks values given on the command line as flags', () => {
    const spec = applySpecOverrides(resolveVmDefaults(withDefaults({}), BIG_HOST), { vcpu: 2, diskBytes: 1.5 * GiB });
    expect(formatSpecLine(spec)).toBe('spec: 2 vCPU (flag), 8192 MiB RAM (host: ram/8, capped at 8 GiB), 1.5 GiB disk (flag)');
    expect(spec.vcpu).toEqual({ value: 2, source: 'flag', detail: '--vcpu' });
  });
});
