import { randomBytes } from 'node:crypto';
import type { AgentClient } from '@banger/agent';
import { BangerError, InternalError } from '@banger/errors';
import { GUEST_RESEED_HELPER } from './runtime-disk.js';

/** How the guest RNG was made its own: `reseeded` (the CRNG rekeyed at once), or only `mixed` into the pool, with why. */
export type ReseedOutcome = { kind: 'reseeded' } | { kind: 'mixed'; reason: string };

/**
 * Gives a restored or resumed guest a kernel RNG state of its own. Guests
 * restored from one snapshot share their CRNG key, so they read the same
 * bytes from /dev/urandom until the kernel's next scheduled reseed (up to a
 * minute; writing to /dev/urandom only mixes into the input pool). The
 * runtime disk's banger-reseed rekeys the CRNG at once from 64 host bytes
 * (RNDADDENTROPY + RNDRESEEDCRNG). A guest whose runtime disk predates the
 * helper (exit 127) gets the bytes mixed in the old way; the caller decides
 * whether that is enough. Any other failure throws, naming the helper's line.
 */
export async function reseedGuestRng(client: Pick<AgentClient, 'run'>): Promise<ReseedOutcome> {
  const seed = randomBytes(64);
  const helper = await client.run({ argv: [GUEST_RESEED_HELPER] }, seed).catch((error: unknown) => {
    // The agent reports a program it cannot find as AGENT_EXEC_FAILED with exit code 127.
    if (error instanceof BangerError && error.code === 'AGENT_EXEC_FAILED' && error.exitCode === 127) return undefined;
    throw error;
  });
  if (helper?.code === 0) return { kind: 'reseeded' };
  if (helper) throw new InternalError('GUEST_RESEED_FAILED', helper.stderr.toString().trim().split('\n').pop() || `${GUEST_RESEED_HELPER}: exit ${helper.code ?? helper.signal}`);
  const mixed = await client.run({ argv: ['sh', '-c', 'cat > /dev/urandom'] }, seed);
  if (mixed.code !== 0) throw new InternalError('GUEST_RESEED_FAILED', mixed.stderr.toString().trim().split('\n').pop() || `writing /dev/urandom: exit ${mixed.code}`);
  return { kind: 'mixed', reason: `${GUEST_RESEED_HELPER} is not on this VM's runtime disk` };
}
