import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { InternalError } from '@banger/errors';
import type { VsockOptions } from './args.js';
import { listenUnix } from './listen-unix.js';
import type { Log } from './serve.js';

/** banger-vsock-relay's exit status when the guest kernel has no AF_VSOCK (native/banger-vsock-relay.c). */
const RELAY_NO_VSOCK = 3;

/**
 * Where banger-vsock-relay is: `../bin/banger-vsock-relay` from the bundle on
 * the runtime disk, or beside the bundle (the build output, tests).
 */
export function vsockRelayPath(): string | undefined {
  for (const relative of ['../bin/banger-vsock-relay', './banger-vsock-relay']) {
    const path = fileURLToPath(new URL(relative, import.meta.url));
    if (existsSync(path)) return path;
  }
  return undefined;
}

/**
 * Serves the vsock channel (Firecracker) without AF_VSOCK in Node: the agent
 * listens on a Unix socket in a root-only directory, and keeps the static
 * relay running that listens on the vsock port and connects each host
 * connection to it (docs/agent.md, "The vsock relay"). Every relayed
 * connection is a session, as on `--listen-unix`. A relay that dies is
 * restarted after 1 s; one that finds no AF_VSOCK in the kernel ends the
 * agent with AGENT_VSOCK_UNSUPPORTED. The relay dies with the agent.
 */
export async function serveVsock(options: VsockOptions, log: Log): Promise<never> {
  const relay = vsockRelayPath();
  if (!relay) {
    throw new InternalError('AGENT_VSOCK_UNSUPPORTED', `cannot listen on vsock port ${options.port}: no banger-vsock-relay beside the agent (Node cannot open AF_VSOCK sockets itself)`, {
      hint: 'restart the VM so it gets the runtime disk of this banger (with bin/banger-vsock-relay)',
      exitCode: 2,
    });
  }
  mkdirSync(dirname(options.relaySocket), { recursive: true, mode: 0o700 });
  // Created without group/other access from the start (no window in which another guest user could connect).
  const umask = process.umask(0o077);
  try {
    await listenUnix(options.relaySocket, log);
  } finally {
    process.umask(umask);
  }
  const listen = options.relayTestUnix ? ['--listen-unix', options.relayTestUnix] : ['--vsock-port', String(options.port)];
  for (;;) {
    const child = spawn(relay, [...listen, '--connect-unix', options.relaySocket], { stdio: ['ignore', 'ignore', 'inherit'] });
    log(`relay pid ${child.pid}: ${listen.join(' ')} → ${options.relaySocket}`);
    const code = await new Promise<number | null>((resolve) => {
      child.once('error', () => resolve(null));
      child.once('exit', (status) => resolve(status));
    });
    if (code === RELAY_NO_VSOCK) {
      throw new InternalError('AGENT_VSOCK_UNSUPPORTED', `cannot listen on vsock port ${options.port}: this guest kernel has no AF_VSOCK`, { hint: 'the kernel needs CONFIG_VIRTIO_VSOCKETS', exitCode: 2 });
    }
    log(`relay ended (${code === null ? 'killed' : `status ${code}`}); restarting it in 1 s`);
    await sleep(1_000);
  }
}
