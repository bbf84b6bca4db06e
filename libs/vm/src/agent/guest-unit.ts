import { InternalError } from '@banger/errors';
import { debugfsQuote, runDebugfs, statInode } from '@banger/disks';
import { readImageText, writeImageFiles } from '../image-files.js';
import { RUNTIME_AGENT_LAUNCHER, RUNTIME_DISK_LABEL, RUNTIME_MOUNT_POINT } from './runtime-disk.js';

/** The agent's systemd unit in every VM's rootfs. */
export const AGENT_UNIT_PATH = '/etc/systemd/system/banger-agent.service';
/** Its enablement: wanted by sysinit.target, so it starts early — before the network and sshd. */
export const AGENT_UNIT_WANTS = '/etc/systemd/system/sysinit.target.wants/banger-agent.service';
/** The virtio-serial port the agent serves under QEMU (`banger.agent`); under Firecracker it serves vsock port 1024 through its relay. */
export const AGENT_GUEST_PORT = '/dev/virtio-ports/banger.agent';

/**
 * The unit. Everything version-specific (node, libraries, the agent) lives on
 * the runtime disk, so this text rarely changes and old rootfs copies keep
 * working with newer disks. No default dependencies: it needs only /run, the
 * disk and /root (the work disk, mounted by `banger-work-disk.service` in
 * images since issue 19 without waiting for udev; in older images the
 * ordering names no unit and does nothing). `mount LABEL=` probes the block devices itself (no udev symlink
 * needed); while the disk is not there yet the mount fails and the unit is
 * restarted after 1 s, forever (StartLimitIntervalSec=0), as is the agent
 * when it dies. `--auto`: the agent serves the virtio-serial port when the
 * VM has one (QEMU), else vsock port 1024 through banger-vsock-relay
 * (Firecracker), and waits for the port to appear.
 */
export function agentUnitText(): string {
  return [
    '# Written by banger (the guest contract): the guest agent, from the read-only runtime disk.',
    '[Unit]',
    'Description=banger guest agent',
    'DefaultDependencies=no',
    // Commands run in /root: after the work disk's mount (early and udev-free in current images; a no-op ordering in older ones).
    'After=banger-work-disk.service',
    'Conflicts=shutdown.target',
    'Before=shutdown.target',
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    `ExecStartPre=/bin/sh -c 'mkdir -p ${RUNTIME_MOUNT_POINT} && { mountpoint -q ${RUNTIME_MOUNT_POINT} || mount -o ro LABEL=${RUNTIME_DISK_LABEL} ${RUNTIME_MOUNT_POINT}; }'`,
    `ExecStart=${RUNTIME_AGENT_LAUNCHER} --auto`,
    'Restart=always',
    'RestartSec=1',
    // While the guest boots, the agent (Node starting under TCG) gets the CPU before the rest of the boot; afterwards the default weight.
    'StartupCPUWeight=10000',
    // Session keepers are started by the agent and must outlive it: a restart (or stop) of the unit ends only the agent.
    'KillMode=process',
    '',
    '[Install]',
    'WantedBy=sysinit.target',
    '',
  ].join('\n');
}

/** Whether `rootfs` holds this banger's unit (and its enablement link). */
export async function hasAgentUnit(rootfs: string): Promise<boolean> {
  if ((await readImageText(rootfs, AGENT_UNIT_PATH)) !== agentUnitText()) return false;
  const link = await statInode(rootfs, AGENT_UNIT_WANTS);
  return link?.type === 'symlink' && link.linkTarget === AGENT_UNIT_PATH;
}

/**
 * Writes the unit and its `sysinit.target.wants` link into an unmounted rootfs
 * with debugfs (the same way as the host key and machine identity).
 */
export async function installAgentUnit(rootfs: string, options: { signal?: AbortSignal } = {}): Promise<void> {
  await writeImageFiles(rootfs, [{ path: AGENT_UNIT_PATH, content: agentUnitText() }], options);
  await runDebugfs(rootfs, ['mkdir /etc/systemd/system/sysinit.target.wants', `rm ${debugfsQuote(AGENT_UNIT_WANTS)}`, `symlink ${debugfsQuote(AGENT_UNIT_WANTS)} ${debugfsQuote(AGENT_UNIT_PATH)}`], {
    write: true,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  // debugfs exits 0 when a command fails: read it back.
  if (!(await hasAgentUnit(rootfs))) throw new InternalError('VM_IMAGE_WRITE_FAILED', `write the agent unit into ${rootfs}: it reads back differently`, { hint: 'check that the disk is ext4 and not mounted (e2fsck -fn <file>)' });
}
