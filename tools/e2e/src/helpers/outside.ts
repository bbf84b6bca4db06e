import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { run } from '@banger/host';

/** The benchmarking range: never a real host's network, and only ever inside the test's namespaces. */
export const OUTSIDE_ADDRESS = '198.18.0.1';
const INSIDE_ADDRESS = '198.18.0.2';
const repoRoot = resolve(import.meta.dirname, '../../../..');

/** A running simulated "outside": DNS for `mirror.test` and HTTP on :8080 of `address`. */
export interface Outside {
  /** The namespace the outside lives in (e.g. to send a query from it). */
  ns: string;
  /** Where its DNS and HTTP servers listen; `mirror.test` resolves to it. */
  address: string;
  stop(): Promise<void>;
}

/**
 * Makes the e2e namespace an "outside" (call it from inside netns-run.sh):
 * a second network namespace a veth away, the e2e namespace's default route,
 * running a DNS server for the `mirror.test` zone (NXDOMAIN for any other
 * name, at once) and an HTTP server of `filesDir` on port 8080. The bridge
 * subnet (172.16.0.0/24) is routed back, so the outside can also try the
 * bridge listener directly. `stop()` deletes the namespace and the veth.
 */
export async function startOutside(filesDir: string): Promise<Outside> {
  const ns = `banger-up-${randomBytes(3).toString('hex')}`;
  await run('ip', ['netns', 'add', ns]);
  let server: ChildProcess | undefined;
  const stop = async (): Promise<void> => {
    server?.kill('SIGKILL');
    await run('ip', ['link', 'del', 'wan0'], { allowFailure: true });
    await run('ip', ['netns', 'delete', ns], { allowFailure: true });
  };
  try {
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await run('ip', ['link', 'add', 'wan0', 'type', 'veth', 'peer', 'name', 'up0', 'netns', ns]);
    await run('ip', ['addr', 'add', `${INSIDE_ADDRESS}/24`, 'dev', 'wan0']);
    await run('ip', ['link', 'set', 'wan0', 'up']);
    await run('ip', ['-n', ns, 'addr', 'add', `${OUTSIDE_ADDRESS}/24`, 'dev', 'up0']);
    await run('ip', ['-n', ns, 'link', 'set', 'up0', 'up']);
    await run('ip', ['route', 'replace', 'default', 'via', OUTSIDE_ADDRESS]);
    await run('ip', ['-n', ns, 'route', 'add', '172.16.0.0/24', 'via', INSIDE_ADDRESS]);

    const bundle = join(repoRoot, 'tools/e2e/out-tsc', `outside-server-${process.pid}-${ns}.mjs`);
    await build({
      entryPoints: [join(import.meta.dirname, '../fixtures/outside-server.ts')],
      outfile: bundle,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      conditions: ['@banger/source'],
      banner: { js: "import { createRequire as __bangerCreateRequire } from 'node:module'; const require = __bangerCreateRequire(import.meta.url);" },
      logLevel: 'silent',
    });
    server = spawn('ip', ['netns', 'exec', ns, process.execPath, bundle, OUTSIDE_ADDRESS, filesDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const started = server;
    await new Promise<void>((resolvePromise, reject) => {
      let err = '';
      started.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      started.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolvePromise());
      started.once('exit', (code) => reject(new Error(`the outside server exited (${code}): ${err}`)));
    });
    return { ns, address: OUTSIDE_ADDRESS, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
