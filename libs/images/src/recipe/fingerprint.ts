import { createHash } from 'node:crypto';
import { mkdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, type DebianSource, type ProgressSink } from '@banger/host';
import { debianAptSources } from '../build/apt-sources.js';
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

export interface ResolveOptions {
  /** Holds the private apt index (`<cacheDir>/apt-index/<suite>`). */
  cacheDir: string;
  /** deb822 sources; the Debian mirror's sources for the suite (debianAptSources) by default. */
  aptSources?: string;
  /** The mirror and keyring of the default sources. */
  debian?: DebianSource;
  /** Re-download the index only when it is older than this (default 6 h). */
  maxAgeMs?: number;
  signal?: AbortSignal;
  progress?: ProgressSink;
}

/**
 * Resolves the recipe's top-level packages to `name=version` against a
 * private apt index of the same sources the build uses (`apt-get update`
 * into `<cacheDir>/apt-index/<suite>`, refreshed every few hours), never the
 * host's own index: that one may be for another suite, stale, or emptied by
 * an `apt-get clean`, and the fingerprint must not flap with it. Returns []
 * when the index cannot be fetched at all (offline, first run): the
 * fingerprint then covers the recipe and contract only.
 */
export async function resolvePackageVersions(recipe: Pick<Recipe, 'packages' | 'suite'>, options: ResolveOptions): Promise<string[]> {
  const dir = join(options.cacheDir, 'apt-index', recipe.suite);
  const sources = join(dir, 'sources.sources');
  const stamp = join(dir, 'updated');
  const text = options.aptSources ?? debianAptSources(recipe.suite, options.debian);
  await mkdir(join(dir, 'lists', 'partial'), { recursive: true });
  await mkdir(join(dir, 'cache', 'archives', 'partial'), { recursive: true });
  await writeFile(sources, text);
  await writeFile(join(dir, 'status'), '', { flag: 'a' });
  const aptOptions = [
    '-o', `Dir::Etc::SourceList=${sources}`,
    '-o', 'Dir::Etc::SourceParts=/nonexistent',
    '-o', `Dir::State::Lists=${join(dir, 'lists')}`,
    '-o', `Dir::State::status=${join(dir, 'status')}`,
    '-o', `Dir::Cache=${join(dir, 'cache')}`,
    '-o', 'Debug::NoLocking=1',
    '-o', 'APT::Sandbox::User=root',
    '-o', 'Acquire::Retries=2',
  ];
  const age = await stat(stamp).then((s) => Date.now() - s.mtimeMs, () => Number.POSITIVE_INFINITY);
  if (age > (options.maxAgeMs ?? 6 * 3_600_000)) {
    options.progress?.line?.(`refreshing the ${recipe.suite} package index (apt-get update)`);
    const update = await run('apt-get', [...aptOptions, '-q', '--error-on=any', 'update'], { signal: options.signal, allowFailure: true, env: { LC_ALL: 'C' }, timeoutMs: 300_000 }).catch(() => undefined);
    if (update?.exitCode === 0) {
      await writeFile(stamp, new Date().toISOString());
      await utimes(stamp, new Date(), new Date());
    } else {
      options.progress?.line?.(`apt-get update for ${recipe.suite} failed; using the index from the last successful update, if any`);
    }
  }
  const policy = await run('apt-cache', [...aptOptions, 'policy', ...recipe.packages], { signal: options.signal, allowFailure: true, env: { LC_ALL: 'C' } }).catch(
    () => undefined,
  );
  if (!policy || policy.exitCode !== 0) return [];
  const resolved = parseAptCachePolicy(policy.stdout);
  // Any package without a candidate means there is no usable index: do not let that flap the fingerprint.
  return resolved.length === recipe.packages.length && !resolved.some((r) => r.endsWith('=(none)')) ? resolved : [];
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
