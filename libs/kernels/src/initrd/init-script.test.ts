import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findExecutable, run } from '@banger/host';
import { prerequisites } from '@banger/host/testing';
import { INIT_SCRIPT } from './init-script.js';

const busybox = prerequisites(['busybox']);
const chroot = prerequisites(['busybox', 'chroot'], { root: true });

describe('the initrd /init script', () => {
  it.skipIf(busybox.skip)('parses as a busybox sh script', async () => {
    busybox.assert();
    const result = await run('busybox', ['sh', '-n'], { input: INIT_SCRIPT, allowFailure: true });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
  });

  it('starts with a shebang and switch_roots at the end', () => {
    expect(INIT_SCRIPT.startsWith('#!/bin/sh\n')).toBe(true);
    expect(INIT_SCRIPT.trimEnd().endsWith('exec switch_root /newroot "$init" "$@"')).toBe(true);
  });

  // The script itself, run by busybox sh as /init in a chroot: the commands that act on the machine
  // (mount, findfs, switch_root, reboot) are stubs that write what they were asked into
  // /calls.log; /proc/cmdline and /proc/uptime are files; sleep advances the uptime (a simulated
  // clock, so a root-device timeout takes no real time). Everything else is the real busybox.
  describe.skipIf(chroot.skip)('run as /init in a chroot', () => {
    let root: string;
    beforeEach(async () => {
      chroot.assert();
      root = await mkdtemp(join(tmpdir(), 'banger-init-'));
      for (const dir of ['bin', 'proc', 'dev', 'lib/modules', 'newroot/sbin', 'newroot/dev', 'newroot/proc', 'newroot/sys']) await mkdir(join(root, dir), { recursive: true });
      await copyFile(findExecutable('busybox')!, join(root, 'bin/busybox'));
      await run('chroot', [root, '/bin/busybox', '--install', '-s', '/bin']);
      const stub = async (name: string, body: string): Promise<void> => {
        await rm(join(root, 'bin', name), { force: true });
        await writeFile(join(root, 'bin', name), `#!/bin/sh\necho "${name} $*" >> /calls.log\n${body}\n`, { mode: 0o755 });
      };
      for (const name of ['mount', 'umount', 'switch_root']) await stub(name, 'exit 0');
      await stub('reboot', 'kill -9 $PPID');
      await stub('findfs', 'case "$1" in LABEL=banger-root) echo /dev/vda ;; LABEL=banger-modules) echo /dev/vdc ;; *) exit 1 ;; esac');
      await stub('sleep', 'read -r up rest < /proc/uptime; echo "$((${up%%.*} + 1)).00 0.00" > /proc/uptime');
      await writeFile(join(root, 'proc/uptime'), '100.00 0.00\n');
      // The console is a FIFO drained into /console.log: the script opens it afresh (`>`) for every line.
      await run('mkfifo', [join(root, 'dev/console')]);
      await run('mknod', ['-m', '666', join(root, 'dev/null'), 'c', '1', '3']);
      await writeFile(join(root, 'newroot/sbin/init'), '');
      await writeFile(join(root, 'newroot/sbin/custom'), '');
      await writeFile(join(root, 'init'), INIT_SCRIPT, { mode: 0o755 });
    });
    afterEach(async () => {
      if (root) await rm(root, { recursive: true, force: true });
    });

    const boot = async (cmdline: string, args: string[] = []) => {
      await writeFile(join(root, 'proc/cmdline'), `${cmdline}\n`);
      const wrapper = 'exec 3<>/dev/console; /bin/busybox cat <&3 >> /console.log & drain=$!; /bin/sh /init "$@"; status=$?; /bin/busybox sleep 0.3; kill $drain; exit $status';
      const result = await run('chroot', [root, '/bin/sh', '-c', wrapper, 'init', ...args], { allowFailure: true, timeoutMs: 60_000 });
      const read = async (file: string) => (await readFile(join(root, file), 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
      return { result, calls: await read('calls.log'), console: await read('console.log') };
    };

    it('tries the boot modules in order, mounts the root and the modules disk as asked, and switch_roots to init= with the extra words', async () => {
      const kver = (await run('uname', ['-r'])).stdout.trim();
      await writeFile(join(root, 'lib/modules/boot.order'), 'kernel/drivers/virtio_blk.ko\nkernel/fs/ext4.ko\n');
      const { result, calls, console } = await boot('root=LABEL=banger-root ro rootfstype=ext4 rootflags=noatime init=/sbin/custom banger.modules=LABEL=banger-modules quiet', ['quiet']);
      expect(result.exitCode, result.stderr).toBe(0);
      // insmod is busybox's own (its shell runs the applet, not a stub on PATH): the .ko files do not
      // exist, so each is tried in boot.order's order under the running kernel's release and reported.
      const tried = console.filter((l) => l.includes('insmod ')).map((l) => l.replace(/^banger-initrd: \[[\d.]+\] /, '').split(':')[0]);
      expect(tried).toEqual(['insmod kernel/drivers/virtio_blk.ko failed', 'insmod kernel/fs/ext4.ko failed']);
      expect(console.join('\n')).toContain(`can't insert '/lib/modules/${kver}/kernel/drivers/virtio_blk.ko'`);
      expect(console.some((l) => l.endsWith('loaded 0 modules (failed: virtio_blk.ko ext4.ko)')), console.join('\n')).toBe(true);
      expect(calls.filter((c) => !c.startsWith('mount -t proc') && !c.startsWith('mount -t sysfs') && !c.startsWith('mount -t devtmpfs') && !c.startsWith('findfs'))).toEqual([
        'mount -t ext4 -o ro,noatime /dev/vda /newroot',
        'mount -t ext4 -o ro /dev/vdc /newroot/lib/modules',
        'mount --move /dev /newroot/dev',
        'mount --move /proc /newroot/proc',
        'mount --move /sys /newroot/sys',
        'switch_root /newroot /sbin/custom quiet',
      ]);
      expect(console.at(-1)).toBe('banger-initrd: switching to /sbin/custom');
    });

    it('mounts read-write without rootfstype, and defaults init to /sbin/init', async () => {
      const { result, calls } = await boot('root=LABEL=banger-root rw');
      expect(result.exitCode, result.stderr).toBe(0);
      expect(calls).toContain('mount -o rw /dev/vda /newroot');
      expect(calls.at(-1)).toBe('switch_root /newroot /sbin/init');
    });

    it('gives up on a root device that never appears after banger.roottimeout seconds, says why and reboots', async () => {
      const { calls, console } = await boot('root=LABEL=elsewhere banger.roottimeout=3');
      expect(console.join('\n')).toContain('FATAL: root device LABEL=elsewhere did not appear within 3 s');
      expect(calls.at(-1)).toBe('reboot -f');
      expect(calls.some((c) => c.startsWith('switch_root'))).toBe(false);
    });

    it('refuses a root without the init it was asked to run', async () => {
      const { calls, console } = await boot('root=LABEL=banger-root init=/sbin/missing');
      expect(console.join('\n')).toContain('FATAL: the root filesystem on /dev/vda has no /sbin/missing');
      expect(calls.at(-1)).toBe('reboot -f');
    });

    it('stops at once without root=', async () => {
      const { calls, console } = await boot('quiet');
      expect(console.join('\n')).toContain('FATAL: no root= on the kernel command line');
      expect(calls.filter((c) => c.startsWith('mount -t ext4') || c.startsWith('mount -o'))).toEqual([]);
    });
  });
});
