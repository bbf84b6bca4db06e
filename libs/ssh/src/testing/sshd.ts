import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateHostKey, type HostKey } from '../keys/host-key.js';
import { ensureUserKey, type UserKey } from '../keys/user-key.js';
import { freePort } from './free-port.js';

/** Where Debian's openssh-server puts the daemon. */
export const SSHD = '/usr/sbin/sshd';

/** Why a real sshd cannot run here, or undefined when it can. */
export function sshdUnavailable(): string | undefined {
  if (!existsSync(SSHD)) return 'openssh-server is not installed (/usr/sbin/sshd missing)';
  if (process.getuid?.() !== 0) return 'sshd must run as root to accept root logins';
  return undefined;
}

/** Where and how the test sshd listens. */
export interface SshdFilesOptions {
  /** Address sshd binds (default 127.0.0.1; a non-loopback address only inside a test's netns). */
  listenAddress?: string;
  /** Port sshd binds (default: a free loopback port). */
  port?: number;
  /** Comment of the generated host key (default `test`). */
  hostKeyComment?: string;
}

/**
 * The files of a test sshd written into a directory: a banger-generated host
 * key, a banger user key authorized for root, and an sshd_config using them.
 */
export interface SshdFiles {
  listenAddress: string;
  port: number;
  hostKey: HostKey;
  userKey: UserKey;
  /** The sshd_config to pass as `sshd -f`. */
  configPath: string;
  /** An OpenSSH known_hosts file pinning the host key for `[listenAddress]:port`. */
  knownHostsPath: string;
}

/**
 * Writes host key, user key, authorized_keys, known_hosts and sshd_config into
 * `dir` without starting anything: tests that run sshd elsewhere (in a netns)
 * spawn `sshd -D -e -f <configPath>` themselves. StrictModes is off because
 * the key files live in a temp dir under the world-writable /tmp.
 */
export async function writeSshdFiles(dir: string, options: SshdFilesOptions = {}): Promise<SshdFiles> {
  // Debian's sshd refuses to start without its privilege-separation directory (the service unit makes it).
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
  const listenAddress = options.listenAddress ?? '127.0.0.1';
  const port = options.port ?? (await freePort());
  const hostKey = generateHostKey(options.hostKeyComment ?? 'test');
  const userKey = await ensureUserKey(join(dir, 'id_ed25519'));
  const configPath = join(dir, 'sshd_config');
  const knownHostsPath = join(dir, 'known_hosts');
  await writeFile(join(dir, 'host_key'), hostKey.privateKey, { mode: 0o600 });
  await writeFile(join(dir, 'authorized_keys'), `${userKey.publicKey}\n`, { mode: 0o600 });
  const hostPattern = port === 22 ? listenAddress : `[${listenAddress}]:${port}`;
  await writeFile(knownHostsPath, `${hostPattern} ${hostKey.publicKey}\n`);
  await writeFile(
    configPath,
    [
      `Port ${port}`,
      `ListenAddress ${listenAddress}`,
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
  return { listenAddress, port, hostKey, userKey, configPath, knownHostsPath };
}

/** A real OpenSSH sshd on 127.0.0.1 standing in for a guest. */
export interface TestSshd extends SshdFiles {
  /** The `ssh …` command line for `rsync -e`: this user key, the pinned host key, no prompts. */
  sshCommand: string;
  /** Starts sshd (idempotent) and waits until it accepts TCP connections. */
  start(): Promise<void>;
  /** Stops sshd (idempotent) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * A real OpenSSH sshd on 127.0.0.1 with a banger-generated host key, logging
 * in as root with a banger user key; not started until `start()`.
 */
export async function prepareSshd(dir: string, options: Omit<SshdFilesOptions, 'listenAddress'> = {}): Promise<TestSshd> {
  const files = await writeSshdFiles(dir, options);
  const { port, configPath, knownHostsPath, userKey } = files;
  let child: ChildProcess | undefined;
  const stop = async (): Promise<void> => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  const start = async (): Promise<void> => {
    if (child) return;
    const started = spawn(SSHD, ['-D', '-e', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = started;
    let stderr = '';
    started.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    for (let i = 0; i < 100; i++) {
      if (started.exitCode !== null) throw new Error(`sshd exited: ${stderr.trim()}`);
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
    await stop();
    throw new Error(`sshd did not listen on 127.0.0.1:${port}: ${stderr.trim()}`);
  };
  const sshCommand = [
    'ssh',
    `-p ${port}`,
    `-i ${userKey.privateKeyPath}`,
    '-o IdentitiesOnly=yes',
    `-o UserKnownHostsFile=${knownHostsPath}`,
    '-o StrictHostKeyChecking=yes',
    '-o BatchMode=yes',
    '-o LogLevel=ERROR',
  ].join(' ');
  return { ...files, sshCommand, start, stop };
}

/** `prepareSshd` + `start()`: a running loopback sshd whose files live in `dir`. */
export async function startSshd(dir: string, options: Omit<SshdFilesOptions, 'listenAddress'> = {}): Promise<TestSshd> {
  const sshd = await prepareSshd(dir, options);
  await sshd.start();
  return sshd;
}
