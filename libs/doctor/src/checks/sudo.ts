import { installHint } from '@banger/host';
import type { CheckContext } from '../context.js';
import { lastLine } from '../context.js';
import { lookup } from '../env.js';
import type { DoctorCheck } from '../types.js';

/** The network commands bangerd runs through `runPrivileged()`; a restricted sudoers rule must allow each. */
const PRIVILEGED_TOOLS: ReadonlyArray<{ name: string; args: string[] }> = [
  { name: 'ip', args: [] },
  { name: 'nft', args: [] },
  // The documented rule allows only this one sysctl, so that is what is asked about.
  { name: 'sysctl', args: ['-w', 'net.ipv4.ip_forward=1'] },
];

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
      const refused: string[] = [];
      for (const tool of PRIVILEGED_TOOLS) {
        const path = lookup(env, tool.name);
        if (path && (await env.exec(sudo, ['-n', '-l', path, ...tool.args], { timeoutMs: 10_000 })).exitCode === 0) allowed.push(tool.name);
        else refused.push(path ?? tool.name);
      }
      if (refused.length === 0) return { status: 'ok', detail: `sudo -n may run ${allowed.join(', ')} without a password` };
      return {
        status: 'fail',
        detail: allowed.length
          ? `sudo -n refuses ${refused.join(', ')} (allowed: ${allowed.join(', ')})`
          : `sudo -n refuses to run privileged commands (${lastLine(blanket.stderr) || `exit ${blanket.exitCode}`})`,
        hint: 'allow passwordless sudo for ip, nft and sysctl as docs/privileges.md shows, or run bangerd as root',
      };
    },
  };
}
