import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { run } from '@banger/host';
import { guestContractText } from '../build/guest-config.js';
import type { Recipe } from './schema.js';

/**
 * The identity of what a recipe builds: sha256 over the guest contract
 * (guest-config.ts, with its BUILDER_REVISION), the recipe text, the
 * resolved package list (`name=version` as the apt sources offer them) and
 * the pinned npm binaries. Same fingerprint → the build is a no-op; a point
 * release on the mirror or an edited recipe → a rebuild.
 */
export function recipeFingerprint(recipe: Pick<Recipe, 'text' | 'npm_binaries'>, resolvedPackages: readonly string[] = []): string {
  const hash = createHash('sha256');
  hash.update('banger-recipe-v1\0');
  hash.update(guestContractText());
  hash.update('\0');
  hash.update(recipe.text);
  hash.update('\0');
  hash.update([...resolvedPackages].sort().join('\n'));
  hash.update('\0');
  hash.update(recipe.npm_binaries.map((b) => `${b.package}@${b.version}`).join('\n'));
  return hash.digest('hex');
}

/**
 * Resolves the recipe's top-level packages to `name=version` with the host's
 * apt index (`apt-cache policy`). Returns [] when the host is not on the
 * recipe's suite (its index says nothing about it) or apt is unavailable:
 * the fingerprint then covers the recipe text only.
 */
export async function resolvePackageVersions(recipe: Pick<Recipe, 'packages' | 'suite'>, signal?: AbortSignal): Promise<string[]> {
  if (hostCodename() !== recipe.suite) return [];
  const result = await run('apt-cache', ['policy', ...recipe.packages], { signal, allowFailure: true, env: { LC_ALL: 'C' } }).catch(() => undefined);
  if (!result || result.exitCode !== 0) return [];
  return parseAptCachePolicy(result.stdout);
}

/** `apt-cache policy a b` → ["a=1.0", "b=(none)"]: one entry per package, in output order. */
export function parseAptCachePolicy(text: string): string[] {
  const out: string[] = [];
  let current: string | undefined;
  for (const line of text.split('\n')) {
    const header = /^(\S+):$/.exec(line);
    if (header) {
      current = header[1];
      continue;
    }
    const candidate = /^\s+Candidate:\s*(\S+)/.exec(line);
    if (candidate && current) {
      out.push(`${current}=${candidate[1]}`);
      current = undefined;
    }
  }
  return out;
}

function hostCodename(): string | undefined {
  try {
    return /^VERSION_CODENAME=(.*)$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1]?.replace(/"/g, '');
  } catch {
    return undefined;
  }
}
