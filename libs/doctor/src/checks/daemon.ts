import type { CheckContext } from '../context.js';
import type { DaemonProbe, DoctorCheck } from '../types.js';

/**
 * Whether bangerd answers, through the probe the CLI passes. Not required:
 * the CLI starts the daemon on first use, so "not running" is only news.
 */
export function daemonCheck(ctx: CheckContext, probe: DaemonProbe): DoctorCheck {
  return {
    id: 'daemon',
    title: 'bangerd',
    required: false,
    async run() {
      const hint = `it starts on the next banger command; if it fails to, read ${ctx.paths.logFile}`;
      try {
        const status = await probe();
        return status.ok ? { status: 'ok', detail: status.detail } : { status: 'warn', detail: status.detail, hint };
      } catch (error) {
        return { status: 'warn', detail: error instanceof Error ? error.message : String(error), hint };
      }
    },
  };
}
