import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serveSession, type GuestNetwork, type OpHandlers } from '@banger/agent';
import { processStartTime } from '@banger/host';
import { generateHostKey } from '@banger/ssh';
import { freePort } from '@banger/ssh/testing';
import type { Graph, StepContext, StepReport } from '@banger/taskgraph';
import { testEnv } from '../__fixtures__/env.js';
import { insertVmRecord } from '../__fixtures__/vm-records.js';
import { AgentLinks } from '../agent/agent-links.js';
import { vmDirOf } from '../vm-env.js';
import { VM_CREATE_STEP_IDS, vmCreateGraph } from '../vm-graph.js';
import type { VmRecord } from '../vm-record.js';
import { waitAgentStep, type WaitAgentOutputs } from './wait-agent.js';
import { waitSshStep, type WaitSshOutputs } from './wait-ssh.js';

const needsOf = (steps: Graph, id: string): string[] => [...(steps.find((s) => s.id === id)?.needs ?? [])].sort();

describe('the readiness order of a VM graph', () => {
  let env: ReturnType<typeof testEnv>;
  afterEach(() => env?.cleanup());

  it('waits for the agent right after the boot, and for ssh after the agent', () => {
    env = testEnv();
    const steps = vmCreateGraph(env, insertVmRecord(env, 'cold'));
    expect(needsOf(steps, 'vm.wait-agent')).toEqual(['vm.boot', 'vm.runtime-disk']);
    expect(needsOf(steps, 'vm.wait-ssh')).toEqual(['vm.boot', 'vm.wait-agent']);
    expect(VM_CREATE_STEP_IDS.slice(-3)).toEqual(['vm.boot', 'vm.wait-agent', 'vm.wait-ssh']);
  });

  it('a warm VM has no step between its restore and its identity: vm.boot does both, then the waits follow as for a cold VM', () => {
    env = testEnv();
    const record = insertVmRecord(env, 'warm');
    const steps = vmCreateGraph(env, { ...record, spec: { ...record.spec, warm: true } } as VmRecord);
    expect(steps.map((s) => s.id)).not.toContain('vm.warm-identity');
    expect(needsOf(steps, 'vm.wait-agent')).toEqual(['vm.boot', 'vm.runtime-disk']);
    expect(needsOf(steps, 'vm.wait-ssh')).toEqual(['vm.boot', 'vm.wait-agent']);
  });
});

/** A stand-in for QEMU's agent chardev: the real agent session behind a Unix socket, its network answers scripted. */
function fakeAgent(path: string, network: () => GuestNetwork | undefined): { server: Server; factsAsked: () => number } {
  let asked = 0;
  const handlers = {
    facts: (stream) => {
      asked += 1;
      const net = network();
      stream.control({
        type: 'result',
        result: {
          uptimeSeconds: 1,
          load: [0, 0, 0],
          memory: { totalBytes: 1, availableBytes: 1 },
          disk: { path: '/', totalBytes: 1, freeBytes: 1, availableBytes: 1 },
          agent: { version: 'test', pid: 1, rssBytes: 1 },
          ...(net ? { network: net } : {}),
        },
      });
    },
  } as Partial<OpHandlers> as OpHandlers;
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    serveSession(socket, { agentVersion: '0.0.1', handlers });
  });
  server.listen(path);
  return { server, factsAsked: () => asked };
}

describe('vm.wait-agent and vm.wait-ssh against a live agent socket and a real TCP port', () => {
  let env: ReturnType<typeof testEnv>;
  let record: VmRecord;
  let links: AgentLinks;
  const servers: Server[] = [];
  const lines: string[] = [];
  const report: StepReport = { line: (l: string) => void lines.push(l), bytes: () => undefined } as unknown as StepReport;
  const ctx = (outputs: Record<string, unknown> = {}): StepContext =>
    ({ signal: new AbortController().signal, need: (id: string) => ({ 'vm.runtime-disk': { path: '/runtime.ext4' }, ...outputs })[id], previousOutputs: undefined }) as unknown as StepContext;

  beforeEach(() => {
    env = testEnv();
    links = new AgentLinks('test');
    env.agent = { links };
    lines.length = 0;
    // This test process stands in for the hypervisor: alive, with its real start time.
    record = insertVmRecord(env, 'box', { state: 'running', ip: '127.0.0.1', pid: process.pid, pidStartTime: processStartTime(process.pid) });
    const dir = vmDirOf(env, 'box');
    mkdirSync(dir.root, { recursive: true });
    writeFileSync(dir.hostPublicKey, `${generateHostKey('box').publicKey}\n`);
  });
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
    links.forget(record.id);
    env.cleanup();
  });

  it('after the hello, waits until the guest has a default route and a nameserver', async () => {
    let polls = 0;
    const agent = fakeAgent(vmDirOf(env, 'box').agentSocket, () => (++polls < 4 ? { defaultRoute: polls > 2, nameservers: [] } : { defaultRoute: true, nameservers: ['172.16.0.1'] }));
    servers.push(agent.server);
    const out = (await waitAgentStep(env, record, { sshPort: await freePort() }).run(ctx(), report)) as WaitAgentOutputs;
    expect(out.agent.state).toBe('up');
    expect(agent.factsAsked()).toBe(4);
    expect(lines.some((l) => /^guest network up after \d/.test(l)), lines.join('\n')).toBe(true);
  });

  it('goes on with one warning when the guest network never comes up', async () => {
    const agent = fakeAgent(vmDirOf(env, 'box').agentSocket, () => ({ defaultRoute: false, nameservers: [] }));
    servers.push(agent.server);
    const out = (await waitAgentStep(env, record, { sshPort: await freePort(), networkMs: 400 }).run(ctx(), report)) as WaitAgentOutputs;
    expect(out.agent.state).toBe('up');
    expect(lines.filter((l) => l.startsWith('warning:'))).toEqual(['warning: the guest network is not configured after 0 s (no default route, no nameserver in /etc/resolv.conf); going on']);
  });

  it('records the agent down once sshd has listened for the grace without a hello', async () => {
    const sshd = createServer((socket) => socket.destroy());
    servers.push(sshd);
    const port = await new Promise<number>((resolve) => sshd.listen(0, '127.0.0.1', () => resolve((sshd.address() as { port: number }).port)));
    const started = Date.now();
    const out = (await waitAgentStep(env, record, { sshPort: port, graceMs: 1_500, timeoutMs: 60_000 }).run(ctx(), report)) as WaitAgentOutputs;
    expect(out.agent).toMatchObject({ state: 'down', reason: 'no hello within 2 s of sshd listening' });
    expect(links.status(record)?.state).toBe('down');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('fails naming the timeout and its source when neither the agent nor sshd answers', async () => {
    const error = await waitAgentStep(env, record, { sshPort: await freePort(), timeoutMs: 1_500, timeoutSource: '--ssh-timeout' })
      .run(ctx(), report)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'SSH_WAIT_TIMEOUT', message: 'vm box: neither its agent nor ssh answered within 2 s (--ssh-timeout)' });
    expect((error as { hint: string }).hint).toContain('banger vm logs box');
  });

  it("with ssh 'if-no-agent', is done at once when the agent is up; with 'always', still asks sshd", async () => {
    const agent = fakeAgent(vmDirOf(env, 'box').agentSocket, () => ({ defaultRoute: true, nameservers: ['172.16.0.1'] }));
    servers.push(agent.server);
    await waitAgentStep(env, record, { sshPort: await freePort() }).run(ctx(), report);
    const gated = waitSshStep(env, record, { ssh: 'if-no-agent' });
    expect(await gated.isSatisfied?.(ctx())).toBe(true);
    const started = Date.now();
    expect((await gated.run(ctx(), report)) as WaitSshOutputs).toEqual({ ip: '127.0.0.1', skipped: true });
    expect(Date.now() - started).toBeLessThan(1_000);
    // Nothing listens on 127.0.0.1:22 for this VM's pinned key: a wait that needs ssh is not satisfied.
    expect(await waitSshStep(env, record, { ssh: 'always' }).isSatisfied?.(ctx())).toMatchObject({ satisfied: false });
  });

  it("with ssh 'if-no-agent' and the agent down, waits for sshd like 'always'", async () => {
    links.markDown(record, 'test: no agent');
    const gated = waitSshStep(env, record, { ssh: 'if-no-agent', timeoutMs: 1_000 });
    expect(await gated.isSatisfied?.(ctx())).toMatchObject({ satisfied: false });
    await expect(gated.run(ctx(), report)).rejects.toMatchObject({ code: 'SSH_WAIT_TIMEOUT' });
  });
});
