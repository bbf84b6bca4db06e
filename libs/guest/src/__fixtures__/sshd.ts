import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateHostKey, type HostKey } from '../keys/host-key.js';
import { ensureUserKey, type UserKey } from '../keys/user-key.js';

export const SSHD = '/usr/sbin/sshd';

/** Why the real-sshd tests cannot run here, or undefined when they can. */
export function sshdUnavailable(): string | undefined {
  if (!existsSync(SSHD)) return 'openssh-server is not installed (/usr/sbin/sshd missing)';
  if (process.getuid?.() !== 0) return 'sshd must run as root to accept root logins';
  return undefined;
}

/** A free TCP port on 127.0.0.1 (released before returning; fine for tests). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface TestSshd {
  port: number;
  hostKey: HostKey;
  userKey: UserKey;
  /** Starts sshd (idempotent) and waits until it accepts TCP connections. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A real OpenSSH sshd on 127.0.0.1 with a banger-generated host key, logging
 * in as root with a banger user key. StrictModes is off because the
 * authorized_keys file lives in a temp dir under the world-writable /tmp.
 */
export async function prepareSshd(dir: string): Promise<TestSshd> {
  // Debian's sshd refuses to start without its privilege-separation directory (the service unit makes it).
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
  const port = await freePort();
  const hostKey = generateHostKey('test');
  const userKey = await ensureUserKey(join(dir, 'id_ed25519'));
  await writeFile(join(dir, 'host_key'), hostKey.privateKey, { mode: 0o600 });
  await writeFile(join(dir, 'authorized_keys'), `${userKey.publicKey}\n`, { mode: 0o600 });
  await writeFile(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'StrictModes no',
      'UsePAM no',
      'LogLevel ERROR',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  let child: ChildProcess | undefined;
  return {
    port,
    hostKey,
    userKey,
    async start() {
      if (child) return;
      child = spawn(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      for (let i = 0; i < 100; i++) {
        if (child.exitCode !== null) throw new Error(`sshd exited: ${stderr}`);
        const open = await new Promise<boolean>((resolve) => {
          const socket = connect(port, '127.0.0.1', () => {
            socket.destroy();
            resolve(true);
          });
          socket.on('error', () => resolve(false));
        });
        if (open) return;
        await sleep(50);
      }
      throw new Error(`sshd did not listen on ${port}: ${stderr}`);
    },
    async stop() {
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
