import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecutable } from '@banger/host';
import { startSshd, sshdUnavailable, writeSshdFiles, type TestSshd } from './index.js';

const why = sshdUnavailable() ?? (findExecutable('ssh') ? undefined : 'openssh-client is not installed');

describe('writeSshdFiles', () => {
  it('pins the host key for the bare address when sshd listens on port 22', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'banger-sshd-files-'));
    try {
      const files = await writeSshdFiles(dir, { listenAddress: '172.16.0.5', port: 22 });
      expect(await readFile(files.knownHostsPath, 'utf8')).toBe(`172.16.0.5 ${files.hostKey.publicKey}\n`);
      expect(await readFile(files.configPath, 'utf8')).toMatch(/^Port 22\nListenAddress 172\.16\.0\.5\n/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(why)(`startSshd${why ? ` (skipped: ${why})` : ''}`, () => {
  let dir: string;
  let sshd: TestSshd;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-sshd-fixture-'));
    sshd = await startSshd(dir);
  });
  afterAll(async () => {
    await sshd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('lets OpenSSH log in as root through sshCommand with strict checking against the pinned host key', async () => {
    // rsync -e splits the command line on spaces the same way.
    const [ssh, ...args] = sshd.sshCommand.split(' ');
    const result = await execa(ssh!, [...args, 'root@127.0.0.1', 'id -un'], { reject: false, stdin: 'ignore' });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('root');
  });

  it('stops idempotently, after which nothing listens on the port', async () => {
    await sshd.stop();
    await sshd.stop();
    const [ssh, ...args] = sshd.sshCommand.split(' ');
    const result = await execa(ssh!, [...args, 'root@127.0.0.1', 'true'], { reject: false, stdin: 'ignore' });
    expect(result.exitCode).toBe(255);
    expect(result.stderr).toMatch(/refused/);
  });
});
