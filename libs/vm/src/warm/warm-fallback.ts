import { setTimeout as sleep } from 'node:timers/promises';
import { BangerError } from '@banger/errors';
import type { HypervisorDriver, VmHandle } from '@banger/hypervisor';

/**
 * What `vm.boot` of a warm VM does, from what it finds: the VM's process
 * (alive or not), `identity-pending` (a restored guest that has not got this
 * VM's identity yet) and whether its disks are still template copies.
 *
 * - `adopt`: the process runs and is this VM (identity applied, or a cold boot);
 * - `identify`: a restored guest runs without its identity (the run that
 *   restored it was interrupted): it gets its identity now, or the VM falls back;
 * - `abandoned`: a restored guest ended before it got its identity; its disks
 *   are the template's, written to by that guest: the VM falls back to cold;
 * - `restore`: the disks are template copies: restore (or fall back when that cannot be);
 * - `cold`: none of the above (a stopped or suspended VM, or a cold one).
 */
export type WarmBootAction = 'adopt' | 'identify' | 'abandoned' | 'restore' | 'cold';

export function warmBootAction(found: { alive: boolean; identityPending: boolean; templateCopies: boolean }): WarmBootAction {
  if (found.alive) return found.identityPending ? 'identify' : 'adopt';
  if (found.identityPending) return 'abandoned';
  return found.templateCopies ? 'restore' : 'cold';
}

/**
 * Why a restored guest could not be given its identity:
 * - `died`: its hypervisor ended (`exit`: how, e.g. `qemu killed by SIGABRT`);
 * - `silent`: it runs, but its agent did not answer or dropped the connection;
 * - `failed`: an identity operation failed with the guest answering (a command
 *   in the guest, or the host's side: its files, the tap).
 */
export type IdentityFailure =
  | { kind: 'died'; exit: string }
  | { kind: 'silent'; message: string }
  | { kind: 'failed'; message: string };

/** How long a restored guest whose agent link just broke gets to be seen gone (its exit is observed a moment after). */
const EXIT_SETTLE_MS = 1_000;

const firstLine = (error: unknown): string => ((error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '').trim() || 'unknown error';

/** Classifies an error of the identity application, given whether the restored guest's process still runs. */
export function identityFailure(error: unknown, guest: { alive: boolean; exit?: string | undefined }): IdentityFailure {
  if (!guest.alive) return { kind: 'died', exit: guest.exit ?? 'its hypervisor exited' };
  const code = error instanceof BangerError ? error.code : undefined;
  if (code !== undefined && (code.startsWith('AGENT_') || code === 'VM_NOT_RUNNING')) return { kind: 'silent', message: firstLine(error) };
  return { kind: 'failed', message: firstLine(error) };
}

/** Whether the restored guest still runs and, when not, how it ended (`qemu killed by SIGABRT`). */
export async function guestState(driver: HypervisorDriver, handle: VmHandle): Promise<{ alive: boolean; exit?: string }> {
  // A guest that dies breaks the agent link first; its exit is observed a moment later.
  const deadline = Date.now() + EXIT_SETTLE_MS;
  let status = await driver.status(handle);
  while (status.state === 'running' && Date.now() < deadline) {
    await sleep(100);
    status = await driver.status(handle);
  }
  return status.state === 'running' ? { alive: true } : { alive: false, exit: `${driver.kind} ${status.reason ?? 'exited'}` };
}

/**
 * Whether the template is to blame, and so removed (the next new VM of its
 * inputs builds a fresh one): a guest restored from it that died on its own
 * (QEMU aborting or exiting after a restore, a guest that panicked) or whose
 * agent never answered says the saved state is bad, and keeping it would cost
 * every later VM a failed restore. A hypervisor killed from outside (SIGKILL:
 * the OOM killer, a user; SIGTERM) or an identity operation that failed while
 * the guest answered says nothing against the template: it is kept.
 */
export function templateToBlame(failure: IdentityFailure): boolean {
  if (failure.kind === 'died') return !/killed by SIG(KILL|TERM)\b/.test(failure.exit);
  return failure.kind === 'silent';
}

/** The cause, as the warning line names it (`could not start vm N from its warm template (<this>); booting it cold`). */
export function describeIdentityFailure(failure: IdentityFailure): string {
  switch (failure.kind) {
    case 'died':
      return `the restored guest ended before it got its identity: ${failure.exit}`;
    case 'silent':
      return `the restored guest's agent did not answer: ${failure.message}`;
    case 'failed':
      return `giving the restored guest its identity failed: ${failure.message}`;
  }
}

/** The one warning line of every warm fallback (a restore that cannot happen, or identity that could not be applied). */
export const warmFallbackWarning = (vmName: string, why: string): string => `warning: could not start vm ${vmName} from its warm template (${why}); booting it cold`;
