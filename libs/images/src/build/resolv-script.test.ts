import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RESOLV_SCRIPT } from './guest-config.js';

/** Runs the guest's resolv.conf one-shot on the host with its paths redirected into a temp dir. */
function runScript(cmdline: string, hosts = '127.0.0.1 localhost\n', hostname = 'sandbox'): { resolv: string | undefined; hosts: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'banger-resolv-'));
  writeFileSync(join(dir, 'cmdline'), `${cmdline}\n`);
  writeFileSync(join(dir, 'hosts'), hosts);
  const script = RESOLV_SCRIPT.replaceAll('/proc/cmdline', `${dir}/cmdline`)
    .replaceAll('/etc/resolv.conf', `${dir}/resolv.conf`)
    .replaceAll('/etc/hosts', `${dir}/hosts`)
    .replace('name=$(hostname)', `name=${hostname}`);
  execFileSync('sh', ['-c', script]);
  let resolv: string | undefined;
  try {
    resolv = readFileSync(join(dir, 'resolv.conf'), 'utf8');
  } catch {
    resolv = undefined;
  }
  return { resolv, hosts: readFileSync(join(dir, 'hosts'), 'utf8'), dir };
}

describe('the resolv.conf one-shot baked into images', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('writes the dns0 and dns1 fields of ip= as nameservers and makes the hostname resolvable', () => {
    const out = runScript('console=ttyS0 root=/dev/vda rw ip=172.16.0.5::172.16.0.1:255.255.255.0:sandbox:eth0:off:172.16.0.1:1.1.1.1 systemd.hostname=sandbox');
    dirs.push(out.dir);
    expect(out.resolv).toBe('# Written at boot by banger-resolv.service from the kernel\'s ip= argument.\nnameserver 172.16.0.1\nnameserver 1.1.1.1\n');
    expect(out.hosts).toBe('127.0.0.1 localhost\n127.0.1.1 sandbox\n');
  });

  it('replaces a stale hostname line instead of adding another', () => {
    const out = runScript('ip=10.0.2.15::10.0.2.2:255.255.255.0:box:eth0:off:10.0.2.3', '127.0.0.1 localhost\n127.0.1.1 old\n', 'box');
    dirs.push(out.dir);
    expect(out.resolv).toContain('nameserver 10.0.2.3\n');
    expect(out.hosts).toBe('127.0.0.1 localhost\n127.0.1.1 box\n');
  });

  it('leaves resolv.conf alone when ip= carries no DNS server', () => {
    const out = runScript('ip=10.0.2.15::10.0.2.2:255.255.255.0:box:eth0:off');
    dirs.push(out.dir);
    expect(out.resolv).toBeUndefined();
  });
});
