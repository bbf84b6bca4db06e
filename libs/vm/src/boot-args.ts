import type { VmDisk } from '@banger/hypervisor';
import type { GuestNetwork } from '@banger/network';

/**
 * The guest part of the kernel command line, exactly as the guest contract
 * (docs/vm-lifecycle.md) fixes it: serial console, reboot = exit, the rootfs
 * on vda read-write, eth0 configured from `ip=` by systemd-network-generator,
 * the hostname, and the kernel-modules disk the initrd mounts on /lib/modules.
 * Drivers append only what their machine needs (QEMU TCG: tsc_early_khz=).
 */
export function vmBootArgs(options: { hostname: string; network: Pick<GuestNetwork, 'bootArg'> }): string {
  return [
    'console=ttyS0',
    'reboot=k',
    'panic=1',
    'root=/dev/vda',
    'rw',
    'net.ifnames=0',
    options.network.bootArg,
    `systemd.hostname=${options.hostname}`,
    'banger.modules=/dev/vdc',
  ].join(' ');
}

/**
 * The disks in contract order: vda rootfs (rw), vdb work disk (rw), vdc kernel
 * modules (ro), and vdd the guest agent's runtime disk (ro, label
 * `banger-runtime`, mounted by the agent unit) when there is one.
 */
export function vmDisks(paths: { rootfs: string; workDisk: string; modules: string; runtime?: string }): VmDisk[] {
  return [
    { id: 'rootfs', path: paths.rootfs, readOnly: false },
    { id: 'work', path: paths.workDisk, readOnly: false },
    { id: 'modules', path: paths.modules, readOnly: true },
    ...(paths.runtime ? [{ id: 'runtime', path: paths.runtime, readOnly: true }] : []),
  ];
}
