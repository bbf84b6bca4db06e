/**
 * The Debian package that provides each host tool banger runs, so a missing
 * tool's error can say exactly what to install. `make install` and `.ci/run`
 * install the same set.
 */
export const debianPackageFor: Readonly<Record<string, string>> = {
  'qemu-system-x86_64': 'qemu-system-x86',
  'qemu-img': 'qemu-utils',
  'mkfs.ext4': 'e2fsprogs',
  e2fsck: 'e2fsprogs',
  resize2fs: 'e2fsprogs',
  debugfs: 'e2fsprogs',
  mmdebstrap: 'mmdebstrap',
  zstd: 'zstd',
  ip: 'iproute2',
  nft: 'nftables',
  ssh: 'openssh-client',
  'ssh-keygen': 'openssh-client',
  sshd: 'openssh-server',
  busybox: 'busybox-static',
  cpio: 'cpio',
  depmod: 'kmod',
  modprobe: 'kmod',
  'dpkg-deb': 'dpkg',
  gpgv: 'gpgv',
  gpg: 'gnupg',
  'apt-get': 'apt',
  git: 'git',
  sudo: 'sudo',
  skopeo: 'skopeo',
  umoci: 'umoci',
  'docker-registry': 'docker-registry',
  rsync: 'rsync',
  xz: 'xz-utils',
  tmux: 'tmux',
};

export function installHint(tool: string): string {
  const pkg = debianPackageFor[tool];
  return pkg ? `install it: sudo apt-get install ${pkg}` : `install ${tool} and make sure it is on PATH`;
}
