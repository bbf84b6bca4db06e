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

/** /etc/fstab: vda is the rootfs, the work disk (label banger-work) is /root. */
export const FSTAB = `# Written by banger's image build (guest contract: vda = rootfs, vdb = work disk).
/dev/vda / ext4 rw,relatime 0 1
LABEL=banger-work /root ext4 defaults,nofail,x-systemd.device-timeout=120s 0 2
`;

/**
 * A drop-in for ssh.service: root's authorized_keys lives on the work disk,
 * so sshd must not accept connections before /root is mounted. Without it a
 * slow udev on a loaded TCG host let sshd start first and refuse the key.
 */
export const SSH_DROPIN_PATH = '/etc/systemd/system/ssh.service.d/banger-work-disk.conf';
export const SSH_DROPIN = `# Written by banger: /root (the work disk) holds root's authorized_keys.
[Unit]
RequiresMountsFor=/root
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

export const HOSTS = `127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
ff02::2 ip6-allrouters
`;

/** Units every image enables: ip= → eth0 through networkd, and the resolver one-shot. */
export const CONTRACT_ENABLED_UNITS = ['systemd-networkd.service', 'systemd-network-generator.service', RESOLV_UNIT_NAME] as const;

/**
 * Units every image masks: the wait-online unit would hold boot for 2 min when
 * the VM has no network, apt timers and e2scrub only cost boot time, and no VT
 * or serial login exists (ssh is the way in; the console still shows boot).
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
] as const;

/**
 * Bumped by hand when the build changes what ends up in an image in a way the
 * recipe text does not show (customize-script.ts, mmdebstrap options). Part of
 * the recipe fingerprint, so cached images are rebuilt.
 */
export const BUILDER_REVISION = 2;

/** Everything above, as one string for the fingerprint. */
export const guestContractText = (): string =>
  JSON.stringify([BUILDER_REVISION, SSHD_CONFIG, SSH_DROPIN, FSTAB, RESOLV_SCRIPT, RESOLV_UNIT, HOSTS, CONTRACT_ENABLED_UNITS, CONTRACT_MASKED_UNITS]);
