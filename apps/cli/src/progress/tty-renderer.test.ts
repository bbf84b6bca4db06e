import { build } from 'esbuild';
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const hasTmux = (await execa('tmux', ['-V'], { reject: false })).exitCode === 0;

/**
 * Drives the real listr2 renderer in a real pseudo-terminal (tmux): pushes the
 * scripted events, pausing after the first download progress until the test
 * has seen the bar, then waits for the pane to show the final state.
 */
describe.skipIf(!hasTmux)('tty progress (under tmux)', () => {
  let dir: string;
  let driver: string;
  const session = `banger-progress-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-tty-'));
    driver = join(dir, 'driver.mjs');
    const here = import.meta.dirname;
    await build({
      stdin: {
        contents: `
          import { existsSync } from 'node:fs';
          import { createProgressRenderer } from ${JSON.stringify(join(here, 'create-renderer.ts'))};
          import { script } from ${JSON.stringify(join(here, '__fixtures__/scripted-events.ts'))};
          const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
          const [gate] = process.argv.slice(2);
          const renderer = await createProgressRenderer({ mode: 'tty', color: true });
          for (const event of script) {
            renderer.push(event);
            await sleep(100);
            if (event.type === 'step-progress' && event.done === 12 * 1024 * 1024) {
              while (!existsSync(gate)) await sleep(50);
            }
          }
          await renderer.done();
          process.stdout.write('RENDER-DONE\\n');
        `,
        resolveDir: here,
        loader: 'ts',
        sourcefile: 'driver.ts',
      },
      outfile: driver,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      conditions: ['@banger/source'],
      logLevel: 'error',
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    });
  }, 60_000);

  afterAll(async () => {
    if (process.env.BANGER_KEEP_PANE) console.log(await capture().catch(() => ''));
    await execa('tmux', ['kill-session', '-t', session], { reject: false });
    await rm(dir, { recursive: true, force: true });
  });

  const capture = async () => (await execa('tmux', ['capture-pane', '-p', '-t', session])).stdout;
  async function waitForPane(check: (pane: string) => boolean, what: string): Promise<string> {
    const deadline = Date.now() + 20_000;
    let pane = '';
    while (Date.now() < deadline) {
      pane = await capture();
      if (check(pane)) return pane;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`pane never showed ${what}; last capture:\n${pane}`);
  }

  it('shows step titles, the skip reason, a live download bar, timings, the failure with its hint and the blocked step', async () => {
    const gate = join(dir, 'gate');
    const command = `node ${driver} ${gate}; sleep 600`;
    await execa('tmux', ['new-session', '-d', '-s', session, '-x', '120', '-y', '30', command], {
      env: { ...process.env, TERM: 'xterm-256color' },
    });

    const live = await waitForPane((pane) => pane.includes('12.0 MiB / 40.0 MiB'), 'the download bar');
    expect(live).toContain('Fetch kernel — satisfied');
    expect(live).toMatch(/\[█+░+\] 12\.0 MiB \/ 40\.0 MiB · 8\.0 MiB\/s · ETA 4s/);
    expect(live).toContain('Boot the VM');
    expect(live).toContain('waiting for vm.fetch-kernel, vm.fetch-image');
    await writeFile(gate, '');

    const final = await waitForPane((pane) => pane.includes('RENDER-DONE'), 'the end of rendering');
    expect(final).toContain('Fetch kernel — satisfied');
    expect(final).toMatch(/Fetch image 5\.0s/);
    expect(final).toContain('Boot the VM');
    expect(final).toContain('qemu exited with status 1 (hint: run banger vm logs sandbox)');
    expect(final).toContain('Wait for ssh — blocked by vm.boot');
    expect(final).not.toContain('waiting for');
    expect(existsSync(gate)).toBe(true);
  });
});
