import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '@banger/errors';

/**
 * The host's apt sources for a Debian suite, as one deb822 text for
 * mmdebstrap (no hard-coded mirror: a host on a local mirror or a snapshot
 * builds from it). Keeps every stanza/line whose suite is `<suite>` or
 * `<suite>-*` (updates, security, backports) and drops the rest
 * (third-party repos such as nodesource).
 */
export function hostAptSources(suite: string, aptDir = '/etc/apt'): string {
  const stanzas: string[] = [];
  const matches = (s: string): boolean => s === suite || s.startsWith(`${suite}-`);
  const listFiles = [join(aptDir, 'sources.list'), ...listDir(join(aptDir, 'sources.list.d'), '.list')];
  for (const file of listFiles) {
    for (const raw of readLines(file)) {
      const line = raw.replace(/#.*/, '').trim();
      // deb [options] uri suite component...
      const match = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s+(.+)$/.exec(line);
      if (!match || !matches(match[3]!)) continue;
      const signedBy = /signed-by=(\S+)/.exec(match[1] ?? '')?.[1];
      stanzas.push(
        ['Types: deb', `URIs: ${match[2]}`, `Suites: ${match[3]}`, `Components: ${match[4]!.trim()}`, ...(signedBy ? [`Signed-By: ${signedBy}`] : [])].join('\n'),
      );
    }
  }
  for (const file of listDir(join(aptDir, 'sources.list.d'), '.sources')) {
    const text = readLines(file).filter((l) => !l.trimStart().startsWith('#')).join('\n');
    for (const block of text.split(/\n\s*\n/)) {
      const fields = parseDeb822(block);
      if (!fields['types']?.split(/\s+/).includes('deb') || fields['enabled'] === 'no') continue;
      const suites = (fields['suites'] ?? '').split(/\s+/).filter(matches);
      if (!suites.length || !fields['uris']) continue;
      stanzas.push(
        [
          'Types: deb',
          `URIs: ${fields['uris']}`,
          `Suites: ${suites.join(' ')}`,
          `Components: ${fields['components'] ?? 'main'}`,
          ...(fields['signed-by'] && !fields['signed-by'].includes('\n') ? [`Signed-By: ${fields['signed-by']}`] : []),
        ].join('\n'),
      );
    }
  }
  if (!stanzas.length) {
    throw new UserError('APT_SOURCES_MISSING', `image build: no apt source for Debian "${suite}" in ${aptDir}/sources.list or ${aptDir}/sources.list.d`, {
      hint: `add a "${suite}" entry for your Debian mirror to ${aptDir}/sources.list.d/ (mmdebstrap builds from the host's sources)`,
    });
  }
  return `${stanzas.join('\n\n')}\n`;
}

function parseDeb822(block: string): Record<string, string> {
  const fields: Record<string, string> = {};
  let key: string | undefined;
  for (const line of block.split('\n')) {
    if (/^\s/.test(line) && key) {
      fields[key] += `\n${line.trim()}`;
      continue;
    }
    const match = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
    if (!match) continue;
    key = match[1]!.toLowerCase();
    fields[key] = match[2]!.trim();
  }
  return fields;
}

function listDir(dir: string, suffix: string): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith(suffix))
      .sort()
      .map((f) => join(dir, f));
  } catch {
    return [];
  }
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n');
  } catch {
    return [];
  }
}
