import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hostAptSources } from './apt-sources.js';

describe('hostAptSources', () => {
  let dir: string | undefined;
  afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));
  const aptDir = (files: Record<string, string>): string => {
    dir = mkdtempSync(join(tmpdir(), 'banger-apt-'));
    mkdirSync(join(dir, 'sources.list.d'));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  };

  it('keeps the suite and its -updates/-security stanzas and drops third-party repos', () => {
    const apt = aptDir({
      'sources.list.d/debian.sources':
        'Types: deb\n# a comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n' +
        'Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n',
      'sources.list.d/nodesource.sources': 'Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\nComponents: main\n',
      'sources.list': 'deb [signed-by=/k.gpg] http://old.example/debian bookworm main contrib\ndeb http://old.example/debian trixie main\n',
    });
    expect(hostAptSources('bookworm', apt)).toBe(
      'Types: deb\nURIs: http://old.example/debian\nSuites: bookworm\nComponents: main contrib\nSigned-By: /k.gpg\n\n' +
        'Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n' +
        'Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n',
    );
  });

  it('fails naming the suite and the apt dir when the host has no source for it', () => {
    const apt = aptDir({ 'sources.list': 'deb http://x.example/debian trixie main\n' });
    expect(() => hostAptSources('bookworm', apt)).toThrow(`image build: no apt source for Debian "bookworm" in ${apt}/sources.list or ${apt}/sources.list.d`);
  });
});
