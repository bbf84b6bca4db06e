import { DEBIAN_ARCHIVE_KEYRING, installHint } from '@banger/host';
import type { CheckContext } from '../context.js';
import { lookup } from '../env.js';
import type { DoctorCheck } from '../types.js';

/** What building an image or a kernel locally runs (when no published bundle is reachable). */
export const BUILD_TOOLS: ReadonlyArray<{ name: string; purpose: string }> = [
  { name: 'mmdebstrap', purpose: 'image builds' },
  { name: 'apt-get', purpose: 'image builds (mmdebstrap drives apt)' },
  { name: 'gpgv', purpose: 'checking the Debian mirror signature' },
  { name: 'dpkg-deb', purpose: 'unpacking the kernel package' },
  { name: 'depmod', purpose: 'the kernel modules index' },
  { name: 'xz', purpose: 'reading Debian package indexes' },
  { name: 'tar', purpose: 'image builds' },
  { name: 'unshare', purpose: 'provisioning imported OCI images' },
];

/** The build commands that run through runPrivileged (sudo -n when not root); docs/privileges.md lists the same. */
export const PRIVILEGED_BUILD_TOOLS = ['mmdebstrap', 'mkfs.ext4', 'tar', 'du', 'umount', 'rm', 'unshare'];

export async function buildProblems(ctx: CheckContext): Promise<{ missing: string[]; hints: string[] }> {
  const { env, config } = ctx;
  const missing: string[] = [];
  const hints: string[] = [];
  for (const tool of BUILD_TOOLS) {
    if (lookup(env, tool.name)) continue;
    missing.push(`${tool.name} (${tool.purpose})`);
    hints.push(installHint(tool.name));
  }
  const keyring = config.debianKeyring ?? DEBIAN_ARCHIVE_KEYRING;
  if (env.fileKind(keyring) !== 'file') {
    missing.push(`keyring ${keyring}`);
    hints.push(config.debianKeyring ? 'fix debian_keyring in config.toml' : 'install it: sudo apt-get install debian-archive-keyring');
  }
  if (!env.isRoot) {
    const sudo = lookup(env, 'sudo');
    const refused: string[] = [];
    if (!sudo) refused.push(...PRIVILEGED_BUILD_TOOLS);
    else if ((await env.exec(sudo, ['-n', 'true'], { timeoutMs: 10_000 })).exitCode !== 0) {
      for (const tool of PRIVILEGED_BUILD_TOOLS) {
        const path = lookup(env, tool);
        if (!path || (await env.exec(sudo, ['-n', '-l', path], { timeoutMs: 10_000 })).exitCode !== 0) refused.push(tool);
      }
    }
    if (refused.length) {
      missing.push(`sudo -n for ${refused.join(', ')}`);
      hints.push('add them to the sudoers rule in docs/privileges.md');
    }
  }
  return { missing, hints: [...new Set(hints)] };
}

/**
 * Whether this host can build the golden image and the kernel itself, which
 * the first `vm run` does when the catalogs offer no reachable bundle: every
 * tool, Debian's keyring (or `debian_keyring`), and, when not root, sudo -n
 * for each privileged build command. A warning, not a failure: a host that
 * only pulls published bundles needs none of it (the first-run check says
 * which this host will do).
 */
export function buildCheck(ctx: CheckContext): DoctorCheck {
  return {
    id: 'build',
    title: 'local builds',
    required: false,
    async run() {
      const { missing, hints } = await buildProblems(ctx);
      if (missing.length === 0) return { status: 'ok', detail: `can build images and kernels from ${ctx.config.debianMirror ?? 'the official Debian mirror'}` };
      return {
        status: 'warn',
        detail: `cannot build images or kernels locally (needed when no published bundle is reachable): missing ${missing.join('; ')}`,
        hint: hints.join('; '),
      };
    },
  };
}
