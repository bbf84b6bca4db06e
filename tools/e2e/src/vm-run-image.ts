import { join } from 'node:path';
import type { ProgressSink } from '@banger/host';
import { prepareImage, preparedImage } from './artifacts.js';

/** The recipe of the `vm run` workspace tests' image: debian-minimal plus git. */
export const VM_RUN_RECIPE = join(import.meta.dirname, 'fixtures', 'vm-run-git.toml');

/**
 * Builds (or reuses) the vm-run-git image in the test cache and records it.
 * Needs the network (mmdebstrap), so it runs in the prepare step, outside the
 * netns (`tools/e2e/src/prepare-artifacts.test.ts`).
 */
export async function prepareVmRunImage(progress?: ProgressSink): Promise<string> {
  return prepareImage('vm-run-git', VM_RUN_RECIPE, progress);
}

/** The vm-run-git image dir the prepare step recorded. */
export const findVmRunImage = (): Promise<string | undefined> => findCachedImage('vm-run-git');

/** The image dir the prepare step recorded under `name`, or undefined when it did not build one. */
export const findCachedImage = (name: string): Promise<string | undefined> => preparedImage(name);
