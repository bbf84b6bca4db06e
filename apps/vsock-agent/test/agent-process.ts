import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { build } from 'esbuild';
import { AgentClient, type ConnectOptions } from '@banger/agent';

const app = resolve(import.meta.dirname, '..');

/** Bundles the agent exactly like its nx `build` target (esbuild, same options), into dir. About a second. */
export async function buildAgentBundle(dir: string): Promise<string> {
  const t = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')).nx.targets.build.options;
  const outfile = join(dir, t.outputFileName as string);
  writeFileSync(join(dir, 'package.json'), '{ "type": "module", "private": true }\n');
  await build({
    entryPoints: [resolve(app, '../..', t.main as string)],
    outfile,
    bundle: true,
    platform: 'node',
    target: t.target as string,
    format: 'esm',
    external: t.external as string[],
    conditions: t.esbuildOptions.conditions as string[],
    banner: t.esbuildOptions.banner as { js: string },
    logLevel: 'error',
  });
  return outfile;
}

/** A real agent process on a Unix socket in a temp dir. */
export interface AgentProcess {
  dir: string;
  socket: string;
  child: ChildProcess;
  log: () => string;
  connect(options?: Partial<ConnectOptions>): Promise<AgentClient>;
  /** VmRSS of the agent process, bytes. */
  rss(): number;
  stop(): Promise<void>;
}

/**
 * Starts the agent. By default on `--listen-unix <dir>/agent.sock`; with
 * `serial`, on `--serial <dir>/port` (a path that does not exist yet; the
 * test makes the device), and `socket` is `<dir>/host.sock`, the host end the
 * test's device relay listens on. With `vsock`, on `--vsock-port 1024` through
 * the real banger-vsock-relay (built beside the bundle) in its test mode: the
 * relay listens on `socket` = `<dir>/vsock.sock` instead of the vsock port.
 */
export async function startAgent(options: { serial?: boolean; vsock?: boolean; env?: Record<string, string> } = {}): Promise<AgentProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'banger-agent-'));
  const bundle = await buildAgentBundle(dir);
  // The PTY helper beside the bundle, where the agent looks for it (as in apps/vsock-agent/dist).
  const built = spawnSync('sh', [resolve(app, 'native/build.sh'), join(dir, 'banger-pty')], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`building banger-pty failed: ${built.stderr}`);
  if (options.vsock) {
    const relay = spawnSync('sh', [resolve(app, 'native/build.sh'), join(dir, 'banger-vsock-relay')], { encoding: 'utf8' });
    if (relay.status !== 0) throw new Error(`building banger-vsock-relay failed: ${relay.stderr}`);
  }
  chmodSync(dir, 0o755); // commands run as another user (nobody) reach the helper too
  const socket = join(dir, options.serial ? 'host.sock' : options.vsock ? 'vsock.sock' : 'agent.sock');
  const args = options.serial
    ? ['--serial', join(dir, 'port')]
    : options.vsock
      ? ['--vsock-port', '1024', '--relay-socket', join(dir, 'private', 'relay.sock'), '--relay-test-unix', socket]
      : ['--listen-unix', socket];
  const child = spawn(process.execPath, [bundle, ...args], { stdio: ['ignore', 'ignore', 'pipe'], ...(options.env ? { env: { ...process.env, ...options.env } } : {}) });
  let log = '';
  child.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  for (let i = 0; !options.serial && !existsSync(socket); i++) {
    if (child.exitCode !== null || i > 200) throw new Error(`the agent did not come up: ${log}`);
    await sleep(25);
  }
  const clients: AgentClient[] = [];
  return {
    dir,
    socket,
    child,
    log: () => log,
    async connect(options = {}) {
      const io = createConnection(socket);
      await new Promise((ok, fail) => io.once('connect', ok).once('error', fail));
      const client = await AgentClient.connect(io, { hostVersion: 'test', ...options });
      clients.push(client);
      return client;
    },
    rss() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
    },
    async stop() {
      for (const c of clients) c.close();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await new Promise((ok) => child.once('exit', ok));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
