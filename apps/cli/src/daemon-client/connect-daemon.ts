import { ApiClient, DaemonNotRunningError, PROTOCOL_VERSION, type ResultOf } from '@banger/api';
import type { BangerPaths } from '@banger/config';
import { InternalError } from '@banger/errors';
import { checkPrivateDir } from '@banger/host';
import { spawnDaemon } from './spawn-daemon.js';
import { waitForExit } from './wait-exit.js';

/** A connection that completed the `hello` handshake. */
export interface DaemonSession {
  client: ApiClient;
  hello: ResultOf<'hello'>;
  /** True when this call started the daemon. */
  started: boolean;
}

export interface DaemonOptions {
  paths: BangerPaths;
  env: NodeJS.ProcessEnv;
  /** The CLI's version (BANGER_VERSION or the test-only override). */
  version: string;
  /** Where to say that a daemon of another version is being replaced. */
  notice?: (line: string) => void;
  /** Budget for starting the daemon until it answers (default 30 s). */
  startTimeoutMs?: number;
}

/** Connects and says hello; throws DaemonNotRunningError when nothing listens. */
export async function connectDaemon(socketPath: string, version: string, timeoutMs = 5_000): Promise<{ client: ApiClient; hello: ResultOf<'hello'> }> {
  const client = await ApiClient.connect(socketPath, { timeoutMs });
  try {
    const hello = await client.call('hello', { clientVersion: version, protocolVersion: PROTOCOL_VERSION }, { timeoutMs });
    return { client, hello };
  } catch (error) {
    client.close();
    throw error;
  }
}

/** The running daemon's session, or undefined when none runs. Never starts one. */
export async function probeDaemon(paths: BangerPaths, version: string, timeoutMs = 2_000): Promise<{ client: ApiClient; hello: ResultOf<'hello'> } | undefined> {
  // Whoever owns the socket's directory could serve a fake daemon there: refuse before connecting.
  checkPrivateDir(paths.runtimeDir);
  try {
    return await connectDaemon(paths.socketPath, version, timeoutMs);
  } catch (error) {
    if (error instanceof DaemonNotRunningError) return undefined;
    throw error;
  }
}

/**
 * The connection every daemon-backed command uses: connects, starting bangerd
 * when it is not running, and replaces a daemon whose version differs from
 * this CLI's (it is asked to shut down; its VMs keep running).
 */
export async function ensureDaemon(options: DaemonOptions): Promise<DaemonSession> {
  const { paths, version } = options;
  const running = await probeDaemon(paths, version, 5_000);
  if (running) {
    const { client, hello } = running;
    if (sameBuild(hello, version)) {
      client.trustResults();
      return { client, hello, started: false };
    }
    options.notice?.(`banger: replacing bangerd ${hello.daemonVersion} (pid ${hello.pid}) with ${version}`);
    await stopDaemon(client, hello.pid, paths);
  }
  return startDaemon(options);
}

/** A daemon of this CLI's own version and protocol checks its results against the schemas the CLI has (ApiClient.trustResults). */
function sameBuild(hello: ResultOf<'hello'>, version: string): boolean {
  return hello.daemonVersion === version && hello.protocolVersion === PROTOCOL_VERSION;
}

/** Starts bangerd and returns a handshaken session to it. */
export async function startDaemon(options: DaemonOptions): Promise<DaemonSession> {
  const { paths, version } = options;
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  const outcome = await spawnDaemon(paths, options.env, timeoutMs);
  // 'already-running': another CLI won the race; its daemon will answer shortly.
  for (;;) {
    try {
      const { client, hello } = await connectDaemon(paths.socketPath, version, Math.max(1_000, deadline - Date.now()));
      if (hello.daemonVersion !== version) {
        client.close();
        throw new InternalError('DAEMON_VERSION_MISMATCH', `bangerd at ${paths.socketPath} is version ${hello.daemonVersion}, banger is ${version}`, {
          hint: `the bangerd found is not the one installed with this banger; see ${paths.logFile}`,
        });
      }
      if (sameBuild(hello, version)) client.trustResults();
      return { client, hello, started: outcome.kind === 'ready' };
    } catch (error) {
      if (!(error instanceof DaemonNotRunningError) || Date.now() > deadline) {
        if (error instanceof DaemonNotRunningError) {
          throw new InternalError('DAEMON_START_TIMEOUT', `bangerd did not answer on ${paths.socketPath} within ${timeoutMs / 1000}s`, { hint: `see ${paths.logFile}` });
        }
        throw error;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Asks the daemon to shut down and waits until its process is gone. Falls back
 * to SIGTERM when it does not answer (e.g. a version without daemon.shutdown).
 */
export async function stopDaemon(client: ApiClient, pid: number, paths: BangerPaths, timeoutMs = 20_000): Promise<void> {
  try {
    await client.call('daemon.shutdown', {}, { timeoutMs: 5_000 });
  } catch {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  } finally {
    client.close();
  }
  if (!(await waitForExit(pid, timeoutMs))) {
    throw new InternalError('DAEMON_STOP_TIMEOUT', `bangerd (pid ${pid}) is still running ${timeoutMs / 1000}s after being asked to stop`, {
      hint: `see ${paths.logFile}; kill it with: kill ${pid}`,
    });
  }
}
