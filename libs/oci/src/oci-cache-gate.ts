import { ConflictError } from '@banger/errors';

/**
 * Pulls vs. `image prune`: a prune while a pull runs could delete blobs the
 * pull has verified but not yet recorded as used, so prune refuses while
 * pulls run, and a pull that starts during a prune waits for it. One gate per
 * process (the daemon), like the blob cache it guards.
 */
let activeOciPulls = 0;
let pruning: Promise<void> | undefined;

/** Runs `pull` once no prune runs, counted as a pull in flight until it settles. */
export async function asOciPull<T>(pull: () => Promise<T>): Promise<T> {
  while (pruning) await pruning;
  activeOciPulls++;
  try {
    return await pull();
  } finally {
    activeOciPulls--;
  }
}

/** Runs `prune` alone: refused (`IMAGE_PRUNE_BUSY`) while a pull or another prune runs; pulls starting meanwhile wait. */
export async function asOciPrune<T>(prune: () => Promise<T>): Promise<T> {
  if (activeOciPulls > 0 || pruning) {
    throw new ConflictError('IMAGE_PRUNE_BUSY', `cannot prune the OCI blob cache now: ${activeOciPulls > 0 ? `${activeOciPulls} image pull(s) running` : 'another prune is running'}`, {
      hint: 'wait for the pull to finish, then run banger image prune again',
    });
  }
  let finished!: () => void;
  pruning = new Promise((resolve) => (finished = resolve));
  try {
    return await prune();
  } finally {
    pruning = undefined;
    finished();
  }
}
