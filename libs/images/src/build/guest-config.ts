/**
 * The parts of banger's guest contract every image carries, whatever its
 * recipe says. The VM layer relies on each of them (see docs/image-catalog.md).
 */

/** The five directives of the seed README's Security section, verbatim and in order. */
export const SSHD_SECURITY_LINES = [
  'PermitRootLogin prohibit-password',
  'PubkeyAuthentication yes',
  'PasswordAuthentication no',
  'KbdInteractiveAuthentication no',
  'AuthorizedKeysFile /root/.ssh/authorized_keys',
] as const;

/**
 * /etc/ssh/sshd_config. The security block comes first (sshd keeps the first
 * value it reads), StrictModes stays at its default (on), and nothing is
 * included from sshd_config.d so no package can weaken it. The rest is
 * plumbing: the one host key the VM layer writes per VM (ed25519; listing it
 * stops sshd looking for rsa/ecdsa keys that are not there), sftp (scp uses
 * it since OpenSSH 9) and Debian's PAM session setup.
 */
export const SSHD_CONFIG = `# Written by banger's image build. Authentication is exactly the banger
# README's Security section: the host's ssh key is the only way in.
${SSHD_SECURITY_LINES.join('\n')}

# Each VM gets its own host key, written by banger before boot.
HostKey /etc/ssh/ssh_host_ed25519_key

UsePAM yes
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
`;

/**
 * /etc/fstab: only the rootfs (vda). The work disk is not listed: a fstab line
 * makes systemd wait for its device unit, which exists only once udev's
 * coldplug has processed the disk (≈ 16 s into a TCG boot, measured), and
 * then runs systemd-fsck on it. `banger-work-disk.service` mounts it instead.
 */
export const FSTAB = `# Written by banger's image build (guest contract: vda = rootfs, vdb = work disk).
/dev/vda / ext4 rw,relatime 0 1
# The work disk (vdb, label banger-work) is mounted on /root by banger-work-disk.service.
`;

/**
 * The fstab of an image whose init is not systemd (OCI imports of Alpine:
 * OpenRC's localmount reads it): the work disk by label.
 */
export const FSTAB_NON_SYSTEMD = `# Written by banger (guest contract: vda = rootfs, vdb = work disk).
/dev/vda / ext4 rw,relatime 0 1
LABEL=banger-work /root ext4 defaults,nofail 0 2
`;

/**
 * Mounts the work disk on /root early in boot without udev: the guest
 * contract fixes it at vdb, whose kernel node (devtmpfs) exists as soon as
 * virtio-blk has probed. No ordering either: it starts with the first units
 * (the root is mounted read-write by the kernel). The superblock is read once: an ext4 labelled
 * banger-work at vdb is mounted directly (any other layout falls back to
 * `mount LABEL=`, which probes the disks itself); a disk never mounted before
 * (banger made it for this boot) is not checked, any other gets `e2fsck -p`,
 * which returns at once on a clean file system.
 */
export const WORK_DISK_SCRIPT = `#!/bin/sh
# banger: the work disk (vdb, label banger-work) on /root, without waiting for udev.
# Two processes (od, mount) at most: each exec is expensive this early in a TCG boot.
set -u
dev=/dev/vdb
while read -r _ mp _; do [ "$mp" = /root ] && exit 0; done < /proc/mounts
i=0
while [ ! -b "$dev" ] && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
# ext4 superblock bytes 0x34-0x87 (the superblock is at 1024): mount count 0x34, magic 0x38, label 0x78.
set -- $(od -An -v -tx1 -j 1076 -N 84 "$dev" 2>/dev/null) x
if [ "$#" -lt 84 ] || [ "$5$6" != 53ef ] || [ "\${69}\${70}\${71}\${72}\${73}\${74}\${75}\${76}\${77}\${78}\${79}\${80}" != 62616e6765722d776f726b00 ]; then
  echo "banger-work-disk: $dev is not the ext4 labelled banger-work; mounting by label" >&2
  exec mount -o rw,relatime LABEL=banger-work /root
fi
if [ "$1$2" != 0000 ] && command -v e2fsck >/dev/null; then
  e2fsck -p "$dev"
  status=$?
  if [ "$status" -ge 4 ]; then echo "banger-work-disk: e2fsck -p $dev failed (exit $status): not mounting it" >&2; exit 1; fi
fi
exec mount -t ext4 -o rw,relatime "$dev" /root
`;

export const WORK_DISK_SCRIPT_PATH = '/usr/lib/banger/mount-work-disk';
export const WORK_DISK_UNIT_NAME = 'banger-work-disk.service';
export const WORK_DISK_UNIT = `# Written by banger (the guest contract): the work disk on /root, before local-fs.target.
[Unit]
Description=banger: the work disk on /root
DefaultDependencies=no
Before=local-fs.target umount.target
Conflicts=umount.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${WORK_DISK_SCRIPT_PATH}

[Install]
WantedBy=local-fs.target
`;

/**
 * A drop-in for ssh.service: root's authorized_keys lives on the work disk,
 * so sshd must not accept connections before /root is mounted (a slow boot
 * once let sshd start first and refuse the key).
 */
export const SSH_DROPIN_PATH = '/etc/systemd/system/ssh.service.d/banger-work-disk.conf';
export const SSH_DROPIN = `# Written by banger: /root (the work disk) holds root's authorized_keys.
[Unit]
Requires=${WORK_DISK_UNIT_NAME}
After=${WORK_DISK_UNIT_NAME}
`;

/**
 * Writes /etc/resolv.conf from the dns0/dns1 fields of the kernel's `ip=`
 * argument and makes the hostname resolvable. systemd-network-generator puts
 * DNS= into the .network file, but without systemd-resolved nothing turns that
 * into a resolv.conf, and resolved would cost a daemon and a stub listener
 * in every VM; this one-shot costs a few milliseconds.
 */
export const RESOLV_SCRIPT = `#!/bin/sh
# banger: /etc/resolv.conf and /etc/hosts from the kernel command line.
# ip=<client>:<server>:<gw>:<netmask>:<hostname>:<device>:<autoconf>:<dns0>:<dns1>
set -u
spec=
for arg in $(cat /proc/cmdline); do
  case "$arg" in ip=*) spec="\${arg#ip=}" ;; esac
done
if [ -n "$spec" ]; then
  dns0=$(printf '%s' "$spec" | cut -d: -f8)
  dns1=$(printf '%s' "$spec" | cut -d: -f9)
  if [ -n "$dns0$dns1" ]; then
    {
      echo "# Written at boot by banger-resolv.service from the kernel's ip= argument."
      if [ -n "$dns0" ]; then echo "nameserver $dns0"; fi
      if [ -n "$dns1" ]; then echo "nameserver $dns1"; fi
    } > /etc/resolv.conf.banger-tmp && mv -f /etc/resolv.conf.banger-tmp /etc/resolv.conf
  fi
fi
name=$(hostname)
if [ -n "$name" ] && ! grep -qE "^127\\.0\\.1\\.1[[:space:]]" /etc/hosts 2>/dev/null; then
  echo "127.0.1.1 $name" >> /etc/hosts
elif [ -n "$name" ]; then
  sed -i "s/^127\\.0\\.1\\.1[[:space:]].*/127.0.1.1 $name/" /etc/hosts
fi
exit 0
`;

export const RESOLV_SCRIPT_PATH = '/usr/lib/banger/write-resolv-conf';

export const RESOLV_UNIT = `[Unit]
Description=banger: resolv.conf and hosts from the kernel command line
DefaultDependencies=no
After=local-fs.target systemd-remount-fs.service
Before=network-pre.target nss-lookup.target sysinit.target
Wants=network-pre.target
ConditionKernelCommandLine=ip

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${RESOLV_SCRIPT_PATH}

[Install]
WantedBy=sysinit.target
`;

export const RESOLV_UNIT_NAME = 'banger-resolv.service';

/**
 * Configures eth0 from the kernel's `ip=` argument as soon as systemd starts
 * (issue 19). With networkd the guest's network waited for udev's coldplug
 * (networkd configures a link only once udev has processed it), for
 * sysinit.target and basic.target, and for networkd's own start: 10–16 s of a
 * TCG boot under load, measured, and `vm run` waits for the network before it
 * runs a command. The contract already fixes everything this needs: the
 * initrd loads virtio_net (eth0 exists before systemd), `net.ifnames=0` names
 * it, and `ip=` carries address, netmask and gateway. One `ip -batch` does it;
 * then the marker makes systemd-networkd skip (NETWORKD_DROPIN: it would only
 * configure the same again). An image without iproute2 (an OCI import), an
 * `ip=` this does not read, or an eth0 that never appears leaves no marker,
 * and networkd configures the link from the same `ip=` as before.
 */
export const NETWORK_SCRIPT_PATH = '/usr/lib/banger/configure-network';
export const NETWORK_MARKER = '/run/banger-network-static';
export const NETWORK_SCRIPT = `#!/bin/sh
# banger: eth0 from the kernel's ip= argument, without udev or networkd (issue 19).
# ip=<client>:<server>:<gw>:<netmask>:<hostname>:<device>:<autoconf>:<dns0>:<dns1>
# Leaves ${NETWORK_MARKER} when done; without it systemd-networkd configures the link.
set -u
command -v ip >/dev/null 2>&1 || exit 0
spec=
read -r cmdline < /proc/cmdline
for arg in $cmdline; do
  case "$arg" in ip=*) spec="\${arg#ip=}" ;; esac
done
[ -n "$spec" ] || exit 0
ifs=$IFS
IFS=:
set -- $spec
IFS=$ifs
client=\${1:-} gw=\${3:-} mask=\${4:-} dev=\${6:-}
[ -n "$dev" ] || dev=eth0
[ -n "$client" ] && [ -n "$mask" ] || { echo "banger-network: ip=$spec has no address or netmask; leaving it to networkd" >&2; exit 0; }
prefix=0
rest=
IFS=.
set -- $mask
IFS=$ifs
[ "$#" -eq 4 ] || rest=bad
for octet in "$@"; do
  # Contiguous only: after the first octet that is not 255, every one is 0.
  case "$rest$octet" in
    255) prefix=$((prefix + 8)) ;;
    254) prefix=$((prefix + 7)) rest=0 ;; 252) prefix=$((prefix + 6)) rest=0 ;; 248) prefix=$((prefix + 5)) rest=0 ;; 240) prefix=$((prefix + 4)) rest=0 ;;
    224) prefix=$((prefix + 3)) rest=0 ;; 192) prefix=$((prefix + 2)) rest=0 ;; 128) prefix=$((prefix + 1)) rest=0 ;; 0 | 00) rest=0 ;;
    *) echo "banger-network: netmask $mask not understood; leaving it to networkd" >&2; exit 0 ;;
  esac
done
[ -z "$rest" ] || [ "$rest" = 0 ] || { echo "banger-network: netmask $mask not understood; leaving it to networkd" >&2; exit 0; }
i=0
while [ ! -e "/sys/class/net/$dev" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -e "/sys/class/net/$dev" ] || { echo "banger-network: no $dev after 10 s; leaving it to networkd" >&2; exit 0; }
{
  printf 'link set lo up\\naddr replace %s/%s dev %s\\nlink set %s up\\n' "$client" "$prefix" "$dev" "$dev"
  [ -z "$gw" ] || printf 'route replace default via %s dev %s\\n' "$gw" "$dev"
} | ip -batch - || { echo "banger-network: ip failed; leaving $dev to networkd" >&2; exit 1; }
: > ${NETWORK_MARKER}
`;

export const NETWORK_UNIT_NAME = 'banger-network.service';
export const NETWORK_UNIT = `# Written by banger (the guest contract): eth0 from ip= at the start of boot.
[Unit]
Description=banger: eth0 from the kernel command line, without udev
DefaultDependencies=no
Before=network.target systemd-networkd.service
Wants=network.target
ConditionKernelCommandLine=ip

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${NETWORK_SCRIPT_PATH}

[Install]
WantedBy=sysinit.target
`;

/**
 * networkd skips when banger-network.service configured eth0 (and stays the
 * fallback when it did not). Its netlink socket gets the same condition: a
 * socket whose service is skipped goes "failed" on the first route message,
 * and the system reports itself degraded (seen in a booted OCI import).
 */
export const NETWORKD_DROPIN_PATH = '/etc/systemd/system/systemd-networkd.service.d/banger.conf';
export const NETWORKD_SOCKET_DROPIN_PATH = '/etc/systemd/system/systemd-networkd.socket.d/banger.conf';
export const NETWORKD_DROPIN = `# Written by banger: eth0 is configured by ${NETWORK_UNIT_NAME} when the image can (see there).
[Unit]
After=${NETWORK_UNIT_NAME}
ConditionPathExists=!${NETWORK_MARKER}
`;

/** eth0 from ip= as files: the one-shot, its unit and networkd's skip. Both image paths (a build, an OCI import) write exactly these. */
export const NETWORK_FILES: ReadonlyArray<{ path: string; content: string; mode: number; staging: string }> = [
  { path: NETWORK_SCRIPT_PATH, content: NETWORK_SCRIPT, mode: 0o755, staging: 'configure-network' },
  { path: `/etc/systemd/system/${NETWORK_UNIT_NAME}`, content: NETWORK_UNIT, mode: 0o644, staging: NETWORK_UNIT_NAME },
  { path: NETWORKD_DROPIN_PATH, content: NETWORKD_DROPIN, mode: 0o644, staging: 'networkd-dropin.conf' },
  { path: NETWORKD_SOCKET_DROPIN_PATH, content: NETWORKD_DROPIN, mode: 0o644, staging: 'networkd-dropin.conf' },
];

/**
 * The journal in memory only (/run/log/journal): a sandbox's logs are read
 * while it runs, and a persistent journal costs a flush to the rootfs and its
 * writes on every boot.
 */
export const JOURNALD_DROPIN_PATH = '/etc/systemd/journald.conf.d/banger.conf';
export const JOURNALD_DROPIN = `# Written by banger: the journal lives in /run (volatile), not on the rootfs.
[Journal]
Storage=volatile
`;

export const HOSTS = `127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
ff02::2 ip6-allrouters
`;

/** Units every image enables: ip= → eth0 by banger-network (networkd the fallback), the resolver one-shot and the work disk. */
export const CONTRACT_ENABLED_UNITS = [NETWORK_UNIT_NAME, 'systemd-networkd.service', 'systemd-network-generator.service', RESOLV_UNIT_NAME, WORK_DISK_UNIT_NAME] as const;

/**
 * Units every image masks: the wait-online unit would hold boot for 2 min when
 * the VM has no network, apt timers and e2scrub only cost boot time, and no VT
 * or serial login exists (ssh is the way in; the console still shows boot).
 * The rest serve nothing in a microVM and each cost seconds of a TCG boot
 * (measured, docs/performance.md): `modprobe@` loads configfs, drm, efi_pstore,
 * fuse, loop and dm_mod up front (the kernel loads the ones a guest uses on
 * first use: /dev/fuse and /dev/loop-control are static nodes), and there is no
 * pstore, debugfs, tracefs, hugepages or configfs user.
 */
export const CONTRACT_MASKED_UNITS = [
  'systemd-networkd-wait-online.service',
  'apt-daily.service',
  'apt-daily.timer',
  'apt-daily-upgrade.service',
  'apt-daily-upgrade.timer',
  'e2scrub_all.service',
  'e2scrub_all.timer',
  'e2scrub_reap.service',
  'getty@tty1.service',
  'serial-getty@ttyS0.service',
  'getty-static.service',
  'modprobe@.service',
  'systemd-pstore.service',
  'sys-kernel-debug.mount',
  'sys-kernel-tracing.mount',
  'sys-kernel-config.mount',
  'sys-fs-fuse-connections.mount',
  'dev-hugepages.mount',
] as const;

/**
 * Bumped by hand when the build changes what ends up in an image in a way the
 * recipe text does not show (customize-script.ts, mmdebstrap options). Part of
 * the recipe fingerprint, so cached images are rebuilt.
 */
export const BUILDER_REVISION = 3;

/** Everything above, as one string for the fingerprint. */
export const guestContractText = (): string =>
  JSON.stringify([BUILDER_REVISION, SSHD_CONFIG, SSH_DROPIN, FSTAB, WORK_DISK_SCRIPT, WORK_DISK_UNIT, JOURNALD_DROPIN, RESOLV_SCRIPT, RESOLV_UNIT, NETWORK_SCRIPT, NETWORK_UNIT, NETWORKD_DROPIN, NETWORKD_SOCKET_DROPIN_PATH, HOSTS, CONTRACT_ENABLED_UNITS, CONTRACT_MASKED_UNITS]);
