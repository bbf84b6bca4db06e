import { mkdir, readFile, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { loadConfig, userKeyFile } from '@banger/config';
import { addSshConfigInclude, removeSshConfigInclude, renderSshConfig } from '@banger/ssh';
import { UserError } from '@banger/errors';
import { writeFileAtomic } from '@banger/host';
import type { CliContext } from '../../context.js';
import { toJson } from '../../output/format.js';

/** The files `banger ssh-config` works on. */
export interface SshConfigFiles {
  /** banger's include file: `<configDir>/ssh/config`. */
  includeFile: string;
  /** The user's OpenSSH config: `~/.ssh/config`. */
  userConfig: string;
  /** What the include file holds for the current config.toml. */
  content: string;
}

/** Where the include file and ~/.ssh/config are, and what the include file must say. */
export function sshConfigFiles(ctx: CliContext): SshConfigFiles {
  const paths = ctx.paths();
  const config = loadConfig(paths);
  const home = ctx.env['HOME'] || homedir();
  return {
    includeFile: join(paths.sshDir, 'config'),
    userConfig: join(home, '.ssh', 'config'),
    content: renderSshConfig({ keyPath: userKeyFile(paths, config), knownHostsPath: paths.knownHostsFile }),
  };
}

/** True when `userConfig` has an `Include` naming `includeFile` (quoted or not). */
export async function isIncluded(files: SshConfigFiles): Promise<boolean> {
  const text = await readFile(files.userConfig, 'utf8').catch(() => '');
  return text.split('\n').some((line) => {
    const match = /^\s*include\s+(.+?)\s*$/i.exec(line);
    return match?.[1]?.split(/\s+/).some((word) => word.replace(/^"|"$/g, '') === files.includeFile) ?? false;
  });
}

/** Writes the include file (0600 in a 0700 directory), atomically. */
export async function writeIncludeFile(files: SshConfigFiles): Promise<void> {
  await mkdir(join(files.includeFile, '..'), { recursive: true, mode: 0o700 });
  await writeFileAtomic(files.includeFile, files.content, 0o600);
}

/**
 * `banger ssh-config install [--yes]`: (re)writes the include file, then adds
 * the Include line to ~/.ssh/config only with consent: `--yes`, or `y` at an
 * interactive prompt. Without a terminal to ask on and without `--yes` it
 * changes nothing in ~/.ssh/config and fails (exit 1) saying so.
 */
export async function sshConfigInstall(ctx: CliContext, options: { yes?: boolean }): Promise<void> {
  const files = sshConfigFiles(ctx);
  await writeIncludeFile(files);
  ctx.out(`wrote ${files.includeFile} (Host *.vm: root, banger's key, banger's pinned known_hosts, strict host-key checking)`);
  if (await isIncluded(files)) {
    ctx.out(`${files.userConfig} already includes it: ssh <vm>.vm is ready`);
    return;
  }
  const line = `Include "${files.includeFile}"`;
  let consent = options.yes === true;
  if (!consent) {
    const stdin = process.stdin;
    if (!stdin.isTTY) {
      throw new UserError('SSH_CONFIG_NO_CONSENT', `ssh-config install: not editing ${files.userConfig} without your consent`, {
        hint: `re-run with --yes, or add this line at the top of ${files.userConfig} yourself: ${line}`,
      });
    }
    const prompt = createInterface({ input: stdin, output: ctx.io.stderr });
    try {
      const answer = await prompt.question(`Add this line at the top of ${files.userConfig}?\n  ${line}\n[y/N] `, { signal: ctx.signal });
      consent = /^y(es)?$/i.test(answer.trim());
    } finally {
      prompt.close();
    }
  }
  if (!consent) {
    ctx.out(`left ${files.userConfig} unchanged; to use ssh <vm>.vm, add at its top: ${line}`);
    return;
  }
  await addSshConfigInclude(files.userConfig, files.includeFile);
  ctx.out(`added ${line} to ${files.userConfig}; undo with banger ssh-config uninstall`);
}

/** `banger ssh-config uninstall`: removes exactly the lines install added, and the include file. */
export async function sshConfigUninstall(ctx: CliContext): Promise<void> {
  const files = sshConfigFiles(ctx);
  const removed = await removeSshConfigInclude(files.userConfig, files.includeFile).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return false;
    throw error;
  });
  await rm(files.includeFile, { force: true });
  ctx.out(removed ? `removed the Include of ${files.includeFile} from ${files.userConfig}` : `${files.userConfig} did not include ${files.includeFile}`);
  ctx.out(`removed ${files.includeFile}`);
}

/** `banger ssh-config show [--json]`: the include file's content and whether it is in use. */
export async function sshConfigShow(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const files = sshConfigFiles(ctx);
  const included = await isIncluded(files);
  if (options.json) {
    ctx.out(toJson({ includeFile: files.includeFile, userConfig: files.userConfig, included, content: files.content }));
    return;
  }
  ctx.out(`# ${files.includeFile}${included ? `, included from ${files.userConfig}` : ` (not included from ${files.userConfig}: banger ssh-config install)`}`);
  ctx.out(files.content.trimEnd());
}
