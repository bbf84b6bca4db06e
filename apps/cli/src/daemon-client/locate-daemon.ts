import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findExecutable } from '@banger/host';
import { InternalError } from '@banger/errors';

/**
 * Where bangerd lives, in order: `BANGER_DAEMON_BIN`; next to this CLI's own
 * file (the installed tree `$PREFIX/lib/banger/` holds banger.cjs and bangerd.js
 * side by side); the workspace layout (`apps/cli/dist` → `apps/daemon/dist`);
 * then `bangerd` on PATH.
 */
export function locateDaemon(env: NodeJS.ProcessEnv = process.env, selfFile = fileURLToPath(import.meta.url)): string {
  const explicit = env['BANGER_DAEMON_BIN'];
  if (explicit) {
    const path = resolve(explicit);
    if (!existsSync(path)) {
      throw new InternalError('DAEMON_BIN_MISSING', `BANGER_DAEMON_BIN points at ${path}, which does not exist`, { hint: 'unset it or point it at bangerd.js' });
    }
    return path;
  }
  const here = dirname(selfFile);
  const candidates = [join(here, 'bangerd.js'), join(here, 'bangerd'), join(here, '..', '..', 'daemon', 'dist', 'bangerd.js')];
  const found = candidates.find((p) => existsSync(p)) ?? findExecutable('bangerd', env['PATH'] ?? '');
  if (!found) {
    throw new InternalError('DAEMON_BIN_MISSING', `cannot find bangerd next to ${here} or on PATH`, {
      hint: 'reinstall with make install, or set BANGER_DAEMON_BIN',
    });
  }
  return resolve(found);
}
