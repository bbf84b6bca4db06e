import { MemoryStepStateStore, run, StepEventSchema, type Step } from '@banger/taskgraph';
import { UserError } from '@banger/errors';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { script } from './__fixtures__/scripted-events.js';
import { createProgressRenderer } from './create-renderer.js';
import { pickProgressMode } from './pick-mode.js';

async function render(mode: 'plain' | 'json', color = false): Promise<string> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (chunk: Buffer) => chunks.push(chunk));
  const renderer = await createProgressRenderer({ mode, color, out });
  for (const event of script) renderer.push(event);
  await renderer.done();
  return Buffer.concat(chunks).toString('utf8');
}

describe('plain progress', () => {
  it('prints one stable line per event, progress at each quarter', async () => {
    expect(await render('plain')).toBe(
      [
        '[vm:sandbox] plan: 3 to run, 1 to skip',
        '[vm.fetch-kernel] skipped (satisfied)',
        '[vm.fetch-image] started',
        '[vm.fetch-image] 12.0 MiB / 40.0 MiB · 8.0 MiB/s · ETA 4s (25%)',
        '[vm.fetch-image] 20.0 MiB / 40.0 MiB · 8.0 MiB/s · ETA 3s (50%)',
        '[vm.fetch-image] 40.0 MiB / 40.0 MiB · 9.0 MiB/s (100%)',
        '[vm.fetch-image] ok 5.0s',
        '[vm.boot] started',
        '[vm.boot] | qemu: starting',
        '[vm.boot] FAILED: qemu exited with status 1 (hint: run banger vm logs sandbox)',
        '[vm.wait-ssh] blocked by vm.boot',
        '[vm:sandbox] FAILED at vm.boot after 6.0s',
        '',
      ].join('\n'),
    );
  });

  it('colours status words only when asked to', async () => {
    const colored = await render('plain', true);
    expect(colored).toContain('[vm.boot] \u001b[31mFAILED\u001b[0m: qemu exited');
    expect(await render('plain')).not.toContain('\u001b[');
  });
});

describe('progress of a real engine run', () => {
  it('renders the events of an actual graph run as plain lines', async () => {
    const step = (id: string, needs: string[], work: Step['run']): Step => ({
      id,
      title: id,
      needs,
      inputs: () => ({}),
      isSatisfied: () => false,
      run: work,
    });
    const graph = [
      step('demo.fetch', [], async (_ctx, report) => {
        report.line('downloading');
        report.bytes(2048, 2048);
        return {};
      }),
      step('demo.boot', ['demo.fetch'], async () => {
        throw new UserError('KERNEL_NOT_FOUND', 'no kernel', { hint: 'run banger kernel pull' });
      }),
      step('demo.ssh', ['demo.boot'], async () => ({})),
    ];
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (chunk: Buffer) => chunks.push(chunk));
    const renderer = await createProgressRenderer({ mode: 'plain', color: false, out });
    await run(graph, { graphId: 'demo:1', store: new MemoryStepStateStore(), onEvent: (event) => renderer.push(event) });
    await renderer.done();
    const text = Buffer.concat(chunks).toString('utf8').replace(/\d+\.\ds/g, 'N.Ns');
    expect(text.split('\n')).toEqual([
      '[demo:1] plan: 3 to run, 0 to skip',
      '[demo.fetch] started',
      '[demo.fetch] | downloading',
      '[demo.fetch] 2.0 KiB / 2.0 KiB (100%)',
      '[demo.fetch] ok N.Ns',
      '[demo.boot] started',
      '[demo.boot] FAILED: no kernel (hint: run banger kernel pull)',
      '[demo.ssh] blocked by demo.boot',
      '[demo:1] FAILED at demo.boot after N.Ns',
      '',
    ]);
  });
});

describe('json progress', () => {
  it('writes exactly the events, one JSON object per line', async () => {
    const lines = (await render('json')).trimEnd().split('\n');
    expect(lines).toHaveLength(script.length);
    expect(lines.map((line) => StepEventSchema.parse(JSON.parse(line)))).toEqual(script);
    expect(lines[1]).toBe('{"type":"step-skipped","time":1001,"graphId":"vm:sandbox","stepId":"vm.fetch-kernel","reason":"satisfied"}');
  });
});

describe('pickProgressMode', () => {
  it('chooses json for --json, listr2 on a terminal and plain lines otherwise', () => {
    expect(pickProgressMode({ json: true, isTTY: true, env: {} })).toEqual({ mode: 'json', color: false });
    expect(pickProgressMode({ json: false, isTTY: true, env: {} })).toEqual({ mode: 'tty', color: true });
    expect(pickProgressMode({ json: false, isTTY: false, env: {} })).toEqual({ mode: 'plain', color: false });
    expect(pickProgressMode({ json: false, isTTY: true, env: { TERM: 'dumb' } })).toEqual({ mode: 'plain', color: false });
    expect(pickProgressMode({ json: false, isTTY: true, env: { CI: 'true' } })).toEqual({ mode: 'plain', color: true });
  });

  it('honours NO_COLOR and FORCE_COLOR', () => {
    expect(pickProgressMode({ json: false, isTTY: true, env: { NO_COLOR: '1' } })).toEqual({ mode: 'tty', color: false });
    expect(pickProgressMode({ json: false, isTTY: true, env: { NO_COLOR: '' } })).toEqual({ mode: 'tty', color: true });
    expect(pickProgressMode({ json: false, isTTY: false, env: { FORCE_COLOR: '1' } })).toEqual({ mode: 'plain', color: true });
  });
});
