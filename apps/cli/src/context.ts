import type { Writable } from 'node:stream';
import { effectiveVersion, type ApiClient } from '@banger/api';
import { resolvePaths, type BangerPaths } from '@banger/config';
import { ensureDaemon, type DaemonSession } from './daemon-client/connect-daemon.js';

/** Where a command writes and what it runs in; injected so commands are testable. */
export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
}

/**
 * What every command gets. Commands print through `out`/`err`, ask the daemon
 * through `daemon()`, and pass `signal` to long calls so Ctrl-C cancels them
 * on the daemon too. Streamed calls look like:
 *
 *     const { client } = await ctx.daemon();
 *     await client.call('vm.create', params, { signal: ctx.signal, onEvent: (e) => renderer.push(e) });
 */
export interface CliContext {
  readonly io: CliIo;
  readonly env: NodeJS.ProcessEnv;
  /** This CLI's version (BANGER_VERSION, or BANGER_VERSION_OVERRIDE in tests). */
  readonly version: string;
  /** Aborted on SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
  /** banger's paths; resolved on first use (a bad BANGER_HOME is a UserError). */
  paths(): BangerPaths;
  /** The daemon session, started on demand and version-checked; one per CLI run. */
  daemon(): Promise<DaemonSession & { client: ApiClient }>;
  out(text: string): void;
  err(text: string): void;
  /** True when stdout is a terminal and NO_COLOR is unset. */
  color: boolean;
  /** Closes the daemon connection (the CLI's top level calls it once). */
  close(): void;
}

export function createContext(io: CliIo, signal: AbortSignal): CliContext {
  let paths: BangerPaths | undefined;
  let session: Promise<DaemonSession> | undefined;
  const ctx: CliContext = {
    io,
    env: io.env,
    version: effectiveVersion(io.env),
    signal,
    paths: () => (paths ??= resolvePaths(io.env)),
    daemon: () =>
      (session ??= ensureDaemon({
        paths: ctx.paths(),
        env: io.env,
        version: ctx.version,
        notice: (line) => ctx.err(line),
      })),
    out: (text) => void io.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => void io.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
    color: Boolean((io.stdout as { isTTY?: boolean }).isTTY) && !io.env['NO_COLOR'],
    close: () => {
      void session?.then((s) => s.client.close(), () => {});
    },
  };
  return ctx;
}
