import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient, ApiServer } from '@banger/api';
import { createContext, type CliContext } from '../context.js';
import { callWithProgress } from './call-with-progress.js';

let dir: string;
let server: ApiServer;
let ctx: CliContext;
let stdout: string;
let stderr: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'banger-progress-'));
  server = new ApiServer();
  server.handle('complete.names', (_params, { emit }) => {
    emit({ type: 'test-event', n: 1 } as never);
    emit({ type: 'test-event', n: 2 } as never);
    return ['done'];
  });
  await server.listen(join(dir, 's.sock'));
  const client = await ApiClient.connect(join(dir, 's.sock'));
  stdout = '';
  stderr = '';
  const out = new PassThrough().on('data', (d: Buffer) => (stdout += d.toString()));
  const err = new PassThrough().on('data', (d: Buffer) => (stderr += d.toString()));
  ctx = createContext({ stdout: out, stderr: err, env: { BANGER_HOME: dir } }, new AbortController().signal);
  ctx.daemon = async () => ({ client, hello: { daemonVersion: '0.1.0', protocolVersion: 1, pid: 1 }, started: false });
});

afterEach(async () => {
  ctx.close();
  await server.close({ graceMs: 10 });
  rmSync(dir, { recursive: true, force: true });
});

describe('callWithProgress', () => {
  it('streams the events as NDJSON on stdout with --json, then returns the result', async () => {
    expect(await callWithProgress(ctx, 'complete.names', { kind: 'vm' }, { json: true })).toEqual(['done']);
    expect(stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual([
      { type: 'test-event', n: 1 },
      { type: 'test-event', n: 2 },
    ]);
    expect(stderr).toBe('');
  });
});
