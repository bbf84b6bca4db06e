import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pidExists } from '../pid-exists.js';

/**
 * The one root under which tests keep slow artefacts between runs (kernel
 * bundles, built images, Debian trees, downloads): `$BANGER_TEST_CACHE`, else
 * `~/.cache/banger-test`. `make test-cold` points it at an empty directory.
 */
export const testCacheRoot = (): string => process.env['BANGER_TEST_CACHE'] || join(homedir(), '.cache', 'banger-test');

/** The Debian mirror tests download from: `$BANGER_TEST_DEBIAN_MIRROR`, else the official one. */
export const testDebianMirror = (): string => process.env['BANGER_TEST_DEBIAN_MIRROR'] || 'http://deb.debian.org/debian';

/** Marks a cached artefact as complete; written last, inside the temp dir, before the rename. */
const INPUTS_FILE = '.inputs.json';
const TMP_MARK = '.tmp-';

export interface CachedArtifactOptions {
  /** A folder name for this kind of artefact, e.g. `oci/minbase-tarball`. */
  kind: string;
  /**
   * Everything that makes the artefact: the recipe (command, arguments,
   * format), the mirror, a revision to bump when the building code changes.
   * The cache key is their hash, so a cache written by an older recipe is
   * never mistaken for the current one.
   */
  inputs: Record<string, unknown>;
  /** Fills the (empty, fresh) directory it is given. */
  build: (dir: string) => Promise<void>;
}

/** The directory an artefact with these inputs lives in (present or not). */
export function cachedArtifactDir(kind: string, inputs: Record<string, unknown>): string {
  const key = createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 16);
  return join(testCacheRoot(), kind, key);
}

/**
 * Returns the directory of the artefact made from `inputs`, building it first
 * when no complete one exists. Built in a temp sibling and renamed into
 * place, so an interrupted build leaves no half artefact under the real key;
 * temp dirs of dead processes are swept. Two concurrent builders both build,
 * and the first rename wins.
 */
export async function cachedArtifact(options: CachedArtifactOptions): Promise<string> {
  const dir = cachedArtifactDir(options.kind, options.inputs);
  if (existsSync(join(dir, INPUTS_FILE))) return dir;
  const parent = join(dir, '..');
  await mkdir(parent, { recursive: true });
  await sweepDeadTemps(parent);
  const tmp = `${dir}${TMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp);
  try {
    await options.build(tmp);
    await writeFile(join(tmp, INPUTS_FILE), `${JSON.stringify(options.inputs, null, 2)}\n`);
    await rm(dir, { recursive: true, force: true }); // an incomplete one (no inputs file)
    await rename(tmp, dir).catch(async (error: unknown) => {
      if (!existsSync(join(dir, INPUTS_FILE))) throw error;
      await rm(tmp, { recursive: true, force: true }); // a concurrent builder won
    });
    return dir;
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
}

async function sweepDeadTemps(parent: string): Promise<void> {
  for (const name of await readdir(parent)) {
    const at = name.indexOf(TMP_MARK);
    if (at < 0) continue;
    const pid = Number.parseInt(name.slice(at + TMP_MARK.length), 10);
    if (Number.isInteger(pid) && pid > 0 && pidExists(pid)) continue;
    await rm(join(parent, name), { recursive: true, force: true });
  }
}

