import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '@banger/errors';
import { loadConfig, parseConfig } from './index.js';

const FILE = '/home/ada/.config/banger/config.toml';
const HOME = '/home/ada';

/** Parses `text` and returns the thrown UserError (fails when nothing is thrown). */
function configError(text: string): UserError {
  try {
    parseConfig(text, FILE, { home: HOME });
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    const userError = error as UserError;
    expect(userError.code).toMatch(/^CONFIG_/);
    expect(userError.exitCode).toBe(1);
    expect(userError.message).not.toContain('\n');
    return userError;
  }
  throw new Error('expected the config to be rejected');
}

describe('parseConfig', () => {
  it('reads every key of a full config and maps it to BangerConfig', () => {
    const config = parseConfig(
      `
default_image_name = "ubuntu-noble"
default_kernel_name = "custom-6.6"
ssh_key_path = "~/.ssh/id_ed25519"
firecracker_bin = "/opt/fc/firecracker"
qemu_bin = "qemu-system-x86_64"
hypervisor = "qemu"
bridge_name = "bng1"
bridge_subnet = "10.42.0.0/16"
catalog_url = "https://example.test/catalog.json"
kernel_catalog_url = "file:///srv/kernels.json"
dns_port = 5353

[vm_defaults]
vcpu = 4
memory_mib = 4096
disk_size = "16G"

[[file_sync]]
host = "~/.aws"
guest = "~/.aws"

[[file_sync]]
host = "/etc/gitconfig"
guest = "/root/.config/git/../git/config"
mode = "644"
`,
      FILE,
      { home: HOME },
    );
    expect(config).toEqual({
      defaultImageName: 'ubuntu-noble',
      defaultKernelName: 'custom-6.6',
      sshKeyPath: '/home/ada/.ssh/id_ed25519',
      firecrackerBin: '/opt/fc/firecracker',
      qemuBin: 'qemu-system-x86_64',
      hypervisor: 'qemu',
      bridgeName: 'bng1',
      bridgeSubnet: '10.42.0.0/16',
      catalogUrl: 'https://example.test/catalog.json',
      kernelCatalogUrl: 'file:///srv/kernels.json',
      dnsPort: 5353,
      vmDefaults: { vcpu: 4, memoryMib: 4096, diskSize: '16G' },
      fileSync: [
        { host: '/home/ada/.aws', guest: '/root/.aws' },
        { host: '/etc/gitconfig', guest: '/root/.config/git/config', mode: '0644' },
      ],
      source: FILE,
    });
  });

  it('applies the documented defaults to an empty file', () => {
    expect(parseConfig('# nothing here\n', FILE, { home: HOME })).toEqual({
      defaultImageName: 'debian-bookworm',
      defaultKernelName: 'debian-cloud',
      hypervisor: 'auto',
      bridgeName: 'banger0',
      bridgeSubnet: '172.16.0.0/24',
      vmDefaults: {},
      fileSync: [],
      source: FILE,
    });
  });

  it('expands ~ in host paths and binaries against the given home', () => {
    const config = parseConfig('firecracker_bin = "~/bin/firecracker"\nssh_key_path = "~"\n', FILE, { home: '/srv/u' });
    expect(config.firecrackerBin).toBe('/srv/u/bin/firecracker');
    expect(config.sshKeyPath).toBe('/srv/u');
  });

  it('names file, line and column of a TOML syntax error', () => {
    const error = configError('hypervisor = "qemu"\n\n[vm_defaults]\nvcpu = = 2\n');
    expect(error.code).toBe('CONFIG_BAD_TOML');
    expect(error.message).toBe(`${FILE}:4:8: invalid value`);
  });

  it('names the line of a duplicated key', () => {
    const error = configError('bridge_name = "a"\nbridge_name = "b"\n');
    expect(error.code).toBe('CONFIG_BAD_TOML');
    expect(error.message).toMatch(new RegExp(`^${FILE}:2:1: .*already defined`));
  });

  it('rejects an unknown top-level key and suggests the closest known one', () => {
    const error = configError('bridge_nmae = "br0"\n');
    expect(error.code).toBe('CONFIG_UNKNOWN_KEY');
    expect(error.message).toBe(`${FILE}:1: unknown key "bridge_nmae"`);
    expect(error.hint).toBe('did you mean "bridge_name"?');
  });

  it('rejects an unknown nested key with its dotted path and suggestion', () => {
    const error = configError('[vm_defaults]\nmemory_mib = 2048\nvcpus = 2\n');
    expect(error.message).toBe(`${FILE}:3: unknown key "vm_defaults.vcpus"`);
    expect(error.hint).toBe('did you mean "vm_defaults.vcpu"?');
  });

  it('finds an unknown key written as a dotted key at the top level', () => {
    const error = configError('vm_defaults.disk = "8G"\n');
    expect(error.message).toBe(`${FILE}:1: unknown key "vm_defaults.disk"`);
    expect(error.hint).toBe('did you mean "vm_defaults.disk_size"?');
  });

  it('rejects an unknown key inside a [[file_sync]] entry and says which entry', () => {
    const error = configError('[[file_sync]]\nhost = "~/a"\nguest = "~/a"\n\n[[file_sync]]\nhots = "~/b"\nguest = "~/b"\n');
    expect(error.message).toBe(`${FILE}:6: unknown key "file_sync.hots" in [[file_sync]] entry 2`);
    expect(error.hint).toBe('did you mean "file_sync.host"?');
  });

  it('rejects an unknown table and, with nothing close, lists the valid keys', () => {
    const error = configError('[network]\nsubnet = "10.0.0.0/24"\n');
    expect(error.message).toBe(`${FILE}:1: unknown key "network"`);
    expect(error.hint).toMatch(/^valid keys at the top level: default_image_name, .*file_sync \(see docs\/config.md\)$/);
  });

  it('points a key written in the wrong table to the table it belongs in', () => {
    const error = configError('vcpu = 2\n');
    expect(error.message).toBe(`${FILE}:1: unknown key "vcpu"`);
    expect(error.hint).toBe('"vcpu" belongs in the [vm_defaults] table');
  });

  it('rejects a wrong type naming the key, the value given and what is allowed', () => {
    const error = configError('[vm_defaults]\nvcpu = "two"\n');
    expect(error.code).toBe('CONFIG_BAD_VALUE');
    expect(error.message).toBe(`${FILE}:2: bad value for "vm_defaults.vcpu": got "two", expected a whole number of vCPUs from 1 to 32`);
  });

  it('suggests dropping the quotes from a quoted number', () => {
    expect(configError('[vm_defaults]\nmemory_mib = "4096"\n').hint).toBe('drop the quotes: memory_mib = 4096');
  });

  it.each([
    ['vcpu = 0', 'got 0, expected a whole number of vCPUs from 1 to 32'],
    ['vcpu = 1.5', 'got 1.5, expected a whole number of vCPUs from 1 to 32'],
    ['vcpu = 64', 'got 64, expected a whole number of vCPUs from 1 to 32'],
    ['memory_mib = 64', 'got 64, expected a whole number of MiB from 128 to 1048576'],
    ['disk_size = "lots"', 'got "lots", expected a size string from "1G" to "16T" such as "16G"'],
    ['disk_size = "100M"', 'got "100M", expected a size from "1G" to "16T"'],
  ])('rejects vm_defaults %s as insane', (line, tail) => {
    const error = configError(`[vm_defaults]\n${line}\n`);
    expect(error.message).toBe(`${FILE}:2: bad value for "vm_defaults.${line.split(' ')[0]}": ${tail}`);
  });

  it('explains that a bare disk size is bytes', () => {
    expect(configError('[vm_defaults]\ndisk_size = "8192"\n').hint).toBe('a bare number is bytes; did you mean "8192M"?');
  });

  it('rejects a hypervisor outside auto, firecracker and qemu', () => {
    const error = configError('hypervisor = "kvm"\n');
    expect(error.message).toBe(`${FILE}:1: bad value for "hypervisor": got "kvm", expected one of "auto", "firecracker", "qemu"`);
  });

  it.each([
    ['"/etc/passwd"', 'expected a path under "~/" or "/root/"'],
    ['"/root/../etc/shadow"', 'it resolves to "/etc/shadow", outside /root'],
    ['"~/../../etc"', 'it resolves to "/etc", outside /root'],
    ['"/rootkit/x"', 'expected a path under "~/" or "/root/"'],
    ['"relative/path"', 'expected a path under "~/" or "/root/"'],
    ['"~/"', 'expected a path below /root, not /root itself'],
  ])('rejects the guest path %s at load time', (guest, why) => {
    const error = configError(`[[file_sync]]\nhost = "~/x"\nguest = ${guest}\n`);
    expect(error.code).toBe('CONFIG_BAD_GUEST_PATH');
    expect(error.message).toContain(`${FILE}:3: bad value for "file_sync.guest" in [[file_sync]] entry 1: got ${guest}, ${why}`);
  });

  it('rejects two file_sync entries writing the same guest path', () => {
    const error = configError('[[file_sync]]\nhost = "~/a"\nguest = "~/x"\n[[file_sync]]\nhost = "~/b"\nguest = "/root/x"\n');
    expect(error.message).toBe(`${FILE}:6: bad value for "file_sync.guest" in [[file_sync]] entry 2: "/root/x" is already written by entry 1`);
  });

  it('rejects a relative host path', () => {
    const error = configError('[[file_sync]]\nhost = "bin/tool"\nguest = "~/bin/tool"\n');
    expect(error.message).toBe(`${FILE}:2: bad value for "file_sync.host" in [[file_sync]] entry 1: got "bin/tool", expected an absolute path or one starting with "~/"`);
  });

  it.each([
    ['"rwx"', 'got "rwx"'],
    ['"0999"', 'got "0999"'],
    ['"04755"', 'got "04755"'],
  ])('rejects the mode %s', (mode, given) => {
    const error = configError(`[[file_sync]]\nhost = "~/x"\nguest = "~/x"\nmode = ${mode}\n`);
    expect(error.code).toBe('CONFIG_BAD_MODE');
    expect(error.message).toBe(`${FILE}:4: bad value for "file_sync.mode" in [[file_sync]] entry 1: ${given}, expected an octal mode string such as "0644" or "0755"`);
  });

  it('tells the user to quote a numeric mode', () => {
    const error = configError('[[file_sync]]\nhost = "~/x"\nguest = "~/x"\nmode = 755\n');
    expect(error.message).toContain('got 755, expected an octal mode string');
    expect(error.hint).toBe('quote it: mode = "0755"');
  });

  it('tells the user to use [[file_sync]] when they wrote a single table', () => {
    const error = configError('[file_sync]\nhost = "~/x"\nguest = "~/x"\n');
    expect(error.message).toBe(`${FILE}:1: bad value for "file_sync": got a table, expected an array of tables: write each entry under its own [[file_sync]] header`);
    expect(error.hint).toBe('use [[file_sync]] (double brackets) for each entry');
  });

  it('requires guest in every file_sync entry', () => {
    const error = configError('[[file_sync]]\nhost = "~/x"\n');
    expect(error.message).toBe(`${FILE}:1: bad value for "file_sync.guest" in [[file_sync]] entry 1: got nothing, it is required`);
  });

  it.each([
    ['"172.16.0.0"', 'expected an IPv4 network in CIDR form like "172.16.0.0/24"', undefined],
    ['"300.1.0.0/24"', 'expected an IPv4 network in CIDR form like "172.16.0.0/24"', undefined],
    ['"172.16.0.0/30"', 'expected a prefix length from /8 to /29 (a /30 has no room for guests)', 'a /24 such as "172.16.0.0/24" holds 253 VMs'],
    ['"172.16.0.1/24"', 'host bits are set: that is an address, not a network', 'did you mean "172.16.0.0/24"?'],
    ['"8.8.8.0/24"', 'expected a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10)', undefined],
  ])('rejects the bridge_subnet %s', (subnet, why, hint) => {
    const error = configError(`bridge_subnet = ${subnet}\n`);
    expect(error.code).toBe('CONFIG_BAD_SUBNET');
    expect(error.message).toBe(`${FILE}:1: bad value for "bridge_subnet": got ${subnet}, ${why}`);
    if (hint) expect(error.hint).toBe(hint);
  });

  it('rejects a bridge name that is not a valid interface name', () => {
    const error = configError('bridge_name = "my bridge that is long"\n');
    expect(error.message).toContain('bad value for "bridge_name": got "my bridge that is long", expected a network interface name');
  });

  it('takes DNS upstreams as addresses with optional ports, and names a bad one', () => {
    expect(parseConfig('dns_upstreams = ["1.1.1.1", "192.0.2.53:5353", "[2001:db8::53]:53", "::1"]\n', FILE).dnsUpstreams).toEqual([
      '1.1.1.1',
      '192.0.2.53:5353',
      '[2001:db8::53]:53',
      '::1',
    ]);
    expect(configError('dns_upstreams = ["1.1.1.1", "dns.example.com"]\n').message).toMatch(new RegExp(`^${FILE.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:1: bad value for "dns_upstreams`));
    expect(configError('dns_upstreams = ["1.1.1.1:70000"]\n').message).toContain('dns_upstreams');
  });

  it('rejects a catalog URL that is not http, https or file', () => {
    expect(configError('catalog_url = "ftp://x/y"\n').message).toBe(`${FILE}:1: bad value for "catalog_url": got "ftp://x/y", expected an http://, https:// or file:// URL`);
  });

  it('rejects a relative binary path but accepts a bare command name', () => {
    expect(configError('qemu_bin = "./qemu"\n').message).toContain('bad value for "qemu_bin": got "./qemu", expected an absolute path');
    expect(parseConfig('qemu_bin = "qemu-system-x86_64"\n', FILE, { home: HOME }).qemuBin).toBe('qemu-system-x86_64');
  });

  it('reads interrupted_create_expiry as a duration, and rejects other forms naming the key', () => {
    expect(parseConfig('interrupted_create_expiry = "90s"\n', FILE, { home: HOME }).interruptedCreateExpiryMs).toBe(90_000);
    expect(parseConfig('interrupted_create_expiry = "2h"\n', FILE, { home: HOME }).interruptedCreateExpiryMs).toBe(7_200_000);
    expect(parseConfig('interrupted_create_expiry = "7d"\n', FILE, { home: HOME }).interruptedCreateExpiryMs).toBe(604_800_000);
    expect(parseConfig('# nothing\n', FILE, { home: HOME }).interruptedCreateExpiryMs).toBeUndefined();
    for (const bad of ['"0s"', '"1 h"', '"1w"', '"-5m"', '60']) {
      expect(configError(`interrupted_create_expiry = ${bad}\n`).message).toMatch(/:1: bad value for "interrupted_create_expiry": got .*, expected a duration such as "30s"/);
    }
  });

  it('reads warm_start as a boolean (unset: the VM layer default, on), and rejects anything else naming the key', () => {
    expect(parseConfig('warm_start = false\n', FILE, { home: HOME }).warmStart).toBe(false);
    expect(parseConfig('warm_start = true\n', FILE, { home: HOME }).warmStart).toBe(true);
    expect(parseConfig('# nothing\n', FILE, { home: HOME }).warmStart).toBeUndefined();
    for (const bad of ['"yes"', '1', '"false"']) {
      expect(configError(`warm_start = ${bad}\n`).message).toMatch(/:1: bad value for "warm_start": got .*, expected true or false/);
    }
  });

  it('reads disk_spares as a boolean (unset: on), and rejects anything else naming the key and its line', () => {
    expect(parseConfig('disk_spares = false\n', FILE, { home: HOME }).diskSpares).toBe(false);
    expect(parseConfig('# nothing\n', FILE, { home: HOME }).diskSpares).toBeUndefined();
    expect(configError('warm_start = true\ndisk_spares = "no"\n').message).toBe(`${FILE}:2: bad value for "disk_spares": got "no", expected true or false`);
  });

  it('rejects an out-of-range dns_port', () => {
    expect(configError('dns_port = 70000\n').message).toBe(`${FILE}:1: bad value for "dns_port": got 70000, expected a port number from 1 to 65535`);
  });

  it('locates a bad value written inside an inline table', () => {
    const error = configError('vm_defaults = { vcpu = 0 }\n');
    expect(error.message).toMatch(new RegExp(`^${FILE}:1: bad value for "vm_defaults.vcpu"`));
  });
});

describe('loadConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'banger-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('returns the defaults with source "(defaults)" when the file does not exist', () => {
    const config = loadConfig({ configFile: join(dir, 'missing', 'config.toml') });
    expect(config.source).toBe('(defaults)');
    expect(config.defaultImageName).toBe('debian-bookworm');
    expect(config.bridgeSubnet).toBe('172.16.0.0/24');
    expect(config.fileSync).toEqual([]);
  });

  it('reads the file and records it as the source', () => {
    const file = join(dir, 'config.toml');
    writeFileSync(file, '[vm_defaults]\nvcpu = 3\n');
    const config = loadConfig({ configFile: file }, { home: '/h' });
    expect(config.source).toBe(file);
    expect(config.vmDefaults).toEqual({ vcpu: 3 });
  });

  it('reports a config path that is a directory as unreadable', () => {
    const sub = join(dir, 'is-a-dir');
    mkdirSync(sub);
    expect(() => loadConfig({ configFile: sub })).toThrow(expect.objectContaining({ code: 'CONFIG_UNREADABLE', hint: 'config.toml must be a file' }));
  });

  it('names the real file in a syntax error', () => {
    const file = join(dir, 'broken.toml');
    writeFileSync(file, 'hypervisor = "qemu\n');
    expect(() => loadConfig({ configFile: file })).toThrow(expect.objectContaining({ code: 'CONFIG_BAD_TOML', message: expect.stringMatching(new RegExp(`^${file}:1:\\d+: `)) }));
  });
});

describe('config files that are not plain UTF-8 text', () => {
  const dir = mkdtempSync(join(tmpdir(), 'banger-config-hostile-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a FIFO as config.toml at once instead of blocking on it', () => {
    const fifo = join(dir, 'fifo.toml');
    execFileSync('mkfifo', [fifo]);
    expect(() => loadConfig({ configFile: fifo })).toThrow(`cannot read ${fifo}: it is a FIFO, not a regular file`);
  });

  it('names the line and column of the first byte that is not UTF-8', () => {
    const file = join(dir, 'latin1.toml');
    writeFileSync(file, Buffer.concat([Buffer.from('hypervisor = "qemu"\nbridge_name = "caf'), Buffer.from([0xe9]), Buffer.from('"\n')]));
    expect(() => loadConfig({ configFile: file })).toThrow(`${file}:2:19: not valid UTF-8`);
  });

  it('reads UTF-8 text, multi-byte characters included', () => {
    const file = join(dir, 'utf8.toml');
    writeFileSync(file, '# café ☕ 🚀\nhypervisor = "qemu"\n');
    expect(loadConfig({ configFile: file }).hypervisor).toBe('qemu');
  });

  it('treats __proto__ as the unknown key it is', () => {
    expect(() => parseConfig('__proto__ = 1\n', '/c.toml')).toThrow(/unknown key "__proto__"/);
  });

  it('refuses NUL and line breaks in paths', () => {
    expect(() => parseConfig('ssh_key_path = "/home/a/key\\u0000x"\n', '/c.toml')).toThrow(/must not contain NUL or line breaks/);
    expect(() => parseConfig('[[file_sync]]\nhost = "~/a"\nguest = "~/b\\nc"\n', '/c.toml')).toThrow(/must not contain NUL or line breaks/);
  });

  it('refuses image and kernel names that would leave the state dir', () => {
    expect(() => parseConfig('default_image_name = "a/../../../etc"\n', '/c.toml')).toThrow(/bad value for "default_image_name"/);
    expect(() => parseConfig('default_kernel_name = ".."\n', '/c.toml')).toThrow(/bad value for "default_kernel_name"/);
    expect(parseConfig('default_image_name = "debian-bookworm"\n', '/c.toml').defaultImageName).toBe('debian-bookworm');
  });
});
