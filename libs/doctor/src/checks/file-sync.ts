import type { CheckContext } from '../context.js';
import type { DoctorCheck } from '../types.js';

/**
 * `[[file_sync]]` host paths: a missing one is copied as nothing at
 * `vm create`, which users rarely mean, so it is worth a warning here.
 */
export function fileSyncCheck(ctx: CheckContext): DoctorCheck {
  return {
    id: 'file-sync',
    title: 'file_sync',
    required: false,
    async run() {
      const entries = ctx.config.fileSync;
      if (entries.length === 0) return { status: 'ok', detail: 'no [[file_sync]] entries' };
      const missing = entries.flatMap((entry, index) => (ctx.env.fileKind(entry.host) === undefined ? [`entry ${index + 1}: ${entry.host}`] : []));
      if (missing.length === 0) return { status: 'ok', detail: `${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}, every host path exists` };
      return {
        status: 'warn',
        detail: `host path${missing.length === 1 ? '' : 's'} missing: ${missing.join(', ')}`,
        hint: 'create the path or remove the [[file_sync]] entry from config.toml',
      };
    },
  };
}
