import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import type { BangerPaths } from '@banger/config';
import { InternalError, fromWireError, type WireError } from '@banger/errors';
import { locateDaemon } from './locate-daemon.js';

/** How a start attempt ended. */
export type SpawnOutcome = { kind: 'ready'; pid: number } | { kind: 'already-running' };

/**
 * Starts bangerd detached (own session, stdin closed, stdout/stderr appended
 * to the daemon log) and waits for its one-line readiness report on fd 3.
 * The daemon's own start-up error (bad config…) is rethrown as the same typed
 * error; a daemon that lost the race to another one reports 'already-running'.
 */
export async function spawnDaemon(paths: BangerPaths, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<SpawnOutcome> {
  const bin = locateDaemon(env);
  // Loaded here, not at the top: only a start pays for child_process (issue #19).
  const { spawn } = process.getBuiltinModule('node:child_process');
  mkdirSync(dirname(paths.logFile), { recursive: true, mode: 0o700 });
  const logFd = openSync(paths.logFile, 'a', 0o600);
  const [command, args] = bin.endsWith('.js') ? [process.execPath, [bin]] : [bin, []];
  let child;
  try {
    child = spawn(command, args, {
      detached: true,
      cwd: '/',
      stdio: ['ignore', logFd, logFd, 'pipe'],
      env: { ...env, BANGER_READY_FD: '3' },
    });
  } finally {
    closeSync(logFd);
  }
  const pipe = child.stdio[3] as Readable;
  try {
    return await new Promise<SpawnOutcome>((resolve, reject) => {
      let text = '';
      const timer = setTimeout(
        () =>
          reject(
            new InternalError('DAEMON_START_TIMEOUT', `bangerd (pid ${child.pid}) did not report ready within ${timeoutMs / 1000}s`, {
              hint: `see ${paths.logFile}`,
            }),
          ),
        timeoutMs,
      );
      const finish = (fn: () => void): void => {
        clearTimeout(timer);
        fn();
      };
      child.once('error', (error) =>
        finish(() => reject(new InternalError('DAEMON_START_FAILED', `cannot run ${bin}: ${error.message}`, { cause: error }))),
      );
      pipe.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        const nl = text.indexOf('\n');
        if (nl === -1) return;
        let message: { ready?: boolean; pid?: number; error?: WireError };
        try {
          message = JSON.parse(text.slice(0, nl));
        } catch {
          finish(() => reject(new InternalError('DAEMON_START_FAILED', 'bangerd wrote an unreadable readiness report', { hint: `see ${paths.logFile}` })));
          return;
        }
        if (message.ready) return finish(() => resolve({ kind: 'ready', pid: message.pid ?? child.pid ?? 0 }));
        const error = message.error;
        if (error?.code === 'DAEMON_ALREADY_RUNNING') return finish(() => resolve({ kind: 'already-running' }));
        finish(() => reject(error ? fromWireError(error) : new InternalError('DAEMON_START_FAILED', 'bangerd failed to start', { hint: `see ${paths.logFile}` })));
      });
      child.once('exit', (code, signal) => {
        // Give a report written just before exiting the chance to arrive first.
        setTimeout(
          () =>
            finish(() =>
              reject(
                new InternalError('DAEMON_START_FAILED', `bangerd exited (${signal ?? `status ${code}`}) before it was ready`, {
                  hint: `see ${paths.logFile}`,
                }),
              ),
            ),
          50,
        );
      });
    });
  } finally {
    pipe.destroy();
    child.unref();
  }
}
