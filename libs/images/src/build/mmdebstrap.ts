import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runPrivileged, type ProgressSink } from '@banger/host';
import type { Recipe } from '../recipe/schema.js';

export interface MmdebstrapOptions {
  recipe: Recipe;
  /** Target directory (must not exist or be empty). */
  tree: string;
  /** deb822 sources file pasted into the tree's sources.list (the host's sources). */
  sourcesFile: string;
  /** Executable run as `--customize-hook` with the tree as $1. */
  customizeScript: string;
  /** Where downloaded .debs are kept between builds. */
  cacheDir: string;
  signal?: AbortSignal;
  progress?: ProgressSink;
}

/**
 * Runs mmdebstrap (root mode, through runPrivileged) to install the recipe's
 * packages into `tree`. Downloaded .debs are synced in from and back out to
 * `<cacheDir>/apt-archives` (the recipe in mmdebstrap(1)), so a rebuild only
 * fetches what changed on the mirror.
 */
export async function runMmdebstrap(options: MmdebstrapOptions): Promise<void> {
  const { recipe } = options;
  const archives = join(options.cacheDir, 'apt-archives');
  await mkdir(archives, { recursive: true });
  const args = [
    '--mode=root',
    '--format=directory',
    `--variant=${recipe.variant}`,
    `--include=${recipe.packages.join(',')}`,
    '--aptopt=Acquire::Retries "3"',
    '--aptopt=APT::Install-Recommends "false"',
    // The tree lives under the caller's (often 0700) cache dir, which apt's _apt user cannot enter.
    '--aptopt=APT::Sandbox::User "root"',
    ...(recipe.slim
      ? [
          '--dpkgopt=path-exclude=/usr/share/man/*',
          '--dpkgopt=path-exclude=/usr/share/info/*',
          '--dpkgopt=path-exclude=/usr/share/doc/*',
          '--dpkgopt=path-include=/usr/share/doc/*/copyright',
        ]
      : []),
    '--skip=essential/unlink',
    '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
    `--setup-hook=sync-in ${archives} /var/cache/apt/archives/`,
    `--customize-hook=sync-out /var/cache/apt/archives ${archives}`,
    `--customize-hook=${options.customizeScript}`,
    recipe.suite,
    options.tree,
    options.sourcesFile,
  ];
  await runPrivileged('mmdebstrap', args, {
    signal: options.signal,
    env: { LC_ALL: 'C.UTF-8' },
    onLine: (line) => {
      const text = line.trim();
      if (text) options.progress?.line?.(text);
    },
  });
}
