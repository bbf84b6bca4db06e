import { chmod, mkdir, readFile, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HostCommandError } from '@banger/errors';
import { findExecutable, hostTscKhz, run } from '@banger/host';

/** Why QEMU boot tests cannot run here, or undefined when they can. */
export function qemuSkipReason(): string | undefined {
  for (const tool of ['qemu-system-x86_64', 'mkfs.ext4', 'busybox']) if (!findExecutable(tool)) return `${tool} is not installed`;
  return undefined;
}

export interface MicrovmBoot {
  /** Everything the guest printed on ttyS0. */
  console: string;
  exitCode: number;
  timedOut: boolean;
}

/**
 * Boots `vmlinux` + `initrd` under `qemu-system-x86_64 -M microvm` with TCG,
 * the given disks as virtio-blk-device in order (vda, vdb, vdc…), the serial
 * console in a file, and `tsc_early_khz=` so TCG calibration cannot hang.
 * QEMU is killed after `timeoutMs`.
 */
export async function bootMicrovm(options: {
  vmlinux: string;
  initrd: string;
  disks: { file: string; readonly?: boolean }[];
  append: string;
  workDir: string;
  timeoutMs?: number;
}): Promise<MicrovmBoot> {
  const consoleFile = join(options.workDir, `console-${Date.now()}.log`);
  const khz = hostTscKhz();
  const append = `${options.append}${khz ? ` tsc_early_khz=${khz} tsc=reliable` : ''}`;
  const args = ['-M', 'microvm', '-accel', 'tcg', '-cpu', 'max', '-m', '512', '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
    '-kernel', options.vmlinux, '-initrd', options.initrd, '-append', append, '-serial', `file:${consoleFile}`];
  options.disks.forEach((disk, i) => {
    args.push('-drive', `id=d${i},file=${disk.file},format=raw,if=none${disk.readonly ? ',readonly=on' : ''}`, '-device', `virtio-blk-device,drive=d${i}`);
  });
  let exitCode = 0;
  let timedOut = false;
  try {
    exitCode = (await run('qemu-system-x86_64', args, { timeoutMs: options.timeoutMs ?? 120_000, allowFailure: true })).exitCode;
  } catch (error) {
    if (!(error instanceof HostCommandError) || !/timed out/.test(error.message)) throw error;
    timedOut = true;
    exitCode = -1;
  }
  const console = await readFile(consoleFile, 'utf8').catch(() => '');
  return { console, exitCode, timedOut };
}

/** The marker the test root disk's init prints first. */
export const GUEST_MARKER = 'BANGER-E2E-MARKER';

/**
 * A tiny ext4 root disk: static busybox plus an /sbin/init that prints the
 * marker, `uname -r`, the content of /lib/modules, whether modprobe works
 * from the modules disk, and powers off.
 */
export async function makeTestRootDisk(workDir: string): Promise<string> {
  const tree = join(workDir, 'rootfs');
  for (const dir of ['bin', 'sbin', 'dev', 'proc', 'sys', 'lib/modules', 'root', 'tmp']) await mkdir(join(tree, dir), { recursive: true });
  await writeFile(join(tree, 'bin/busybox'), await readFile(findExecutable('busybox')!));
  await chmod(join(tree, 'bin/busybox'), 0o755);
  await symlink('busybox', join(tree, 'bin/sh'));
  await writeFile(
    join(tree, 'sbin/init'),
    [
      '#!/bin/sh',
      'B=/bin/busybox',
      `$B echo ${GUEST_MARKER}`,
      'kver=$($B uname -r)',
      '$B echo "guest-kernel=$kver"',
      '$B echo "guest-modules=$($B ls /lib/modules | $B tr "\\n" " ")"',
      '$B test -f "/lib/modules/$kver/modules.dep" && $B echo guest-modules-dep=yes',
      '$B modprobe overlay && $B grep -q overlay /proc/filesystems && $B echo guest-modprobe-overlay=yes',
      '$B awk \'$2 == "/" || $2 == "/lib/modules" { print "guest-mount=" $1 "," $2 "," $4 }\' /proc/mounts',
      '$B poweroff -f',
      '',
    ].join('\n'),
  );
  await chmod(join(tree, 'sbin/init'), 0o755);
  const disk = join(workDir, 'root.ext4');
  await writeFile(disk, '');
  await truncate(disk, 64 * 1024 * 1024);
  await run('mkfs.ext4', ['-q', '-F', '-L', 'test-root', '-d', tree, disk]);
  return disk;
}

/** An empty ext4 work disk labelled banger-work, as the VM layer makes. */
export async function makeWorkDisk(workDir: string): Promise<string> {
  const disk = join(workDir, 'work.ext4');
  await writeFile(disk, '');
  await truncate(disk, 16 * 1024 * 1024);
  await run('mkfs.ext4', ['-q', '-F', '-L', 'banger-work', disk]);
  return disk;
}
