import type { NameKind } from '@banger/api';
import type { CliContext } from '../context.js';
import { probeDaemon } from '../daemon-client/connect-daemon.js';

/**
 * Live names for completion from a daemon that already runs. Bounded by
 * BANGER_COMPLETE_TIMEOUT_MS (default 1000 ms) in total; with the daemon down,
 * slow or failing it returns nothing: a completion must never print an error,
 * hang the shell, or start the daemon.
 */
export async function fetchNames(ctx: CliContext, kinds: NameKind[], scope: { vm?: string } = {}): Promise<Map<NameKind, string[]>> {
  const budget = Number(ctx.env['BANGER_COMPLETE_TIMEOUT_MS'] ?? '') || 1_000;
  const deadline = Date.now() + budget;
  const names = new Map<NameKind, string[]>();
  let session;
  try {
    session = await probeDaemon(ctx.paths(), ctx.version, budget);
    if (!session) return names;
    const { client } = session;
    await Promise.all(
      kinds.map(async (kind) => {
        // A VM's sessions: only once the VM is on the line.
        if (kind === 'session' && scope.vm === undefined) return;
        const params = kind === 'session' ? { kind, vm: scope.vm } : { kind };
        names.set(kind, await client.call('complete.names', params, { timeoutMs: Math.max(50, deadline - Date.now()) }));
      }),
    );
  } catch {
    // stay silent
  } finally {
    session?.client.close();
  }
  return names;
}
