import { cpSync, createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { findExecutable } from '@banger/host';
import { packKernelBundle } from '@banger/kernels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../../../test/harness.js';
import { withoutHostApt } from '../../../test/without-host-apt.js';
import { testCacheRoot } from '@banger/host/testing';

/** Shared with the other suites: the Debian .debs are downloaded once per machine. */
const cacheDir = testCacheRoot();
const missing = ['gpgv', 'dpkg-deb', 'depmod', 'mkfs.ext4', 'unshare'].find((tool) => !findExecutable(tool)) ?? (process.getuid?.() === 0 ? undefined : 'root');

let h: Harness;
let work: string;
const state = (...parts: string[]) => join(h.home, 'state', ...parts);
const json = <T>(text: string): T => JSON.parse(text) as T;

/**
 * The CLI with the shared cache (unless `ownCache`); long commands get
 * `timeoutMs`. It runs with the host's apt sources hidden, so the daemon it
 * starts (and every kernel it builds) must get Debian packages from the mirror.
 */
async function banger(args: string[], timeoutMs = 60_000, ownCache = false) {
  const [command, ...rest] = withoutHostApt([process.execPath, join(h.lib, 'banger.cjs'), ...args]);
  const r = await execa(command!, rest, {
    env: { ...h.env, ...(ownCache ? {} : { BANGER_CACHE_DIR: cacheDir }) },
    extendEnv: false,
    reject: false,
    timeout: timeoutMs,
    stdin: 'ignore',
    stripFinalNewline: false,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

function withDb<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(state('banger.db'));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  h = await createHarness();
  work = mkdtempSync(join(tmpdir(), 'banger-kernel-cmd-'));
}, 60_000);

afterAll(async () => {
  if (h) await banger(['daemon', 'stop']);
  await h?.dispose();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.skipIf(missing !== undefined)(`banger kernel with a real Debian kernel package${missing ? ` (skipped: ${missing} is not installed)` : ''}`, () => {
  it('runs with the host apt sources hidden, as on a host that is not Debian', async () => {
    const [command, ...rest] = withoutHostApt(['sh', '-c', 'cat /etc/apt/sources.list 2>/dev/null; ls -A /etc/apt/sources.list.d; echo end']);
    const r = await execa(command!, rest, { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('end');
  });

  it('lists the embedded catalog with what each entry is built from', async () => {
    const r = await banger(['kernel', 'catalog']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^NAME\s+FROM\s+INSTALLED\s+DESCRIPTION$/m);
    expect(r.stdout).toMatch(/^debian-cloud\s+deb:linux-image-cloud-amd64\s+no\s+Debian 12 cloud kernel/m);
  });

  it('explains a pull without changing anything', async () => {
    const r = await banger(['kernel', 'pull', 'debian-cloud', '--explain']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^plan for kernel:debian-cloud: 2 to run, 0 to skip$/m);
    expect(r.stdout).toMatch(/^\s+run\s+kernel\.build\s+Build kernel debian-cloud from linux-image-cloud-amd64\s+never ran$/m);
    expect(withDb((db) => [db.prepare('SELECT COUNT(*) AS n FROM kernels').get(), db.prepare('SELECT COUNT(*) AS n FROM step_state').get()])).toEqual([{ n: 0 }, { n: 0 }]);
    expect(existsSync(state('kernels', 'debian-cloud'))).toBe(false);
  });

  it('explains a build from a Debian package under the default name', async () => {
    const r = await banger(['kernel', 'build', '--from-deb', 'linux-image-cloud-amd64', '--explain']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^plan for kernel:cloud-amd64: 2 to run, 0 to skip$/m);
    expect(r.stdout).toMatch(/^\s+run\s+kernel\.build\s+Build kernel cloud-amd64 from linux-image-cloud-amd64\s+never ran$/m);
  });

  it('pulls debian-cloud, registering the bundle so list and show report its version', async () => {
    const r = await banger(['kernel', 'pull', 'debian-cloud'], 15 * 60_000);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('[kernel:debian-cloud] plan: 2 to run, 0 to skip');
    expect(r.stderr).toContain('[kernel.build] started');
    expect(r.stderr).toMatch(/^\[kernel\.build\] \| building initrd$/m);
    expect(r.stderr).toMatch(/^\[kernel\.build\] ok /m);
    expect(r.stderr).toMatch(/^\[kernel\.register\] ok /m);
    expect(r.stdout).toMatch(/^kernel debian-cloud 6\.\S+-cloud-amd64 is ready \(\S+\)\n$/);
    for (const file of ['manifest.json', 'vmlinux', 'initrd.img', 'modules.ext4', 'config']) {
      expect(existsSync(state('kernels', 'debian-cloud', file)), file).toBe(true);
    }
    const list = json<Array<{ name: string; version: string; dir: string; source: { package: string } }>>((await banger(['kernel', 'list', '--json'])).stdout);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ name: 'debian-cloud', dir: state('kernels', 'debian-cloud') });
    expect(list[0]!.version).toMatch(/^6\.\d+\.\d+-\d+-cloud-amd64$/);
    expect(list[0]!.source.package).toBe(`linux-image-${list[0]!.version}`);
    const table = await banger(['kernel', 'list']);
    expect(table.stdout).toMatch(new RegExp(`^debian-cloud\\s+${list[0]!.version.replace(/\./g, '\\.')}\\s+linux-image-\\S+ \\S+\\s+[\\d.]+ MiB\\s+\\d{4}-`, 'm'));
    const show = await banger(['kernel', 'show', 'debian-cloud']);
    expect(show.stdout).toMatch(new RegExp(`^\\s+version:\\s+${list[0]!.version.replace(/\./g, '\\.')}$`, 'm'));
    expect(show.stdout).toMatch(/^\s+boot modules:\s+.*virtio_blk/m);
  }, 16 * 60_000);

  it('makes a second pull a no-op: every step skipped as satisfied', async () => {
    const r = await banger(['kernel', 'pull', 'debian-cloud', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const events = r.stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; stepId?: string; reason?: string });
    expect(events.filter((e) => e.type === 'step-skipped').map((e) => [e.stepId, e.reason])).toEqual([
      ['kernel.build', 'satisfied'],
      ['kernel.register', 'satisfied'],
    ]);
    expect(events.some((e) => e.type === 'step-started')).toBe(false);
    const plain = await banger(['kernel', 'pull', 'debian-cloud']);
    expect(plain.stderr).toContain('[kernel.build] skipped (satisfied)');
    expect(plain.stderr).toContain('[kernel.register] skipped (satisfied)');
  });

  it('refuses to remove a kernel a VM uses, then removes it; import brings it back under another name', async () => {
    cpSync(state('kernels', 'debian-cloud'), join(work, 'bundle'), { recursive: true });
    withDb((db) =>
      db
        .prepare(
          `INSERT INTO vms (id, name, state, image_name, kernel_name, hypervisor, vcpu, memory_mib, disk_bytes, spec, created_at, updated_at)
           VALUES ('vm-1', 'sandbox', 'stopped', 'debian-minimal', 'debian-cloud', 'qemu', 1, 256, 1, '{}', 0, 0)`,
        )
        .run(),
    );
    const refused = await banger(['kernel', 'rm', 'debian-cloud']);
    expect(refused).toMatchObject({ exitCode: 1, stderr: 'banger: cannot remove kernel debian-cloud: used by VM sandbox (hint: delete that VM first (banger vm delete sandbox))\n' });
    expect(existsSync(state('kernels', 'debian-cloud', 'vmlinux'))).toBe(true);
    withDb((db) => db.prepare("DELETE FROM vms WHERE id = 'vm-1'").run());

    const removed = await banger(['kernel', 'rm', 'debian-cloud']);
    expect(removed).toMatchObject({ exitCode: 0, stdout: `removed kernel debian-cloud (${state('kernels', 'debian-cloud')})\n` });
    expect(existsSync(state('kernels', 'debian-cloud'))).toBe(false);
    expect(json<unknown[]>((await banger(['kernel', 'list', '--json'])).stdout)).toEqual([]);
    // Removal forgets the graph state: the next pull would run again.
    expect((await banger(['kernel', 'pull', 'debian-cloud', '--explain'])).stdout).toMatch(/plan for kernel:debian-cloud: 2 to run/);

    const imported = await banger(['kernel', 'import', join(work, 'bundle'), '--name', 'my-cloud']);
    expect(imported.exitCode, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/^imported kernel my-cloud 6\.\S+ into .*kernels\/my-cloud$/m);
    expect(json<{ name: string }>((await banger(['kernel', 'show', 'my-cloud', '--json'])).stdout).name).toBe('my-cloud');
    const again = await banger(['kernel', 'import', join(work, 'bundle'), '--name', 'my-cloud']);
    expect(again).toMatchObject({ exitCode: 1, stderr: 'banger: cannot import kernel my-cloud: a kernel with that name is already registered (hint: remove it first with banger kernel rm my-cloud, or pass --name)\n' });
  }, 120_000);

  it('pulls a published bundle from kernel_catalog_url with byte progress, and rejects one whose sha256 does not match', async () => {
    const published = join(work, 'published');
    mkdirSync(published);
    const packed = await packKernelBundle(join(work, 'bundle'), join(published, 'debian-cloud.tar.zst'));
    const server = createServer((req, res) => {
      const file = join(published, new URL(req.url ?? '/', 'http://x').pathname);
      if (!existsSync(file)) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': statSync(file).size });
      createReadStream(file).pipe(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const catalogWith = (sha256: string) =>
      JSON.stringify({ formatVersion: 1, entries: [{ name: 'debian-cloud', description: 'published cloud kernel', bundle: { url: `${base}/debian-cloud.tar.zst`, sha256 } }] });
    try {
      await banger(['daemon', 'stop']);
      h.freshHome();
      mkdirSync(join(h.home, 'config'), { recursive: true });
      writeFileSync(join(h.home, 'config', 'config.toml'), `kernel_catalog_url = "${base}/index.json"\n`);

      writeFileSync(join(published, 'index.json'), catalogWith('0'.repeat(64)));
      const rejected = await banger(['kernel', 'pull', 'debian-cloud'], 120_000, true);
      expect(rejected.exitCode).toBe(1);
      expect(rejected.stderr).toMatch(/^banger: kernel\.fetch failed: kernel bundle http:\S+ has sha256 [0-9a-f]{64}, the catalog says 0{64} \(hint: .*nothing was registered\)$/m);
      expect(existsSync(state('kernels', 'debian-cloud'))).toBe(false);
      expect(json<unknown[]>((await banger(['kernel', 'list', '--json'])).stdout)).toEqual([]);

      // The daemon reads config at start only; the index it fetches is read per call.
      writeFileSync(join(published, 'index.json'), catalogWith(packed.sha256));
      const catalog = await banger(['kernel', 'catalog']);
      expect(catalog.stdout).toMatch(/^debian-cloud\s+bundle\s+no\s+published cloud kernel$/m);
      const r = await banger(['kernel', 'pull', 'debian-cloud', '--json'], 120_000, true);
      expect(r.exitCode, r.stderr).toBe(0);
      const events = r.stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; stepId?: string; unit?: string; done?: number; total?: number; reason?: string });
      expect(events[0]).toMatchObject({ type: 'graph-planned', steps: [{ id: 'kernel.fetch', reason: 'failed last time' }, { id: 'kernel.register' }] });
      expect(events.filter((e) => e.type === 'step-progress' && e.unit === 'bytes').at(-1)).toMatchObject({ stepId: 'kernel.fetch', done: packed.size, total: packed.size });
      expect(events.at(-1)).toMatchObject({ type: 'result', result: { kernel: { name: 'debian-cloud' } } });
      expect(existsSync(state('kernels', 'debian-cloud', 'vmlinux'))).toBe(true);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  }, 300_000);
});
