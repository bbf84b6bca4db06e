import { DEBIAN_ARCHIVE_KEYRING, DEFAULT_DEBIAN_MIRROR, DEFAULT_DEBIAN_SECURITY_MIRROR, type DebianSource } from '@banger/host';

/**
 * The apt sources an image of Debian `suite` is built from, as one deb822
 * text for mmdebstrap and the fingerprint's private index: the suite and its
 * -updates from the configured mirror, plus -security from Debian's security
 * archive when the mirror is the official one, each pinned to the keyring
 * (`Signed-By`). The host's own /etc/apt is never read, so a build works the
 * same on a host that is not Debian, or whose sources point elsewhere.
 */
export function debianAptSources(suite: string, options: DebianSource = {}): string {
  const mirror = (options.mirror ?? DEFAULT_DEBIAN_MIRROR).replace(/\/+$/, '');
  const keyring = options.keyring ?? DEBIAN_ARCHIVE_KEYRING;
  const stanza = (uri: string, suites: string) => ['Types: deb', `URIs: ${uri}`, `Suites: ${suites}`, 'Components: main', `Signed-By: ${keyring}`].join('\n');
  const stanzas = [stanza(mirror, `${suite} ${suite}-updates`)];
  if (mirror === DEFAULT_DEBIAN_MIRROR) stanzas.push(stanza(DEFAULT_DEBIAN_SECURITY_MIRROR, `${suite}-security`));
  return `${stanzas.join('\n\n')}\n`;
}
