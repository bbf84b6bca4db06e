import { describe, expect, it } from 'vitest';
import { debianAptSources } from './apt-sources.js';

describe('debianAptSources', () => {
  it('builds from the official mirror, its -updates and the security archive, each pinned to the Debian keyring', () => {
    expect(debianAptSources('bookworm')).toBe(
      'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n' +
        'Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
    );
  });

  it('uses a configured mirror and keyring alone, without adding an archive the mirror may not carry', () => {
    expect(debianAptSources('bookworm', { mirror: 'http://mirror.example/debian/', keyring: '/etc/keys/mine.gpg' })).toBe(
      'Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /etc/keys/mine.gpg\n',
    );
  });
});
