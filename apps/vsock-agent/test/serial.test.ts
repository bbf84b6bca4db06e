import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { FrameDecoder, FrameType, type Frame } from '@banger/agent';
import { startAgent, type AgentProcess } from './agent-process.js';

/**
 * A stand-in for QEMU's virtio-serial port: socat makes a pseudo-terminal in
 * raw mode (a character device, like /dev/virtio-ports/banger.agent) linked at
 * <dir>/port, and relays its other end to one host connection on a Unix socket
 * (QEMU's chardev socket). When that host hangs up, socat exits and the
 * device goes away, as when the host end of the port closes.
 */
async function startPort(agent: AgentProcess): Promise<ChildProcess> {
  const relay = spawn('socat', [`PTY,link=${join(agent.dir, 'port')},rawer`, `UNIX-LISTEN:${agent.socket}`], { stdio: 'ignore' });
  for (let i = 0; !existsSync(agent.socket); i++) {
    if (relay.exitCode !== null || i > 200) throw new Error('socat did not come up (is it installed? Makefile TEST_PACKAGES)');
    await sleep(25);
  }
  return relay;
}

describe('banger-vsock-agent on a serial port', () => {
  let agent: AgentProcess;
  afterAll(async () => {
    await agent?.stop();
  });

  it('waits for the port to appear, serves a host on it, and serves the next host after a hang-up', async () => {
    agent = await startAgent({ serial: true });
    // Starting Node takes a while on a loaded host: wait for the agent to say it is waiting.
    await expect.poll(() => agent.log(), { timeout: 15_000, interval: 100 }).toMatch(/waiting for .*port/);
    expect(agent.child.exitCode).toBeNull();

    let relay = await startPort(agent);
    let client = await agent.connect();
    // The device is read as a polled stream on the event loop, not 4 KiB at a time through the thread pool.
    expect(agent.log()).toMatch(/opened .*port \(polled on the event loop\)/);
    expect((await client.run({ argv: ['sh', '-c', 'echo first'] })).stdout.toString()).toBe('first\n');
    client.close();
    await new Promise((ok) => (relay.exitCode !== null ? ok(undefined) : relay.once('exit', ok)));

    relay = await startPort(agent);
    client = await agent.connect();
    const r = await client.run({ argv: ['sh', '-c', 'echo second; exit 3'] });
    expect(r).toMatchObject({ code: 3 });
    expect(r.stdout.toString()).toBe('second\n');
    client.close();
    await new Promise((ok) => (relay.exitCode !== null ? ok(undefined) : relay.once('exit', ok)));

    // Each session says hello unasked as it opens: a host holding the port learns the agent behind it is new.
    relay = await startPort(agent);
    const frames = await new Promise<Frame[]>((resolve, reject) => {
      const decoder = new FrameDecoder();
      const socket = createConnection(agent.socket);
      const timer = setTimeout(() => reject(new Error('no frame from the agent within 10 s, before any hello of ours')), 10_000);
      socket.on('data', (chunk) => {
        const got = decoder.push(chunk);
        if (got.length === 0) return;
        clearTimeout(timer);
        socket.destroy();
        resolve(got);
      });
      socket.on('error', reject);
    });
    expect(frames[0]).toMatchObject({ type: FrameType.Hello, stream: 0 });
    expect(JSON.parse(frames[0]!.payload.toString())).toMatchObject({ announce: true, protocol: 1, pid: agent.child.pid });
    relay.kill();
  }, 40_000);
});
