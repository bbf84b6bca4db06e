import { createReadStream, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishImage } from '@banger/images';
import { packKernelBundle } from '@banger/kernels';
import { run } from '@banger/host';
import { openDatabase } from '@banger/store';
import { loadArtifacts } from './artifacts.js';
import { sendWhole, StaticServer } from './helpers/static-server.js';
import { BangerHome, buildBangerBundles, type CliResult } from './helpers/banger-cli.js';
import { diffSnapshots, snapshotHost, type HostSnapshot } from './helpers/leak-check.js';
import { pauseHook, startLiveCli, type LiveCli } from './helpers/pause-hook.js';

/**
 * kill -9 at every step of the VM creation graph, of `vm delete` and of an
 * image pull, of the daemon, the CLI or QEMU (where it exists at that step),
 * then the next command resumes or cleans up, and a leak check compares the
 * host with its state before the case. The daemon pauses at the named point
 * through the test-only hook of @banger/host (`BANGER_TEST_PAUSE_FILE`): the
 * test writes the point into the file, the daemon appends `<point> <pid>` to
 * `<file>.reached` when it gets there and waits; the test kills its victim.
 *
 * CI budget: one BANGER_HOME with the prepared debian-minimal image; the
 * steps before vm.boot cost no guest, and the cases after it share one VM
 * ("chain"), each case's follow-up being the next case's command.
 */

type Victim = 'daemon' | 'cli' | 'qemu';
/**
 * After the kill: `delete` (`vm delete`, then nothing may be left), `resume` (the next case's command
 * on the same VM is the follow-up), or `run` (`vm run` of the same name must finish the VM, which is kept).
 */
type Then = 'delete' | 'resume' | 'run';

interface FaultCase {
  /** The point the daemon pauses at: a step id (`vm.boot`: marked running, nothing done), `<id>:after` (done, not recorded), or `vm.delete:<where>`. */
  point: string;
  victim: Victim;
  vm: string;
  /** The command that is interrupted. */
  command: 'run' | 'delete';
  then: Then;
}

const PRE_BOOT = ['vm.fetch-kernel', 'vm.fetch-image', 'vm.build-rootfs', 'vm.agent-unit', 'vm.runtime-disk', 'vm.sync-files', 'vm.create-tap'] as const;
const short = (step: string): string => step.replace('vm.', '').replace(/[^a-z]/g, '');

/** The table: which process is killed where, and what the next command must do. */
const CASES: FaultCase[] = [
  // Before any guest exists: the step's work is done but not recorded (daemon), or the step is marked running and the client goes away (CLI).
  ...PRE_BOOT.flatMap((step): FaultCase[] => [
    { point: `${step}:after`, victim: 'daemon', vm: `d${short(step)}`, command: 'run', then: 'delete' },
    { point: step, victim: 'cli', vm: `c${short(step)}`, command: 'run', then: 'delete' },
  ]),
  // An interrupted creation resumed by the next `vm run` of the same name (the same VM id, nothing made twice).
  // The graph is boot → wait-agent → wait-ssh; each case's point must run in its `vm run`: vm.wait-agent
  // runs while it was not recorded for this boot, vm.boot and vm.wait-ssh (a no-op for `vm run -- cmd`
  // once the agent is up, but still run after wait-agent ran) after the VM died. Hence this order.
  { point: 'vm.create-tap:after', victim: 'daemon', vm: 'chain', command: 'run', then: 'resume' },
  { point: 'vm.boot:after', victim: 'daemon', vm: 'chain', command: 'run', then: 'resume' },
  { point: 'vm.wait-agent', victim: 'cli', vm: 'chain', command: 'run', then: 'resume' },
  { point: 'vm.wait-agent', victim: 'daemon', vm: 'chain', command: 'run', then: 'resume' },
  { point: 'vm.wait-agent', victim: 'qemu', vm: 'chain', command: 'run', then: 'resume' },
  { point: 'vm.boot:after', victim: 'qemu', vm: 'chain', command: 'run', then: 'resume' },
  { point: 'vm.boot', victim: 'cli', vm: 'chain', command: 'run', then: 'resume' },
  { point: 'vm.wait-ssh', victim: 'qemu', vm: 'chain', command: 'run', then: 'resume' },
  { point: 'vm.wait-ssh:after', victim: 'daemon', vm: 'chain', command: 'run', then: 'run' },
  // `vm delete` of the running VM: after QEMU is stopped, and after the directory went (the row is last).
  { point: 'vm.delete:stopped', victim: 'daemon', vm: 'chain', command: 'delete', then: 'resume' },
  { point: 'vm.delete:files', victim: 'daemon', vm: 'chain', command: 'delete', then: 'delete' },
  // ... and of an unfinished one (made by a `vm run` whose client was killed before the boot: no guest needed).
  { point: 'vm.delete:stopped', victim: 'cli', vm: 'unfinished', command: 'delete', then: 'delete' },
];

const THEN_TITLE: Record<Then, string> = {
  delete: 'vm delete leaves nothing',
  resume: 'the next command on it resumes',
  run: 'the next vm run finishes the same VM, once, with no temp file left',
};

const BOOT_MS = 8 * 60_000;

const startCli = (home: BangerHome, args: string[], env: NodeJS.ProcessEnv): LiveCli => startLiveCli(home, args, env, BOOT_MS);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The bundle server of the pull cases: honours Range, and can stall or corrupt the next bundle download. */
class BundleServer {
  /** Sent bytes of the bundle, over every request. */
  sent = 0;
  ranges: string[] = [];
  mode: 'ok' | 'stall-half' | 'corrupt' = 'ok';
  private readonly http: StaticServer;
  constructor(root: string) {
    this.http = new StaticServer(root, (req, res, file, size) => (file.endsWith('.zst') ? this.sendBundle(req, res, file, size) : sendWhole(req, res, file, size)));
  }
  get url(): string {
    return this.http.url;
  }
  start(): Promise<void> {
    return this.http.start();
  }
  stop(): Promise<void> {
    return this.http.stop();
  }
  private sendBundle(req: IncomingMessage, res: ServerResponse, file: string, size: number): void {
    const range = req.headers.range?.match(/^bytes=(\d+)-$/);
    const start = range ? Number(range[1]) : 0;
    if (range) this.ranges.push(req.headers.range ?? '');
    res.writeHead(range ? 206 : 200, { 'content-length': size - start, ...(range ? { 'content-range': `bytes ${start}-${size - 1}/${size}` } : {}) });
    const mode = this.mode;
    let offset = start;
    const stream = createReadStream(file, { start, highWaterMark: 256 * 1024 });
    stream.on('data', (chunk: Buffer | string) => {
      const buf = Buffer.from(chunk);
      if (mode === 'stall-half' && offset + buf.length > size / 2) {
        // Half the bundle, then silence: the client waits, the test kills it.
        stream.destroy();
        return;
      }
      if (mode === 'corrupt' && offset <= size / 2 && size / 2 < offset + buf.length) buf[Math.floor(size / 2 - offset)]! ^= 0xff;
      offset += buf.length;
      this.sent += buf.length;
      res.write(buf);
    });
    stream.on('end', () => res.end());
    req.on('close', () => stream.destroy());
  }
}

describe.skipIf(!process.env['BANGER_NETNS'])('kill -9 at every step (inside a throwaway netns)', () => {
  let home: BangerHome;
  let binDir: string;
  let pauseFile: string;
  let baseline: HostSnapshot;
  /** The chain VM's id when it was first recorded: every resume must keep it. */
  let chainId: string | undefined;
  const hook = pauseHook(() => pauseFile, BOOT_MS);
  const { env, pauseAt, release } = hook;
  /** Every command with the hook's variable: whichever command starts the next daemon passes it on. */
  const cli = (args: string[], options: { timeoutMs?: number } = {}): Promise<CliResult> => home.cli(args, { ...options, env: env() });
  const reached = (point: string, live: LiveCli): Promise<number> => hook.reached(point, live, () => home.consoleTail('chain', 20));
  const qemuPid = async (vm: string): Promise<number> => {
    const ps = (await run('ps', ['-eo', 'pid=,args='])).stdout.split('\n');
    const line = ps.find((l) => l.includes('qemu-system') && l.includes(home.vmDir(vm)));
    if (!line) throw new Error(`no QEMU process of vm ${vm}`);
    return Number(line.trim().split(/\s+/)[0]);
  };
  const vmId = (name: string): string | undefined => {
    const db = openDatabase(join(home.stateDir, 'banger.db'));
    try {
      return db.prepare('SELECT id FROM vms WHERE name = ?').pluck().get(name) as string | undefined;
    } finally {
      db.close();
    }
  };
  /** `vm delete`, retried while the daemon is still settling the cancelled creation (VM_BUSY, a documented exit 1). */
  const deleteVm = async (name: string): Promise<CliResult> => {
    for (let attempt = 0; ; attempt++) {
      const result = await cli(['vm', 'delete', name, '--force'], { timeoutMs: 120_000 });
      if (result.exitCode === 0 || attempt >= 20 || !/being created or started/.test(result.stderr)) return result;
      await sleep(500);
    }
  };
  /** Nothing left but what was there before the case. */
  const expectNoLeak = async (): Promise<void> => {
    expect(diffSnapshots(baseline, await snapshotHost(home.home))).toEqual([]);
  };

  beforeAll(async () => {
    const artifacts = await loadArtifacts();
    binDir = await buildBangerBundles();
    home = new BangerHome(binDir, 'bflt-');
    pauseFile = join(home.home, 'pause');
    await home.seed({ name: 'debian-cloud', dir: artifacts.kernelDir }, { name: 'debian-minimal', dir: artifacts.imageDir });
    await home.writeConfig(['default_image_name = "debian-minimal"', 'hypervisor = "qemu"', '[vm_defaults]', 'vcpu = 1', 'memory_mib = 384', 'disk_size = "1G"', ''].join('\n'));
    // Warm-up: what the first VM makes once and shares (bridge, NAT rules, runtime disk, user key),
    // then the baseline every case is compared with.
    pauseAt('vm.boot');
    const warm = startCli(home, ['vm', 'run', '--name', 'warm', '--', 'true'], env());
    await reached('vm.boot', warm);
    warm.child.kill('SIGKILL');
    await warm.done;
    release();
    const gone = await deleteVm('warm');
    expect(gone.exitCode, gone.stderr).toBe(0);
    baseline = await snapshotHost(home.home);
  }, 5 * 60_000);

  afterAll(async () => {
    if (home) {
      release();
      const list = await cli(['vm', 'list', '--json'], { timeoutMs: 60_000 });
      const names = list.exitCode === 0 ? (JSON.parse(list.stdout) as Array<{ name: string }>).map((v) => v.name) : [];
      for (const name of names) await deleteVm(name);
      await cli(['daemon', 'stop'], { timeoutMs: 60_000 });
      home.remove();
    }
    if (binDir) rmSync(binDir, { recursive: true, force: true });
  });

  for (const c of CASES) {
    it(`kill -9 of the ${c.victim} at ${c.point} (vm ${c.vm}, ${c.command === 'run' ? 'vm run' : 'vm delete'}), then ${THEN_TITLE[c.then]}`, async () => {
      if (c.command === 'delete' && !vmId(c.vm)) {
        pauseAt('vm.boot');
        const made = startCli(home, ['vm', 'run', '--name', c.vm, '--', 'true'], env());
        await reached('vm.boot', made);
        made.child.kill('SIGKILL');
        await made.done;
        release();
      }
      pauseAt(c.point);
      const args = c.command === 'run' ? ['vm', 'run', '--name', c.vm, '--', 'cat', '/etc/hostname'] : ['vm', 'delete', c.vm, '--force'];
      const live = startCli(home, args, env());
      const daemon = await reached(c.point, live);
      if (c.vm === 'chain') {
        chainId ??= vmId('chain');
        expect(vmId('chain'), 'a resumed vm run keeps the VM (same id)').toBe(chainId);
      }
      if (c.victim === 'daemon') process.kill(daemon, 'SIGKILL');
      else if (c.victim === 'cli') live.child.kill('SIGKILL');
      else {
        process.kill(await qemuPid(c.vm), 'SIGKILL');
        // The daemon goes on: the step must notice the death, not wait out its timeout.
        release();
      }
      const interrupted = await live.done;
      release();
      if (c.victim === 'qemu') {
        // Fails at once (not after the wait's timeout), the failed step naming the death.
        expect(interrupted.exitCode, interrupted.stderr).not.toBe(0);
        expect(interrupted.stderr).toMatch(new RegExp(`FAILED: vm ${c.vm}: qemu (process gone|killed by SIGKILL|exited[^\\n]*) before (ssh|its agent or ssh) answered`));
      }

      if (c.then === 'delete') {
        const gone = await deleteVm(c.vm);
        if (c.command === 'delete' && c.victim === 'cli') {
          // The daemon finished the delete its client left (a delete is not cancelled half-way): nothing to do.
          expect(gone.stderr, gone.stderr).toMatch(gone.exitCode === 0 ? /^/ : new RegExp(`^banger: vm ${c.vm} does not exist`));
        } else {
          expect(gone.exitCode, gone.stderr).toBe(0);
        }
        await expectNoLeak();
      } else if (c.then === 'run') {
        // Every interruption of the chain resumed: the VM is created, the same one, once, and clean.
        const resumed = await cli(['vm', 'run', '--name', c.vm, '--', 'cat', '/etc/hostname'], { timeoutMs: BOOT_MS });
        expect(resumed.exitCode, `${resumed.stderr}\n--- console ---\n${home.consoleTail(c.vm, 20)}`).toBe(0);
        expect(resumed.stdout.trim()).toBe(c.vm);
        expect(vmId(c.vm)).toBe(chainId);
        const diff = diffSnapshots(baseline, await snapshotHost(home.home));
        expect(diff.filter((l) => l.startsWith('+ processes:')), 'one QEMU, not two').toHaveLength(1);
        expect(diff.filter((l) => l.startsWith('+ taps:'))).toHaveLength(1);
        expect(diff.filter((l) => l.startsWith('+ vmRows:'))).toEqual([`+ vmRows: ${c.vm} running`]);
        expect(diff.filter((l) => l.startsWith('- ')), diff.join('\n')).toEqual([]);
        // Nothing the interrupted attempts left half-written survives a successful run.
        const halfWritten = diff.filter((l) => /\.tmp|tmp-|staging/.test(l));
        expect(halfWritten, `half-written leftovers: ${halfWritten.join(' | ')}`).toEqual([]);
      } else {
        // The next case's command on the same VM is the follow-up; meanwhile the VM holds at most one
        // of each thing (no second QEMU, tap, lease or row). Temp files of the killed attempt may be
        // there: the next attempt removes them (checked when the chain's run finishes).
        const diff = diffSnapshots(baseline, await snapshotHost(home.home));
        for (const field of ['processes', 'taps', 'bridgePorts', 'leases', 'vmRows', 'vmDirs']) {
          expect(diff.filter((l) => l.startsWith(`+ ${field}:`)).length, `${field}:\n${diff.join('\n')}`).toBeLessThanOrEqual(1);
        }
        expect(diff.filter((l) => l.startsWith('- ')), diff.join('\n')).toEqual([]);
        expect(diff.filter((l) => l.startsWith('+ files:') && !l.startsWith(`+ files: state/vms/${c.vm}/`)), diff.join('\n')).toEqual([]);
      }
    }, BOOT_MS + 120_000);
  }

  describe('image and kernel pulls through served catalogs', () => {
    let server: BundleServer;
    let publishDir: string;
    let pullHome: BangerHome;

    beforeAll(async () => {
      const artifacts = await loadArtifacts();
      publishDir = mkdtempSync(join(tmpdir(), 'bflt-pub-'));
      await publishImage(artifacts.imageDir, publishDir, { level: 1 });
      server = new BundleServer(publishDir);
      await server.start();
      // The prepared kernel, published under another name (no recipe to fall back to).
      const packed = await packKernelBundle(artifacts.kernelDir, join(publishDir, 'fault-kernel.tar.zst'));
      // Replaces the embedded entry by name, without its recipe: a bad bundle cannot fall back to a build.
      const kernelIndex = { formatVersion: 1, entries: [{ name: 'debian-cloud', description: 'the fault suite', bundle: { url: `${server.url}fault-kernel.tar.zst`, sha256: packed.sha256 } }] };
      writeFileSync(join(publishDir, 'kernels.json'), JSON.stringify(kernelIndex));
      // Its own home: neither is installed there yet.
      pullHome = new BangerHome(binDir, 'bfpl-');
      await pullHome.writeConfig([`catalog_url = "${server.url}index.json"`, `kernel_catalog_url = "${server.url}kernels.json"`, 'hypervisor = "qemu"', ''].join('\n'));
      await pullHome.daemonPid();
    }, 5 * 60_000);

    afterAll(async () => {
      if (pullHome) {
        await pullHome.cli(['daemon', 'stop'], { timeoutMs: 60_000 });
        pullHome.remove();
      }
      if (server) await server.stop();
      if (publishDir) rmSync(publishDir, { recursive: true, force: true });
    });

    const rows = (table: 'images' | 'kernels', name: string): number => {
      const db = openDatabase(join(pullHome.stateDir, 'banger.db'));
      try {
        return db.prepare(`SELECT count(*) FROM ${table} WHERE name = ?`).pluck().get(name) as number;
      } finally {
        db.close();
      }
    };
    const imageRows = (): number => rows('images', 'debian-minimal');

    /** Serves a bundle that stalls half-way, kills the daemon there, then pulls again: the rest is fetched with a Range request. */
    const killMidDownload = async (args: string[]): Promise<CliResult> => {
      server.mode = 'stall-half';
      server.sent = 0;
      server.ranges = [];
      const cli = startCli(pullHome, args, {});
      while (server.sent === 0) await sleep(100);
      await sleep(1_000);
      process.kill(await pullHome.daemonPid(), 'SIGKILL');
      const interrupted = await cli.done;
      expect(interrupted.exitCode).not.toBe(0);
      server.mode = 'ok';
      const again = await pullHome.cli(args, { timeoutMs: BOOT_MS });
      expect(again.exitCode, again.stderr).toBe(0);
      expect(server.ranges.length, 'the second pull asked for the rest only').toBeGreaterThan(0);
      return again;
    };

    it('refuses a corrupt kernel bundle by its digest in one line, registers nothing and keeps no temp file', async () => {
      const start = await snapshotHost(pullHome.home);
      server.mode = 'corrupt';
      const pull = await pullHome.cli(['kernel', 'pull', 'debian-cloud'], { timeoutMs: BOOT_MS });
      expect(pull.exitCode, pull.stderr).not.toBe(0);
      expect(pull.stderr).toMatch(/sha256/);
      expect(pull.stderr.trim().split('\n').filter((l) => l.startsWith('banger:')), pull.stderr).toHaveLength(1);
      expect(rows('kernels', 'debian-cloud')).toBe(0);
      expect(diffSnapshots(start, await snapshotHost(pullHome.home))).toEqual([]);
    }, BOOT_MS);

    it('kill -9 of the daemon mid kernel download, then the next kernel pull resumes and succeeds, leaving only the kernel', async () => {
      const start = await snapshotHost(pullHome.home);
      await killMidDownload(['kernel', 'pull', 'debian-cloud']);
      expect(rows('kernels', 'debian-cloud')).toBe(1);
      const diff = diffSnapshots(start, await snapshotHost(pullHome.home));
      expect(diff.filter((l) => !l.startsWith('+ files: state/kernels/debian-cloud/')), diff.join('\n')).toEqual([]);
    }, BOOT_MS);

    it('refuses a corrupt image bundle by its digest in one line, registers nothing and keeps no temp file', async () => {
      const start = await snapshotHost(pullHome.home);
      server.mode = 'corrupt';
      const pull = await pullHome.cli(['image', 'pull', 'debian-minimal'], { timeoutMs: BOOT_MS });
      expect(pull.exitCode, pull.stderr).not.toBe(0);
      expect(pull.stderr).toMatch(/sha256/);
      expect(pull.stderr.trim().split('\n').filter((l) => l.startsWith('banger:')), pull.stderr).toHaveLength(1);
      expect(imageRows()).toBe(0);
      expect(diffSnapshots(start, await snapshotHost(pullHome.home))).toEqual([]);
    }, BOOT_MS);

    it('kill -9 of the daemon mid-download, then the next image pull resumes and succeeds, leaving only the image', async () => {
      const start = await snapshotHost(pullHome.home);
      await killMidDownload(['image', 'pull', 'debian-minimal']);
      expect(imageRows()).toBe(1);
      const diff = diffSnapshots(start, await snapshotHost(pullHome.home));
      expect(diff.filter((l) => !l.startsWith('+ files: state/images/debian-minimal/')), diff.join('\n')).toEqual([]);
      expect(readdirSync(join(pullHome.stateDir, 'images'))).toEqual(['debian-minimal']);
    }, BOOT_MS);
  });
});
