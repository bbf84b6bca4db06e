import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { build } from 'esbuild';
import { SSHD, writeSshdFiles } from '@banger/ssh/testing';
import { findExecutable } from '@banger/host';
import { renderSshConfig } from '@banger/ssh';

// Everything here lives in a network namespace of its own: the "bridge"
// address (DNS server) and the "guest" address (sshd) sit on its loopback, and
// `ip netns exec` bind-mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf
// so glibc (and so OpenSSH) resolves through banger's server.
const why =
  process.getuid?.() !== 0
    ? 'needs root for ip netns'
    : !findExecutable('ip') || !existsSync(SSHD) || !findExecutable('ssh')
      ? 'needs iproute2, openssh-server and openssh-client'
      : undefined;

const BRIDGE_IP = '172.16.0.1';
const GUEST_IP = '172.16.0.5';

describe.skipIf(why)('ssh <vm>.vm through banger DNS and the generated ssh config (netns)', () => {
  const ns = `banger-test-${randomBytes(4).toString('hex')}`;
  const children: ChildProcess[] = [];
  let dir: string;
  let hostPublicKey: string;

  const inNs = (command: string, args: string[]) => execa('ip', ['netns', 'exec', ns, command, ...args], { reject: false, stdin: 'ignore' });
  const startInNs = async (command: string, args: string[], readyLine?: RegExp): Promise<void> => {
    const child = spawn('ip', ['netns', 'exec', ns, command, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    if (!readyLine) return;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`${command} did not start: ${output}`)), 20_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (readyLine.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => reject(new Error(`${command} exited ${code}: ${output}`)));
    });
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-dns-e2e-'));
    await execa('ip', ['netns', 'add', ns]);
    await mkdir(`/etc/netns/${ns}`, { recursive: true });
    await writeFile(`/etc/netns/${ns}/resolv.conf`, `nameserver ${BRIDGE_IP}\noptions timeout:2 attempts:1\n`);
    await inNs('ip', ['link', 'set', 'lo', 'up']);
    await inNs('ip', ['addr', 'add', `${BRIDGE_IP}/32`, 'dev', 'lo']);
    await inNs('ip', ['addr', 'add', `${GUEST_IP}/32`, 'dev', 'lo']);

    // The DNS server runs in the namespace as a bundled script (vitest itself stays outside).
    const entry = join(dir, 'dns-entry.ts');
    await writeFile(
      entry,
      `import { startDnsServer } from ${JSON.stringify(join(import.meta.dirname, 'server.ts'))};
const vms = { sandbox: ${JSON.stringify(GUEST_IP)} };
await startDnsServer({ host: process.argv[2], port: 53, lookup: (name) => (vms[name] ? { ip: vms[name] } : undefined) });
console.log('dns ready');
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`,
    );
    await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      conditions: ['@banger/source'],
      outfile: join(dir, 'dns.mjs'),
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
      logLevel: 'error',
    });
    await startInNs(process.execPath, [join(dir, 'dns.mjs'), BRIDGE_IP], /dns ready/);

    // The guest's sshd: keys and config from the shared fixture, listening on the guest address inside the namespace.
    const sshd = await writeSshdFiles(dir, { listenAddress: GUEST_IP, port: 22 });
    hostPublicKey = sshd.hostKey.publicKey;
    await startInNs(SSHD, ['-D', '-e', '-f', sshd.configPath]);
    await writeFile(join(dir, 'ssh_config'), renderSshConfig({ keyPath: sshd.userKey.privateKeyPath, knownHostsPath: join(dir, 'known_hosts') }));
  }, 120_000);

  afterAll(async () => {
    for (const child of children) child.kill('SIGTERM');
    await execa('ip', ['netns', 'del', ns], { reject: false });
    await rm(`/etc/netns/${ns}`, { recursive: true, force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('resolves <vm>.vm through the system resolver', async () => {
    const result = await inNs('getent', ['hosts', 'sandbox.vm']);
    expect(result.stdout).toMatch(new RegExp(`^${GUEST_IP.replace(/\./g, '\\.')}\\s+sandbox\\.vm$`));
    expect((await inNs('getent', ['hosts', 'nope.vm'])).exitCode).not.toBe(0);
  });

  it('lets plain `ssh sandbox.vm` in with strict checking against the pinned key', async () => {
    await writeFile(join(dir, 'known_hosts'), `sandbox.vm ${hostPublicKey}\n`);
    let result = await inNs('ssh', ['-F', join(dir, 'ssh_config'), '-o', 'BatchMode=yes', 'sandbox.vm', 'echo "$(id -un)"']);
    for (let i = 0; i < 20 && result.exitCode === 255 && /refused/.test(result.stderr); i++) {
      await new Promise((r) => setTimeout(r, 250)); // sshd still starting
      result = await inNs('ssh', ['-F', join(dir, 'ssh_config'), '-o', 'BatchMode=yes', 'sandbox.vm', 'echo "$(id -un)"']);
    }
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('root');
    expect(result.exitCode).toBe(0);
  });

  it('refuses the guest when the pinned key is another one', async () => {
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'other')]);
    const other = (await readFile(join(dir, 'other.pub'), 'utf8')).trim().split(' ').slice(0, 2).join(' ');
    await writeFile(join(dir, 'known_hosts'), `sandbox.vm ${other}\n`);
    const result = await inNs('ssh', ['-F', join(dir, 'ssh_config'), '-o', 'BatchMode=yes', 'sandbox.vm', 'true']);
    expect(result.exitCode).toBe(255);
    expect(result.stderr).toMatch(/HOST IDENTIFICATION HAS CHANGED|host key/i);
  });
});
