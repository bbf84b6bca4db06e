import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { prepareSshd, freePort, sshdUnavailable, type TestSshd } from './testing/index.js';
import { generateHostKey } from './keys/host-key.js';
import { pinHostKey } from './keys/known-hosts.js';
import { exitStatusOf, openSshSession, sshExec } from './exec.js';
import { HostKeyMismatchError } from './connect.js';
import { openSshArgs } from './open-ssh-args.js';
import { SshWaitTimeoutError, waitForSsh } from './wait-for-ssh.js';
import { tcpPortOpen } from './port-open.js';

const skip = sshdUnavailable();

function sink(): { stream: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  return {
    stream: new Writable({
      write(chunk: Buffer, _e, done) {
        chunks.push(chunk);
        done();
      },
    }),
    bytes: () => Buffer.concat(chunks),
  };
}

describe.skipIf(skip)('ssh against a real OpenSSH sshd', () => {
  let dir: string;
  let sshd: TestSshd;
  const target = () => ({ host: '127.0.0.1', port: sshd.port, privateKey: sshd.userKey.privateKey, hostKey: sshd.hostKey.publicKey });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-ssh-test-'));
    sshd = await prepareSshd(dir);
    await sshd.start();
  });
  afterAll(async () => {
    await sshd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('passes the exit status of a command through', async () => {
    expect(await sshExec({ ...target(), command: 'true' })).toEqual({ exitCode: 0 });
    expect(await sshExec({ ...target(), command: 'exit 42' })).toEqual({ exitCode: 42 });
  });

  it('reports death by signal so callers can map it to 128+n', async () => {
    const result = await sshExec({ ...target(), command: 'kill -9 $$' });
    expect(result).toEqual({ exitCode: null, signal: 'SIGKILL' });
    expect(exitStatusOf(result)).toBe(137);
  });

  it('keeps stdout and stderr separate and byte-exact, binary included', async () => {
    const out = sink();
    const err = sink();
    const payload = randomBytes(200_000);
    await writeFile(join(dir, 'payload'), payload);
    const result = await sshExec({
      ...target(),
      command: `cat ${join(dir, 'payload')}; printf 'err\\0\\377line\\n' >&2`,
      stdout: out.stream,
      stderr: err.stream,
    });
    expect(result.exitCode).toBe(0);
    expect(out.bytes().equals(payload)).toBe(true);
    expect(err.bytes()).toEqual(Buffer.from('err\0\xffline\n', 'latin1'));
  });

  it('pipes stdin into the command and closes it afterwards', async () => {
    const out = sink();
    const input = Readable.from([Buffer.from('hello '), Buffer.from('world\n')]);
    await sshExec({ ...target(), command: 'tr a-z A-Z; echo done', stdin: input, stdout: out.stream });
    expect(out.bytes().toString()).toBe('HELLO WORLD\ndone\n');
  });

  it('gives the command end-of-file at once when no stdin is given', async () => {
    const out = sink();
    await sshExec({ ...target(), command: 'wc -c', stdout: out.stream });
    expect(out.bytes().toString().trim()).toBe('0');
  });

  it('allocates a pty of the requested size', async () => {
    const out = sink();
    await sshExec({ ...target(), command: 'stty size', pty: { cols: 101, rows: 31 }, stdout: out.stream });
    expect(out.bytes().toString().trim()).toBe('31 101');
  });

  it('resizes the pty of a running command', async () => {
    const out = sink();
    await sshExec({
      ...target(),
      command: 'sleep 0.5; stty size',
      pty: { cols: 80, rows: 24 },
      stdout: out.stream,
      onStart: (controls) => controls.resize(132, 43),
    });
    expect(out.bytes().toString().trim()).toBe('43 132');
  });

  it('runs several commands over one session', async () => {
    const session = await openSshSession(target());
    try {
      expect(await session.exec({ command: 'exit 3' })).toEqual({ exitCode: 3 });
      expect(await session.exec({ command: 'exit 4' })).toEqual({ exitCode: 4 });
    } finally {
      session.close();
    }
  });

  it('fails with an error naming the host when a closed session is reused', async () => {
    const session = await openSshSession(target());
    session.close();
    await new Promise((r) => setTimeout(r, 200));
    await expect(session.exec({ command: 'true' })).rejects.toThrow(/^ssh 127\.0\.0\.1: /);
  });

  it('refuses a guest whose host key is not the pinned one', async () => {
    const other = generateHostKey('impostor');
    const error = await sshExec({ ...target(), hostKey: other.publicKey, command: 'true' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostKeyMismatchError);
    expect((error as Error).message).toMatch(/^host key mismatch for 127\.0\.0\.1:/);
  });

  it('waits for an sshd that starts late', async () => {
    const lateDir = await mkdtemp(join(tmpdir(), 'banger-ssh-late-'));
    const late = await prepareSshd(lateDir);
    try {
      const attempts: number[] = [];
      const waiting = waitForSsh({
        host: '127.0.0.1',
        port: late.port,
        privateKey: late.userKey.privateKey,
        hostKey: late.hostKey.publicKey,
        timeoutMs: 20_000,
        onAttempt: (n) => attempts.push(n),
      });
      await new Promise((r) => setTimeout(r, 1_200));
      await late.start();
      await waiting;
      expect(attempts.length).toBeGreaterThan(0);
    } finally {
      await late.stop();
      await rm(lateDir, { recursive: true, force: true });
    }
  });

  it('notices an sshd that starts late within a fixed short poll, not a growing backoff', async () => {
    const lateDir = await mkdtemp(join(tmpdir(), 'banger-ssh-late-'));
    const late = await prepareSshd(lateDir);
    try {
      const waiting = waitForSsh({ host: '127.0.0.1', port: late.port, privateKey: late.userKey.privateKey, hostKey: late.hostKey.publicKey, timeoutMs: 20_000 });
      // Long enough that a doubling backoff from 0.2 s would be sleeping 1.6 s or more when sshd comes up.
      await new Promise((r) => setTimeout(r, 3_000));
      const listening = Date.now();
      await late.start();
      const startedIn = Date.now() - listening;
      await waiting;
      // sshd's own start is counted out: what is left is the poll's pause plus one handshake.
      expect(Date.now() - listening - startedIn).toBeLessThan(700);
    } finally {
      await late.stop();
      await rm(lateDir, { recursive: true, force: true });
    }
  });

  it('tells a listening port from a closed one without speaking ssh', async () => {
    expect(await tcpPortOpen('127.0.0.1', sshd.port, 1_000)).toBe(true);
    expect(await tcpPortOpen('127.0.0.1', await freePort(), 1_000)).toBe(false);
  });

  it('gives up with a hint to read the console when sshd never comes up', async () => {
    const port = await freePort();
    const started = Date.now();
    const error = await waitForSsh({ ...target(), port, timeoutMs: 1_500, vmName: 'sandbox' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SshWaitTimeoutError);
    expect((error as SshWaitTimeoutError).message).toBe(`ssh on 127.0.0.1:${port} not ready after 2s: connection refused`);
    expect((error as SshWaitTimeoutError).hint).toContain('banger vm logs sandbox');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('fails at once when waiting for a guest with the wrong host key', async () => {
    const error = await waitForSsh({ ...target(), hostKey: generateHostKey('x').publicKey, timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostKeyMismatchError);
  });

  it('builds OpenSSH arguments that connect with strict checking against the pinned key only', async () => {
    const knownHosts = join(dir, 'known_hosts');
    await pinHostKey(knownHosts, { names: ['sandbox.vm', '127.0.0.1'], publicKey: sshd.hostKey.publicKey });
    const args = openSshArgs({
      host: '127.0.0.1',
      port: sshd.port,
      keyPath: sshd.userKey.privateKeyPath,
      knownHostsPath: knownHosts,
      vmName: 'sandbox',
      tty: false,
      command: ['sh', '-c', 'echo "$1"; exit 7', 'sh', "it's quoted"],
    });
    const ok = await execa('ssh', args, { reject: false, stdin: 'ignore' });
    expect(ok.stdout).toBe("it's quoted");
    expect(ok.exitCode).toBe(7);

    await pinHostKey(knownHosts, { names: ['sandbox.vm'], publicKey: generateHostKey('other').publicKey });
    const refused = await execa('ssh', args, { reject: false, stdin: 'ignore' });
    expect(refused.exitCode).toBe(255);
    expect(refused.stderr).toMatch(/host key|HOST IDENTIFICATION/i);
  });

  it('cancels a running command when the signal aborts', async () => {
    const controller = new AbortController();
    const running = sshExec({ ...target(), command: 'sleep 30', signal: controller.signal, stdin: new PassThrough() });
    setTimeout(() => controller.abort(), 300);
    await expect(running).rejects.toThrow(/cancelled/);
  });
});
