// A real banger CLI + bangerd for end-to-end tests: both bundled from source
// with esbuild (as `nx build` does), run with an isolated BANGER_HOME whose
// state dir is seeded with the cached kernel bundle and test image, so the
// daemon adopts them instead of downloading (the netns has no network).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { run } from '@banger/host';

const repoRoot = resolve(import.meta.dirname, '../../../..');

/** The result of one CLI run. */
export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Bundles banger.cjs, bangerd.js and banger-vsock-agent.js side by side (the CLI finds the daemon next to itself, the daemon the agent). */
export async function buildBangerBundles(): Promise<string> {
  // Inside the repo, so the bundles' external packages (better-sqlite3, ssh2) resolve from node_modules.
  const outDir = join(repoRoot, 'tools', 'e2e', 'out-tsc', `vm-e2e-bin-${process.pid}`);
  await mkdir(outDir, { recursive: true });
  const common = {
    bundle: true,
    platform: 'node' as const,
    format: 'esm' as const,
    target: 'node20',
    conditions: ['@banger/source'],
    external: ['better-sqlite3', 'ssh2', 'cpu-features'],
    banner: { js: "import { createRequire as __bangerCreateRequire } from 'node:module'; const require = __bangerCreateRequire(import.meta.url);" },
    logLevel: 'silent' as const,
  };
  // The CLI as nx builds it and make install copies it: the launcher banger.cjs and its code-cached body banger-cli.cjs.
  await run(process.execPath, [join(repoRoot, 'apps/cli/scripts/build.mjs'), outDir]);
  // BANGER_E2E_DAEMON_ENTRY: a stand-in daemon entry, for debugging while a service elsewhere is unfinished.
  const daemonEntry = process.env['BANGER_E2E_DAEMON_ENTRY'] ?? join(repoRoot, 'apps/daemon/src/main.ts');
  await build({ ...common, entryPoints: [daemonEntry], outfile: join(outDir, 'bangerd.js') });
  // The guest agent beside the daemon, as `make install` puts it: the daemon builds its VMs' runtime disk from it.
  await build({ ...common, entryPoints: [join(repoRoot, 'apps/vsock-agent/src/main.ts')], outfile: join(outDir, 'banger-vsock-agent.js') });
  // And its static helpers (PTY, vsock relay, RNG reseeder), built as `nx build @banger/vsock-agent` builds them.
  await run('sh', [join(repoRoot, 'apps/vsock-agent/native/build.sh'), join(outDir, 'banger-pty')]);
  await run('sh', [join(repoRoot, 'apps/vsock-agent/native/build.sh'), join(outDir, 'banger-vsock-relay')]);
  await run('sh', [join(repoRoot, 'apps/vsock-agent/native/build.sh'), join(outDir, 'banger-reseed')]);
  return outDir;
}

/** An isolated banger installation: its own BANGER_HOME, config and state. */
/** What every e2e home's config.toml starts with unless the suite sets warm_start itself (docs/config.md). */
const WARM_OFF = 'warm_start = false\n';

export class BangerHome {
  readonly home: string;
  constructor(readonly binDir: string, prefix = 'bvm-') {
    // Short: the daemon socket path must fit in 107 bytes.
    this.home = mkdtempSync(join(tmpdir(), prefix));
    // Warm start is on by default; it would make every suite boot a template first (a boot and a
    // save more per suite). Suites opt out here; the warm suite writes `warm_start = true` itself.
    mkdirSync(join(this.home, 'config'), { recursive: true });
    writeFileSync(this.configFile, WARM_OFF);
  }

  get stateDir(): string { return join(this.home, 'state'); }
  get configFile(): string { return join(this.home, 'config', 'config.toml'); }
  get knownHosts(): string { return join(this.home, 'config', 'ssh', 'known_hosts'); }
  get userKey(): string { return join(this.home, 'config', 'ssh', 'id_ed25519'); }
  vmDir(name: string): string { return join(this.stateDir, 'vms', name); }

  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, BANGER_HOME: this.home, NO_COLOR: '1', CI: '1', ...extra };
    delete env['XDG_RUNTIME_DIR'];
    return env;
  }

  /** Writes config.toml. */
  async writeConfig(toml: string): Promise<void> {
    await mkdir(join(this.home, 'config'), { recursive: true });
    writeFileSync(this.configFile, /^\s*warm_start\s*=/m.test(toml) ? toml : `${WARM_OFF}${toml}`);
  }

  /** Copies a kernel bundle dir and an image dir into the state dir under the given names (reflink/sparse). */
  async seed(kernel: { name: string; dir: string }, image: { name: string; dir: string }): Promise<void> {
    for (const [sub, item] of [['kernels', kernel], ['images', image]] as const) {
      const dest = join(this.stateDir, sub, item.name);
      await mkdir(join(this.stateDir, sub), { recursive: true });
      await run('cp', ['-r', '--reflink=auto', '--sparse=always', item.dir, dest]);
    }
  }

  /** Runs `banger <args>`; never throws on a non-zero exit. */
  cli(args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; onStderr?: (text: string) => void } = {}): Promise<CliResult> {
    return new Promise((resolvePromise, reject) => {
      const child = spawn(process.execPath, [join(this.binDir, 'banger.cjs'), ...args], { env: this.env(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        options.onStderr?.(d.toString());
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000);
      child.once('error', reject);
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolvePromise({ exitCode: code ?? (signal ? 128 : -1), stdout, stderr });
      });
    });
  }

  /** The pid of the running daemon (`banger daemon status --json`, which starts it when needed). */
  async daemonPid(): Promise<number> {
    const status = await this.cli(['daemon', 'status', '--json'], { timeoutMs: 60_000 });
    if (status.exitCode !== 0) throw new Error(`banger daemon status failed: ${status.stderr}`);
    return (JSON.parse(status.stdout) as { pid: number }).pid;
  }

  /** The last lines of a VM's console log, for failure messages. */
  consoleTail(name: string, lines = 40): string {
    const file = join(this.vmDir(name), 'console.log');
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n') : '(no console log)';
  }

  remove(): void {
    rmSync(this.home, { recursive: true, force: true });
  }
}
