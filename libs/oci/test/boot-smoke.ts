import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostTscKhz, kvmUsable, run } from '@banger/host';

/** A kernel bundle as the kernels lib writes it: vmlinux, initrd.img, modules.ext4. */
export interface KernelBundle {
  vmlinux: string;
  initrd: string;
  modules: string;
}

/**
 * Boots `rootfs` (copied) under QEMU inside a throwaway network namespace,
 * with user-mode networking restricted to a host-forward on the namespace's
 * loopback, and runs `command` over ssh as root. Follows the guest contract:
 * vda rootfs with a host key written by debugfs, vdb the banger-work disk
 * holding authorized_keys, vdc the modules disk. Everything is torn down in
 * `finally`, the namespace included.
 */
export async function bootAndSsh(rootfs: string, kernel: KernelBundle, workDir: string, command: string): Promise<{ stdout: string; console: string }> {
  await mkdir(workDir, { recursive: true });
  const disk = join(workDir, 'root.ext4');
  await run('cp', ['--sparse=always', rootfs, disk]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(workDir, 'hostkey')]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(workDir, 'userkey')]);
  await run('debugfs', ['-w', '-f', '-', disk], {
    input: [
      'cd /etc/ssh',
      `write ${join(workDir, 'hostkey')} ssh_host_ed25519_key`,
      `write ${join(workDir, 'hostkey.pub')} ssh_host_ed25519_key.pub`,
      'set_inode_field ssh_host_ed25519_key mode 0100600',
      '',
    ].join('\n'),
  });
  const workTree = join(workDir, 'work-tree');
  await mkdir(join(workTree, '.ssh'), { recursive: true });
  await copyFile(join(workDir, 'userkey.pub'), join(workTree, '.ssh/authorized_keys'));
  await chmod(join(workTree, '.ssh'), 0o700);
  await chmod(join(workTree, '.ssh/authorized_keys'), 0o600);
  await chmod(workTree, 0o700);
  const workDisk = join(workDir, 'work.ext4');
  await writeFile(workDisk, '');
  await run('truncate', ['-s', '128M', workDisk]);
  await run('mkfs.ext4', ['-q', '-L', 'banger-work', '-d', workTree, workDisk]);

  const ns = `banger-test-${randomBytes(4).toString('hex')}`;
  const consoleLog = join(workDir, 'console.log');
  const tcg = !kvmUsable();
  const khz = hostTscKhz();
  const append = [
    'console=ttyS0 reboot=k panic=1 root=/dev/vda rw net.ifnames=0',
    'ip=10.0.2.15::10.0.2.2:255.255.255.0:ocismoke:eth0:off:10.0.2.3 systemd.hostname=ocismoke banger.modules=/dev/vdc',
    ...(tcg && khz ? [`tsc_early_khz=${khz} tsc=reliable`] : []),
  ].join(' ');
  await run('ip', ['netns', 'add', ns]);
  let qemu: ReturnType<typeof spawn> | undefined;
  try {
    await run('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    qemu = spawn(
      'ip',
      [
        'netns', 'exec', ns, 'qemu-system-x86_64',
        '-M', 'microvm', ...(tcg ? ['-accel', 'tcg', '-cpu', 'max'] : ['-accel', 'kvm', '-cpu', 'host']),
        '-m', '1024', '-smp', '2', '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
        '-kernel', kernel.vmlinux, '-initrd', kernel.initrd, '-append', append,
        '-chardev', `file,id=console,path=${consoleLog}`, '-serial', 'chardev:console',
        '-drive', `id=vda,file=${disk},format=raw,if=none`, '-device', 'virtio-blk-device,drive=vda',
        '-drive', `id=vdb,file=${workDisk},format=raw,if=none`, '-device', 'virtio-blk-device,drive=vdb',
        '-drive', `id=vdc,file=${kernel.modules},format=raw,if=none,readonly=on`, '-device', 'virtio-blk-device,drive=vdc',
        // restrict=on: the guest can reach nothing; only the forwarded port comes in, on the namespace's loopback
        '-netdev', 'user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22', '-device', 'virtio-net-device,netdev=n0',
      ],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 240_000;
    for (;;) {
      const result = await run(
        'ip',
        ['netns', 'exec', ns, 'ssh', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${await knownHosts(workDir)}`,
          '-o', 'ConnectTimeout=5', '-i', join(workDir, 'userkey'), '-p', '2222', 'root@127.0.0.1', command],
        { allowFailure: true, timeoutMs: 60_000 },
      );
      if (result.exitCode === 0) return { stdout: result.stdout, console: await readFile(consoleLog, 'utf8').catch(() => '') };
      if (Date.now() > deadline || qemu.exitCode !== null) {
        throw new Error(`no ssh into the guest: ${result.stderr.trim()}\n--- console ---\n${(await readFile(consoleLog, 'utf8').catch(() => '')).slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 3000));
    }
  } finally {
    if (qemu && qemu.exitCode === null) {
      const exited = new Promise((r) => qemu!.once('exit', r));
      qemu.kill('SIGTERM');
      await exited;
    }
    await run('ip', ['netns', 'del', ns], { allowFailure: true });
  }
}

/** A known_hosts pinning the host key written into the guest, as banger does. */
async function knownHosts(workDir: string): Promise<string> {
  const path = join(workDir, 'known_hosts');
  const pub = (await readFile(join(workDir, 'hostkey.pub'), 'utf8')).trim().split(' ').slice(0, 2).join(' ');
  await writeFile(path, `[127.0.0.1]:2222 ${pub}\n`);
  return path;
}
