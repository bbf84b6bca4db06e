/** Debian's official mirror network: the default `debian_mirror` for kernel and image builds. */
export const DEFAULT_DEBIAN_MIRROR = 'http://deb.debian.org/debian';

/** Debian's archive keyring (package `debian-archive-keyring`): what a mirror's InRelease must be signed with. */
export const DEBIAN_ARCHIVE_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** The security archive that goes with the official mirror (a custom mirror brings its own or none). */
export const DEFAULT_DEBIAN_SECURITY_MIRROR = 'http://deb.debian.org/debian-security';

/** Where Debian packages come from (`debian_mirror`, `debian_keyring`); each unset field takes the default above. */
export interface DebianSource {
  mirror?: string;
  keyring?: string;
}
