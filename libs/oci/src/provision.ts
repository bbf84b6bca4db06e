import { lstat, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '@banger/errors';
import { runPrivileged, type ProgressSink } from '@banger/host';
import {
  CONTRACT_ENABLED_UNITS,
  CONTRACT_MASKED_UNITS,
  FSTAB,
  FSTAB_NON_SYSTEMD,
  SSH_DROPIN,
  SSH_DROPIN_PATH,
  HOSTS,
  JOURNALD_DROPIN,
  JOURNALD_DROPIN_PATH,
  NETWORK_FILES,
  RESOLV_SCRIPT,
  RESOLV_SCRIPT_PATH,
  RESOLV_UNIT,
  RESOLV_UNIT_NAME,
  SSHD_CONFIG,
  WORK_DISK_SCRIPT,
  WORK_DISK_SCRIPT_PATH,
  WORK_DISK_UNIT,
  WORK_DISK_UNIT_NAME,
} from '@banger/images';
import {
  enableUnit,
  guestFileExists,
  listGuestDir,
  maskUnit,
  mkdirGuest,
  removeGuestPath,
  writeGuestFile,
} from './guest-files.js';
import { distroFamily, type DistroFamily, type OsRelease } from './os-release.js';

/** What an unpacked image has of what a banger VM needs to boot and be reached. */
export interface BootCheck {
  /** /sbin/init exists (following symlinks inside the image). */
  init: boolean;
  /** An sshd binary exists (/usr/sbin/sshd or /sbin/sshd). */
  sshd: boolean;
}

export async function checkBootable(root: string): Promise<BootCheck> {
  return {
    init: await guestFileExists(root, '/sbin/init'),
    sshd: (await guestFileExists(root, '/usr/sbin/sshd')) || (await guestFileExists(root, '/sbin/sshd')),
  };
}

/** Refuses an image that lacks an init or an sshd, saying exactly which. */
export function assertBootable(check: BootCheck, where: string, os: OsRelease | undefined): void {
  const missing = [!check.init && 'no /sbin/init', !check.sshd && 'no sshd (/usr/sbin/sshd)'].filter(Boolean) as string[];
  if (missing.length === 0) return;
  const family = os && distroFamily(os);
  throw new UserError('OCI_IMAGE_NOT_BOOTABLE', `image ${where} cannot boot as a VM: it has ${missing.join(' and ')}`, {
    hint: family
      ? `pass --provision to install systemd and openssh-server with the image's ${packageManager(family)}`
      : `banger can provision Debian/Ubuntu, Alpine and Fedora images only (this one is ${os ? `"${os.id}"` : 'of unknown distribution: no /etc/os-release'}); use an image that has an init and sshd`,
  });
}

const packageManager = (family: DistroFamily): string => ({ debian: 'apt', alpine: 'apk', fedora: 'dnf' })[family];

/** The shell run inside the image (chroot) to install what a banger guest needs, per family. */
export function provisionCommand(family: DistroFamily): string {
  switch (family) {
    case 'debian':
      return [
        'set -eu',
        'export DEBIAN_FRONTEND=noninteractive',
        'apt-get update -q',
        'apt-get install -y -q --no-install-recommends systemd systemd-sysv udev kmod openssh-server iproute2 ca-certificates',
        'apt-get clean',
        'rm -rf /var/lib/apt/lists/*',
      ].join('\n');
    case 'fedora':
      return [
        'set -eu',
        'dnf -y -q install --setopt=install_weak_deps=False systemd systemd-networkd systemd-udev kmod openssh-server iproute',
        'dnf clean all',
      ].join('\n');
    case 'alpine':
      return [
        'set -eu',
        'apk add --no-cache openrc busybox-openrc openssh-server iproute2 kmod',
        'rc-update add devfs sysinit; rc-update add dmesg sysinit; rc-update add mdev sysinit',
        'rc-update add hostname boot; rc-update add bootmisc boot; rc-update add localmount boot; rc-update add modules boot',
        'rc-update add sshd default; rc-update add local default',
        'rc-update add mount-ro shutdown; rc-update add killprocs shutdown',
      ].join('\n');
  }
}

/**
 * Alpine has no systemd-networkd: this local.d script turns the kernel's `ip=`
 * argument into eth0's address, route and resolv.conf at boot.
 */
const ALPINE_NET_SCRIPT = `#!/bin/sh
# banger: eth0 from the kernel's ip=<client>::<gw>:<netmask>:<hostname>:<dev>:off:<dns0>
for arg in $(cat /proc/cmdline); do case "$arg" in ip=*) spec="\${arg#ip=}" ;; esac; done
[ -n "\${spec:-}" ] || exit 0
IFS=: read -r ip _ gw mask host dev _ dns0 dns1 <<EOF2
$spec
EOF2
dev=\${dev:-eth0}
ip link set lo up
ip link set "$dev" up
ip addr add "$ip/$mask" dev "$dev"
[ -n "$gw" ] && ip route add default via "$gw"
[ -n "$host" ] && hostname "$host"
{ [ -n "$dns0" ] && echo "nameserver $dns0"; [ -n "\${dns1:-}" ] && echo "nameserver $dns1"; } > /etc/resolv.conf
exit 0
`;

/** Options of provisionTree. */
export interface ProvisionOptions {
  signal?: AbortSignal;
  progress?: ProgressSink;
}

/**
 * Runs the image's own package manager inside the unpacked tree to add an
 * init, udev, kmod, sshd and iproute2. The chroot gets /proc, /sys and /dev
 * and the host's resolv.conf (the host's network is used). All of it runs in
 * a private mount namespace (`unshare --mount --pid --fork`): the mounts
 * vanish with the namespace even if bangerd is killed mid-install, so no
 * bind mount of the host's /dev is ever left inside a directory banger later
 * deletes. A `policy-rc.d` keeps packages from starting services on the host.
 * This executes the image's code as root: provision images you trust.
 */
export async function provisionTree(root: string, family: DistroFamily, options: ProvisionOptions = {}): Promise<void> {
  for (const dir of ['proc', 'sys', 'dev', 'etc', 'tmp']) {
    const host = join(root, dir);
    const st = await lstat(host).catch(() => undefined);
    // a hostile /proc -> /etc symlink would otherwise make mount cover a host directory
    if (st && !st.isDirectory()) await removeGuestPath(root, `/${dir}`);
    await mkdir(host, { recursive: true, mode: dir === 'tmp' ? 0o1777 : 0o755 });
  }
  const resolvConf = await readFile('/etc/resolv.conf', 'utf8').catch(() => 'nameserver 127.0.0.53\n');
  await writeGuestFile(root, '/etc/resolv.conf', resolvConf);
  if (family === 'debian') await writeGuestFile(root, '/usr/sbin/policy-rc.d', '#!/bin/sh\nexit 101\n', 0o755);
  const script = [
    'set -eu',
    'root="$1"',
    'mount -t proc proc "$root/proc"',
    'mount -t sysfs -o ro sysfs "$root/sys"',
    'mount --bind /dev "$root/dev"',
    'exec chroot "$root" /bin/sh -c "$2"',
  ].join('\n');
  options.progress?.line?.(`provisioning with ${packageManager(family)} inside the image`);
  try {
    await runPrivileged('unshare', ['--mount', '--propagation', 'private', '--pid', '--fork', '--', 'sh', '-c', script, 'banger-provision', root, provisionCommand(family)], {
      ...(options.signal ? { signal: options.signal } : {}),
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
      onLine: (line) => options.progress?.line?.(line),
      timeoutMs: 30 * 60 * 1000,
    });
  } finally {
    await removeGuestPath(root, '/usr/sbin/policy-rc.d');
  }
  if (family === 'alpine') {
    await writeGuestFile(root, '/etc/local.d/banger-net.start', ALPINE_NET_SCRIPT, 0o755);
  }
}

/**
 * Writes banger's part of the guest contract into a tree: sshd_config (the
 * seed's Security section), the work disk on /root (a systemd unit that
 * mounts vdb without waiting for udev; the fstab line for an init that is not
 * systemd, such as Alpine's OpenRC),
 * hosts/hostname, the resolv.conf one-shot, eth0 from ip= (banger-network.service, networkd the fallback), /lib/modules for the modules
 * disk, /root/.ssh, and enables networkd + network-generator (symlinks, no
 * code from the image runs). Per-VM identity is removed: ssh host keys and
 * the machine id.
 */
export async function writeGuestContract(root: string): Promise<void> {
  await writeGuestFile(root, '/etc/ssh/sshd_config', SSHD_CONFIG);
  await removeGuestPath(root, '/etc/ssh/sshd_config.d');
  for (const key of await listGuestDir(root, '/etc/ssh')) {
    if (/\/ssh_host_[^/]*key(\.pub)?$/.test(key)) await removeGuestPath(root, key);
  }
  const systemd = (await guestFileExists(root, '/lib/systemd/systemd')) || (await guestFileExists(root, '/usr/lib/systemd/systemd'));
  await writeGuestFile(root, '/etc/fstab', systemd ? FSTAB : FSTAB_NON_SYSTEMD);
  await writeGuestFile(root, WORK_DISK_SCRIPT_PATH, WORK_DISK_SCRIPT, 0o755);
  await writeGuestFile(root, `/etc/systemd/system/${WORK_DISK_UNIT_NAME}`, WORK_DISK_UNIT);
  await writeGuestFile(root, SSH_DROPIN_PATH, SSH_DROPIN);
  await writeGuestFile(root, JOURNALD_DROPIN_PATH, JOURNALD_DROPIN);
  await writeGuestFile(root, '/etc/hosts', HOSTS);
  await writeGuestFile(root, '/etc/hostname', 'banger\n');
  await writeGuestFile(root, RESOLV_SCRIPT_PATH, RESOLV_SCRIPT, 0o755);
  await writeGuestFile(root, `/etc/systemd/system/${RESOLV_UNIT_NAME}`, RESOLV_UNIT);
  for (const file of NETWORK_FILES) await writeGuestFile(root, file.path, file.content, file.mode);
  await writeGuestFile(root, '/etc/machine-id', '');
  // provisioning left the host's resolver here; the guest's comes from ip= at boot
  await writeGuestFile(root, '/etc/resolv.conf', '# written at boot from the kernel ip= argument by banger-resolv.service\n');
  await mkdirGuest(root, '/lib/modules');
  await mkdirGuest(root, '/root', 0o700);
  await mkdirGuest(root, '/root/.ssh', 0o700);
  for (const unit of [...CONTRACT_ENABLED_UNITS, 'ssh.service', 'sshd.service']) await enableUnit(root, unit);
  for (const unit of CONTRACT_MASKED_UNITS) await maskUnit(root, unit);
}

