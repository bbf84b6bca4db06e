import { installHint } from '@banger/host';
import type { CheckContext } from '../context.js';
import { lastLine } from '../context.js';
import { lookup } from '../env.js';
import type { DoctorCheck } from '../types.js';

/** The tools bangerd runs through `runPrivileged()`; restricted sudoers rules must allow at least these. */
const PRIVILEGED_TOOLS = ['ip', 'nft'];

/**
 * Privileged host work (bridge, taps, nft) goes through `sudo -n`, which must
 * not prompt. Passes as root; otherwise passes when `sudo -n true` works, or
 * when sudoers allows at least the privileged tools without a password.
 */
export function sudoCheck(ctx: CheckContext): DoctorCheck {
  return {
    id: 'sudo',
    title: 'sudo -n',
    required: true,
    async run() {
      const { env } = ctx;
      if (env.isRoot) return { status: 'ok', detail: 'running as root: no sudo needed' };
      const sudo = lookup(env, 'sudo');
      if (!sudo) return { status: 'fail', detail: 'sudo is not installed and banger is not running as root', hint: installHint('sudo') };
      const blanket = await env.exec(sudo, ['-n', 'true'], { timeoutMs: 10_000 });
      if (blanket.exitCode === 0) return { status: 'ok', detail: 'sudo -n works without a password' };
      const allowed: string[] = [];
      for (const tool of PRIVILEGED_TOOLS) {
        const path = lookup(env, tool);
        if (path && (await env.exec(sudo, ['-n', '-l', path], { timeoutMs: 10_000 })).exitCode === 0) allowed.push(tool);
      }
      if (allowed.length === PRIVILEGED_TOOLS.length) return { status: 'ok', detail: `sudo -n may run ${allowed.join(', ')} without a password` };
      return {
        status: 'fail',
        detail: `sudo -n refuses to run privileged commands (${lastLine(blanket.stderr) || `exit ${blanket.exitCode}`})`,
        hint: 'allow passwordless sudo for ip and nft (see docs/privileges.md), or run bangerd as root',
      };
    },
  };
}
