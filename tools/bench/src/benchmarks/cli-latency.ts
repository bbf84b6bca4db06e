// Issues 11 and 19: the latency of a CLI call that asks the daemon something,
// with the daemon already running, vs `node -e 0`, the floor of any Node CLI.
// Two rows: `banger vm list` (connect to bangerd's socket, one RPC, print the
// table), and the call a shell makes on TAB after `banger vm show ` (the
// hidden `banger complete` entry point asking the daemon for VM names). The
// ratio is what banger's own startup and the round trip add.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '@banger/host';
import { defineBenchmark } from '../benchmark.js';
import { buildCliBundles } from '../fixtures/cli-bundles.js';
import { logSetup } from '../fixtures/cache-dir.js';

interface Context {
  dir: string;
  banger: string;
  env: Record<string, string>;
  daemonPid?: number;
}

/** The CLI's environment: an isolated BANGER_HOME, never the real ~/.config/banger. */
function cliEnv(home: string): Record<string, string> {
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, BANGER_HOME: home, NO_COLOR: '1', LANG: 'C.UTF-8' };
}

async function banger(ctx: Context, args: string[]): Promise<string> {
  const result = await run(process.execPath, [ctx.banger, ...args], { env: ctx.env, allowFailure: true, timeoutMs: 60_000 });
  if (result.exitCode !== 0) throw new Error(`banger ${args.join(' ')} exited ${result.exitCode}: ${result.stderr.trim().split('\n').at(-1)}`);
  return result.stdout;
}

/** One CLI-latency row: a warm daemon on its own BANGER_HOME, then `banger <args>` per run. */
function cliLatency(name: string, args: string[], check: (stdout: string) => boolean) {
  return defineBenchmark<Context>({
    name,
    baseline: '`node -e 0`: starting any Node CLI at all',
    runs: 11,
    async setup() {
      const dir = await mkdtemp(join(tmpdir(), 'banger-bench-cli-'));
      try {
        const { banger: bangerJs } = await buildCliBundles(dir);
        const ctx: Context = { dir, banger: bangerJs, env: cliEnv(join(dir, 'home')) };
        // The first call starts bangerd; the benchmark measures calls to a daemon that is up.
        const status = JSON.parse(await banger(ctx, ['daemon', 'status', '--json'])) as { pid: number };
        ctx.daemonPid = status.pid;
        logSetup(`bangerd pid ${status.pid} (BANGER_HOME ${ctx.env['BANGER_HOME']})`);
        return ctx;
      } catch (error) {
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
    },
    async teardown(ctx) {
      try {
        await banger(ctx, ['daemon', 'stop']);
      } catch {
        // Fall back to the pid it reported: a benchmark never leaves a daemon behind.
        if (ctx.daemonPid) {
          try {
            process.kill(ctx.daemonPid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
      await rm(ctx.dir, { recursive: true, force: true });
    },
    async banger(ctx) {
      const out = await banger(ctx, args);
      if (!check(out)) throw new Error(`unexpected banger ${args.join(' ')} output: ${out.slice(0, 80)}`);
    },
    async runBaseline() {
      await run(process.execPath, ['-e', '0']);
    },
  });
}

export default [
  cliLatency('CLI latency: `banger vm list` (warm daemon)', ['vm', 'list'], (out) => out.includes('no VMs') || out.includes('NAME')),
  // What bash, zsh and fish run on TAB after `banger vm show `; the daemon answers with the VM names (none here).
  cliLatency('CLI latency: TAB completion of a VM name (warm daemon)', ['complete', '--', 'vm', 'show', ''], (out) => !out.includes('banger:')),
];
