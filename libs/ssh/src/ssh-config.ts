import { readFile, stat } from 'node:fs/promises';
import { UserError } from '@banger/errors';
import { writeFileAtomic } from '@banger/host';

/** Paths the `Host *.vm` block points at. */
export interface SshConfigOptions {
  /** banger's private key (ssh_key_path). */
  keyPath: string;
  /** banger's pinned known_hosts. */
  knownHostsPath: string;
}

/**
 * The ssh_config include file banger maintains (e.g.
 * ~/.config/banger/ssh/config): `Host *.vm` logs in as root with banger's
 * key only, checking the host key strictly against banger's pinned
 * known_hosts, so `ssh sandbox.vm` and VS Code Remote-SSH just work.
 */
export function renderSshConfig(options: SshConfigOptions): string {
  return [
    '# Managed by banger: rewritten whenever banger starts, edits are lost.',
    '# Included from ~/.ssh/config by `banger ssh-config install`.',
    'Host *.vm',
    '    User root',
    `    IdentityFile ${quote(options.keyPath)}`,
    '    IdentitiesOnly yes',
    `    UserKnownHostsFile ${quote(options.knownHostsPath)}`,
    '    StrictHostKeyChecking yes',
    '    UpdateHostKeys no',
    '',
  ].join('\n');
}

const INCLUDE_MARK = '# Added by `banger ssh-config install`';

/**
 * Adds `Include <includePath>` to the user's ssh config (created 0600 in a
 * 0700 directory when missing), at the top: an Include after a `Host` line
 * would only apply inside that block. Idempotent; returns false when the
 * line was already there. Only for `banger ssh-config install`, i.e. with the
 * user's consent. The rewrite is atomic and keeps the file's mode.
 */
export async function addSshConfigInclude(sshConfigPath: string, includePath: string): Promise<boolean> {
  if (/["\n]/.test(includePath)) {
    throw new UserError('SSH_CONFIG_BAD_PATH', `ssh config include ${JSON.stringify(includePath)}: path cannot contain quotes or newlines`);
  }
  const current = await readOrEmpty(sshConfigPath);
  if (findInclude(current, includePath) >= 0) return false;
  const block = `${INCLUDE_MARK}\nInclude ${quote(includePath)}\n\n`;
  await writeAtomic(sshConfigPath, block + current);
  return true;
}

/** Removes what addSshConfigInclude added; returns false when it was not there. */
export async function removeSshConfigInclude(sshConfigPath: string, includePath: string): Promise<boolean> {
  const lines = (await readOrEmpty(sshConfigPath)).split('\n');
  const index = findInclude(lines.join('\n'), includePath);
  if (index < 0) return false;
  let start = index;
  if (lines[index - 1] === INCLUDE_MARK) start -= 1;
  let end = index + 1;
  if (lines[end] === '' && start === 0) end += 1;
  lines.splice(start, end - start);
  await writeAtomic(sshConfigPath, lines.join('\n'));
  return true;
}

/** The line number of an `Include` of exactly `includePath`, or -1. */
function findInclude(text: string, includePath: string): number {
  return text.split('\n').findIndex((line) => {
    const match = /^\s*include\s+(.+?)\s*$/i.exec(line);
    if (!match?.[1]) return false;
    return match[1].split(/\s+(?=(?:[^"]*"[^"]*")*[^"]*$)/).some((word) => word.replace(/^"|"$/g, '') === includePath);
  });
}

async function readOrEmpty(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}

/** Keeps the mode the file already has (the user's choice for ~/.ssh/config), 0600 for a new one. */
async function writeAtomic(path: string, text: string): Promise<void> {
  const mode = await stat(path).then((s) => s.mode & 0o777, () => 0o600);
  await writeFileAtomic(path, text, mode);
}

// ssh_config takes double-quoted arguments; quoting always keeps paths with spaces whole.
const quote = (path: string): string => `"${path}"`;
