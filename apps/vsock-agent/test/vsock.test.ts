// The agent on the vsock channel as a Firecracker guest runs it (--vsock-port 1024), on the host:
// the real agent bundle keeps the real banger-vsock-relay running, in the relay's test mode (a Unix
// socket instead of the vsock port: this host has no vsock transport). The host side speaks the
// agent protocol through the relay exactly as it would through Firecracker's UDS after `OK`.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prerequisites } from '@banger/host/testing';
import { pickChannel, virtioDeviceIds } from '../src/channel.js';
import { AGENT_VERSION } from '../src/version.js';
import { startAgent, type AgentProcess } from './agent-process.js';

const needs = prerequisites(['gcc']);

/** Pids of live processes whose command line contains `text`. */
function pidsOf(text: string): number[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text) && !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  }).map(Number);
}

describe.skipIf(needs.skip)('banger-vsock-agent on vsock through banger-vsock-relay', () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    needs.assert();
    agent = await startAgent({ vsock: true });
  });
  afterAll(async () => agent?.stop());

  it('answers the hello and runs a command through the relay; its own socket is root-only', async () => {
    const client = await agent.connect();
    expect(client.hello.agentVersion).toBe(AGENT_VERSION);
    const result = await client.run({ argv: ['sh', '-c', 'echo out; echo err >&2; exit 7'] });
    expect(result.stdout.toString()).toBe('out\n');
    expect(result.stderr.toString()).toBe('err\n');
    expect(result.code).toBe(7);
    // Byte-exact through the relay and the agent: 4 MiB of random bytes through `cat`.
    const input = randomBytes(4 * 2 ** 20);
    const echoed = await client.run({ argv: ['cat'] }, input);
    expect(createHash('sha256').update(echoed.stdout).digest('hex')).toBe(createHash('sha256').update(input).digest('hex'));
    client.close();
    expect(statSync(join(agent.dir, 'private')).mode & 0o777).toBe(0o700);
    expect(statSync(join(agent.dir, 'private', 'relay.sock')).mode & 0o077).toBe(0); // no group or other access
  });

  it('restarts a relay that dies, and the next host connection works', async () => {
    const [relay] = pidsOf(`--connect-unix${'\0'}${join(agent.dir, 'private', 'relay.sock')}`);
    expect(relay).toBeDefined();
    process.kill(relay!, 'SIGKILL');
    await sleep(1_500);
    const client = await agent.connect();
    expect((await client.run({ argv: ['true'] })).code).toBe(0);
    client.close();
    expect(agent.log()).toContain('relay ended');
  });

  it('takes the relay with it when the agent dies', async () => {
    const pattern = `--connect-unix${'\0'}${join(agent.dir, 'private', 'relay.sock')}`;
    expect(pidsOf(pattern)).toHaveLength(1);
    agent.child.kill('SIGKILL');
    for (let i = 0; i < 50 && pidsOf(pattern).length > 0; i++) await sleep(50);
    expect(pidsOf(pattern)).toEqual([]);
  });
});

describe('choosing the channel (--auto)', () => {
  it('prefers the virtio-serial port, else vsock, else waits', () => {
    expect(pickChannel([0x0002, 0x0001, 0x0003, 0x0013])).toBe('serial');
    expect(pickChannel([0x0002, 0x0001, 0x0013])).toBe('vsock');
    expect(pickChannel([0x0002, 0x0001])).toBeUndefined();
  });

  it('reads the device ids from sysfs as the kernel lists them', () => {
    const root = mkdtempSync(join(tmpdir(), 'banger-sysfs-'));
    try {
      expect(virtioDeviceIds(root)).toEqual([]);
      for (const [dev, id] of [['virtio0', '0x0002'], ['virtio1', '0x0013']]) {
        const dir = join(root, 'bus', 'virtio', 'devices', dev!);
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'device'), `${id}\n`);
      }
      expect(virtioDeviceIds(root).sort((a, b) => a - b)).toEqual([0x0002, 0x0013]);
      expect(pickChannel(virtioDeviceIds(root))).toBe('vsock');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
