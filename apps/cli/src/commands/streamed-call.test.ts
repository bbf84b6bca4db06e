import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient, ApiServer, type VmInfoWire } from '@banger/api';
import { CancelledError } from '@banger/errors';
import { createContext, type CliContext } from '../context.js';
import { streamedCall } from './streamed-call.js';

// A real API server on a unix socket stands in for bangerd: the helper is
// exercised through the same client, envelopes and cancel messages as in use.
let dir: string;
let server: ApiServer;
let client: ApiClient;
let ctx: CliContext;
let abort: AbortController;
let stdout: string;
let stderr: string;
let explainSeen: unknown[];
let cancelled: boolean;

const vm: VmInfoWire = {
  name: 'sandbox',
  id: 'vm-1',
  state: 'running',
  image: 'debian-minimal',
  kernel: 'debian-cloud',
  vcpu: 1,
  memoryMib: 512,
  diskBytes: 2 ** 30,
  ip: '172.16.0.2',
  hypervisor: 'qemu/tcg',
  createdAt: '2026-01-01T00:00:00.000Z',
};
const plan = {
  graphId: 'kernel:debian-cloud',
  steps: [{ id: 'kernel.fetch', title: 'fetch the kernel bundle', needs: [], action: 'run' as const, reason: 'not done yet' }],
  conflicts: [],
};

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'banger-streamed-'));
  explainSeen = [];
  cancelled = false;
  server = new ApiServer();
  server.handle('vm.create', (_params, { emit }) => {
    emit({ type: 'vm-notice', time: 1, graphId: 'vm:sandbox', line: 'spec: vcpu 1 (builtin), memory 512 MiB (config)' });
    emit({ type: 'graph-planned', time: 2, graphId: 'vm:sandbox', steps: [{ id: 'vm.boot', title: 'boot', needs: [], action: 'run', reason: 'not done yet' }] });
    emit({ type: 'step-started', time: 3, graphId: 'vm:sandbox', stepId: 'vm.boot' });
    emit({ type: 'step-succeeded', time: 4, graphId: 'vm:sandbox', stepId: 'vm.boot', durationMs: 1000 });
    emit({ type: 'graph-finished', time: 5, graphId: 'vm:sandbox', ok: true, durationMs: 3000 });
    return { vm };
  });
  server.handle('kernel.pull', (params) => {
    explainSeen.push(params.explain);
    return params.explain ? { plan } : {};
  });
  server.handle('vm.start', (_params, { emit, signal }) => {
    emit({ type: 'graph-planned', time: 1, graphId: 'vm:sandbox', steps: [] });
    return new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => {
        cancelled = true;
        reject(new CancelledError('vm.start: cancelled'));
      });
    });
  });
  await server.listen(join(dir, 's.sock'));
  client = await ApiClient.connect(join(dir, 's.sock'));
  stdout = '';
  stderr = '';
  const out = new PassThrough().on('data', (d: Buffer) => (stdout += d.toString()));
  const err = new PassThrough().on('data', (d: Buffer) => (stderr += d.toString()));
  abort = new AbortController();
  ctx = createContext({ stdout: out, stderr: err, env: { BANGER_HOME: dir, NO_COLOR: '1' } }, abort.signal);
  ctx.daemon = async () => ({ client, hello: { daemonVersion: '0.1.0', protocolVersion: 1, pid: 1 }, started: false });
});

afterEach(async () => {
  ctx.close();
  client.close();
  await server.close({ graceMs: 10 });
  rmSync(dir, { recursive: true, force: true });
});

const lines = (text: string): unknown[] => text.trim().split('\n').map((line) => JSON.parse(line) as unknown);

describe('streamedCall', () => {
  it('prints progress and notice lines on stderr in human mode and leaves stdout to the caller', async () => {
    const result = await streamedCall(ctx, 'vm.create', { name: 'sandbox' }, {});
    expect(result.vm?.name).toBe('sandbox');
    expect(stdout).toBe('');
    const printed = stderr.trim().split('\n');
    // The notice comes first, as the daemon sent it, then the plain progress lines.
    expect(printed[0]).toBe('spec: vcpu 1 (builtin), memory 512 MiB (config)');
    expect(printed).toContain('[vm:sandbox] plan: 1 to run, 0 to skip');
    expect(printed).toContain('[vm.boot] started');
    expect(printed.at(-1)).toMatch(/^\[vm:sandbox\] done in /);
  });

  it('passes every event through as NDJSON on stdout with --json and ends with the result line', async () => {
    await streamedCall(ctx, 'vm.create', { name: 'sandbox' }, { json: true });
    expect(stderr).toBe('');
    const events = lines(stdout);
    expect(events.map((e) => (e as { type: string }).type)).toEqual([
      'vm-notice',
      'graph-planned',
      'step-started',
      'step-succeeded',
      'graph-finished',
      'result',
    ]);
    expect(events[0]).toEqual({ type: 'vm-notice', time: 1, graphId: 'vm:sandbox', line: 'spec: vcpu 1 (builtin), memory 512 MiB (config)' });
    expect(events.at(-1)).toEqual({ type: 'result', result: { vm } });
  });

  it('names the method in the result line when asked, for commands that stream several calls', async () => {
    await streamedCall(ctx, 'vm.create', { name: 'sandbox' }, { json: true }, { resultWithMethod: true });
    expect(lines(stdout).at(-1)).toEqual({ type: 'result', method: 'vm.create', result: { vm } });
  });

  it('shows every event to the tap before rendering it', async () => {
    const seen: string[] = [];
    await streamedCall(ctx, 'vm.create', {}, {}, { tap: (event) => seen.push(`${event.type}:${event.graphId}`) });
    expect(seen).toEqual(['vm-notice:vm:sandbox', 'graph-planned:vm:sandbox', 'step-started:vm:sandbox', 'step-succeeded:vm:sandbox', 'graph-finished:vm:sandbox']);
  });

  it('prints the plan with --explain, asks the daemon for the plan only and renders no progress', async () => {
    const result = await streamedCall(ctx, 'kernel.pull', { name: 'debian-cloud' }, { explain: true });
    expect(result.plan).toEqual(plan);
    expect(explainSeen).toEqual([true]);
    expect(stdout).toContain('kernel.fetch');
    expect(stdout).toContain('not done yet');
    expect(stderr).toBe('');
  });

  it('refuses --explain at compile time for a method whose params cannot take it', () => {
    // The daemon would strip an unknown `explain` and really start the VM: the flags type forbids it.
    // @ts-expect-error vm.restart has no explain param
    const flags: Parameters<typeof streamedCall<'vm.restart'>>[3] = { explain: true };
    expect(flags.explain).toBe(true);
  });

  it('prints the plan as JSON with --explain --json', async () => {
    await streamedCall(ctx, 'kernel.pull', { name: 'debian-cloud' }, { explain: true, json: true });
    expect(JSON.parse(stdout)).toEqual(plan);
  });

  it('cancels the call on the daemon when the signal aborts (Ctrl-C) and rejects with CancelledError', async () => {
    const call = streamedCall(ctx, 'vm.start', { name: 'sandbox' }, {});
    // Abort once the daemon has started streaming, as a user's Ctrl-C would.
    await expect.poll(() => stderr).toContain('plan: 0 to run');
    abort.abort();
    const error = await call.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CancelledError);
    expect((error as CancelledError).exitCode).toBe(130);
    await expect.poll(() => cancelled).toBe(true);
  });

  it('cancels through options.signal when one is given instead of the context signal', async () => {
    const deadline = new AbortController();
    const call = streamedCall(ctx, 'vm.start', { name: 'sandbox' }, { json: true }, { signal: deadline.signal });
    await expect.poll(() => stdout).toContain('graph-planned');
    deadline.abort();
    await expect(call).rejects.toBeInstanceOf(CancelledError);
    await expect.poll(() => cancelled).toBe(true);
    // No result line after a cancelled call.
    expect(stdout).not.toContain('"type":"result"');
  });
});
