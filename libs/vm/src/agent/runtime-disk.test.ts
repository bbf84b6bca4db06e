import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImageFile, run } from '@banger/host';
import { prerequisites } from '@banger/host/testing';
import { ensureRuntimeDisk, parseLdd, runtimeFiles } from './runtime-disk.js';

describe('parseLdd', () => {
  it('takes the libraries and the loader, skipping the vDSO', () => {
    const output = [
      '\tlinux-vdso.so.1 (0x00007ffd)',
      '\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f00)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f01)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f02)',
      '',
    ].join('\n');
    expect(parseLdd(output, '/usr/bin/node')).toEqual({
      libraries: ['/lib/x86_64-linux-gnu/libstdc++.so.6', '/lib/x86_64-linux-gnu/libc.so.6'],
      loader: '/lib64/ld-linux-x86-64.so.2',
    });
  });

  it('refuses a binary with a library ldd cannot find, naming it', () => {
    expect(() => parseLdd('\tlibfoo.so.1 => not found\n\t/lib64/ld-linux-x86-64.so.2 (0x1)\n', '/opt/node')).toThrow('/opt/node: ldd reports libfoo.so.1 not found');
  });
});

const needs = prerequisites(['ldd', 'mkfs.ext4', 'debugfs', 'e2label', 'gcc']);

describe.skipIf(needs.skip)(`the guest agent's runtime disk${needs.missing.length ? ` (missing: ${needs.missing.join(', ')})` : ''}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'banger-runtime-'));
  const agentBundle = join(dir, 'agent.js');
  const ptyHelper = join(dir, 'banger-pty');
  const vsockRelay = join(dir, 'banger-vsock-relay');
  const reseedHelper = join(dir, 'banger-reseed');
  const disks = join(dir, 'disks');
  const sources = () => ({ nodeBinary: process.execPath, agentBundle, ptyHelper, vsockRelay, reseedHelper });
  beforeAll(async () => {
    needs.assert();
    // A stand-in agent: ESM (top-level await), printing its arguments, so the launcher's loader, node and module path are all exercised.
    writeFileSync(agentBundle, "await Promise.resolve();\nconsole.log(`agent ${process.argv.slice(2).join(' ')} on ${process.version}`);\n");
    // The real PTY helper, built as `nx build @banger/vsock-agent` builds it.
    await run('sh', [join(import.meta.dirname, '../../../../apps/vsock-agent/native/build.sh'), ptyHelper]);
    await run('sh', [join(import.meta.dirname, '../../../../apps/vsock-agent/native/build.sh'), vsockRelay]);
    await run('sh', [join(import.meta.dirname, '../../../../apps/vsock-agent/native/build.sh'), reseedHelper]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('holds node, its libraries, the loader and the agent under label banger-runtime; built once per content key', async () => {
    const files = await runtimeFiles(sources());
    const first = await ensureRuntimeDisk(disks, files);
    expect(first.built).toBe(true);
    expect((await run('e2label', [first.path])).stdout.trim()).toBe('banger-runtime');
    const node = await readImageFile(first.path, '/bin/node');
    expect(createHash('sha256').update(node).digest('hex')).toBe(createHash('sha256').update(readFileSync(process.execPath)).digest('hex'));
    expect((await readImageFile(first.path, '/agent/banger-vsock-agent.mjs')).toString()).toBe(readFileSync(agentBundle, 'utf8'));
    expect(Buffer.compare(await readImageFile(first.path, '/bin/banger-pty'), readFileSync(ptyHelper))).toBe(0);
    expect(Buffer.compare(await readImageFile(first.path, '/bin/banger-vsock-relay'), readFileSync(vsockRelay))).toBe(0);
    expect(Buffer.compare(await readImageFile(first.path, '/bin/banger-reseed'), readFileSync(reseedHelper))).toBe(0);
    // No temp left, one disk.
    expect(readdirSync(disks)).toEqual([`${first.key}.ext4`]);

    const again = await ensureRuntimeDisk(disks, await runtimeFiles(sources()));
    expect(again).toEqual({ path: first.path, key: first.key, built: false });

    // Another agent is another key, hence another disk; the first stays for the VMs using it.
    writeFileSync(agentBundle, `${readFileSync(agentBundle, 'utf8')}// v2\n`);
    const other = await ensureRuntimeDisk(disks, await runtimeFiles(sources()));
    expect(other.key).not.toBe(first.key);
    expect(existsSync(first.path)).toBe(true);
  });

  it('runs the agent through the shipped loader and libraries (the launcher the guest unit starts)', async () => {
    const files = await runtimeFiles(sources());
    const disk = await ensureRuntimeDisk(disks, files);
    const tree = join(dir, 'tree');
    mkdirSync(tree);
    await run('debugfs', ['-R', `rdump / ${tree}`, disk.path]);
    const result = await run(join(tree, 'bin', 'banger-vsock-agent'), ['--serial', '/dev/x'], { env: { PATH: '/nonexistent', LD_LIBRARY_PATH: '' } });
    expect(result.stdout).toBe(`agent --serial /dev/x on ${process.version}\n`);
    // The loader the launcher runs is the disk's own, with the disk's libraries.
    expect(readFileSync(join(tree, 'bin', 'banger-vsock-agent'), 'utf8')).toContain('"$root/lib/ld-linux.so" --library-path "$root/lib"');
    // The PTY helper is executable from the disk and static (it runs in a guest of any libc).
    const pty = await run(join(tree, 'bin', 'banger-pty'), ['--', '/bin/sh', '-c', 'test -t 0 && echo on-a-tty'], { input: '' });
    expect(pty.stdout).toContain('on-a-tty');
    expect((await run('file', [join(tree, 'bin', 'banger-pty')])).stdout).toMatch(/statically linked/);
  });
});
