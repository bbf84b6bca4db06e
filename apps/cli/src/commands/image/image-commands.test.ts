import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { publishImage, registerRootfs } from '@banger/images';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../../../test/harness.js';

/** A real ext4 rootfs (mkfs.ext4 -d) with /sbin/init and optionally sshd, plus incompressible data. */
function makeRootfs(file: string, options: { sshd: boolean; randomKiB?: number }): string {
  const tree = mkdtempSync(join(tmpdir(), 'banger-img-tree-'));
  try {
    for (const dir of ['usr/sbin', 'usr/lib/systemd', 'etc', 'root', 'var/data']) mkdirSync(join(tree, dir), { recursive: true });
    symlinkSync('usr/sbin', join(tree, 'sbin'));
    writeFileSync(join(tree, 'usr/lib/systemd/systemd'), '#!/bin/sh\nexec /bin/sh\n');
    chmodSync(join(tree, 'usr/lib/systemd/systemd'), 0o755);
    symlinkSync('/usr/lib/systemd/systemd', join(tree, 'usr/sbin/init'));
    if (options.sshd) {
      writeFileSync(join(tree, 'usr/sbin/sshd'), '#!/bin/sh\n');
      chmodSync(join(tree, 'usr/sbin/sshd'), 0o755);
    }
    writeFileSync(join(tree, 'root/.bashrc'), 'PS1="tiny# "\n');
    writeFileSync(join(tree, 'var/data/random.bin'), randomBytes((options.randomKiB ?? 0) * 1024));
    execFileSync('mkfs.ext4', ['-q', '-F', '-E', 'root_owner=0:0', '-d', tree, file, '32M'], { stdio: 'pipe' });
    return file;
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
}

/** A static file server on 127.0.0.1 (Range support); `.zst` bodies pause `delayMs` after each 16 KiB chunk. */
class CatalogServer {
  delayMs = 0;
  private server!: Server;
  constructor(private readonly root: string) {}
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
  }
  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const file = join(this.root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
      if (!existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end();
      const size = statSync(file).size;
      const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
      res.writeHead(start > 0 ? 206 : 200, {
        'content-length': size - start,
        ...(start > 0 ? { 'content-range': `bytes ${start}-${size - 1}/${size}` } : {}),
      });
      const stream = createReadStream(file, { start, highWaterMark: 16 * 1024 });
      const delay = this.delayMs;
      if (delay > 0 && file.endsWith('.zst')) {
        stream.on('data', () => {
          stream.pause();
          setTimeout(() => stream.resume(), delay);
        });
      }
      stream.pipe(res);
      req.on('close', () => stream.destroy());
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let h: Harness;
let work: string;
let server: CatalogServer;
let bundleSize: number;
const daemons = new Set<string>();

const state = (...parts: string[]) => join(h.home, 'state', ...parts);
const json = <T>(text: string): T => JSON.parse(text) as T;
const ndjson = (text: string) => text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);

/** Both tables `--explain` must leave alone, read straight from the daemon's database. */
function snapshot(): string {
  const db = new Database(state('banger.db'), { readonly: true });
  try {
    return JSON.stringify([db.prepare('SELECT * FROM images').all(), db.prepare('SELECT * FROM step_state').all()]);
  } finally {
    db.close();
  }
}

async function cli(args: string[]) {
  daemons.add(h.home);
  return h.banger(args);
}

beforeAll(async () => {
  h = await createHarness();
  work = mkdtempSync(join(tmpdir(), 'banger-image-cmd-'));
  // Publish "tiny" with the image lib, exactly as `image build --publish` would.
  const imageDir = join(work, 'image');
  await registerRootfs({ name: 'tiny', rootfsPath: makeRootfs(join(work, 'tiny.ext4'), { sshd: true, randomKiB: 6 * 1024 }), destDir: imageDir, kernel: 'debian-cloud' });
  const entry = await publishImage(imageDir, join(work, 'catalog'), { description: 'tiny test image' });
  bundleSize = entry.bundle!.size;
  server = new CatalogServer(join(work, 'catalog'));
  await server.start();
  mkdirSync(join(h.home, 'config'), { recursive: true });
  writeFileSync(join(h.home, 'config', 'config.toml'), `catalog_url = "${server.url}"\n`);
}, 120_000);

afterAll(async () => {
  for (const home of daemons) await h.banger(['daemon', 'stop'], { HOME: home, BANGER_HOME: home });
  await server?.stop();
  await h?.dispose();
  rmSync(work, { recursive: true, force: true });
});

describe('banger image with a daemon and a published catalog on 127.0.0.1', () => {
  it('lists the published entry in the catalog next to the embedded recipes', async () => {
    const r = await cli(['image', 'catalog']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^NAME\s+VERSION\s+FROM\s+INSTALLED\s+DESCRIPTION$/m);
    expect(r.stdout).toMatch(/^tiny\s+\S+\s+bundle [\d.]+ MiB\s+no\s+tiny test image$/m);
    expect(r.stdout).toMatch(/^debian-minimal\s+-\s+recipe:debian-minimal\s+no\s/m);
  });

  it('explains a pull without changing the database or the images directory', async () => {
    const before = snapshot();
    const r = await cli(['image', 'pull', 'tiny', '--explain']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^plan for image:tiny: 2 to run, 0 to skip$/m);
    expect(r.stdout).toMatch(/^\s+run\s+image\.fetch\s+Download image tiny\s+never ran$/m);
    expect(r.stdout).toMatch(/^\s+run\s+image\.register\s+Register image tiny\s+never ran$/m);
    expect(snapshot()).toBe(before);
    expect(existsSync(state('images', 'tiny'))).toBe(false);
  });

  it('explains a recipe build (with --publish) as JSON without building or writing anything', async () => {
    const before = snapshot();
    const r = await cli(['image', 'build', 'debian-minimal', '--publish', join(work, 'never'), '--explain', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(json(r.stdout)).toEqual({
      graphId: 'image-build:debian-minimal',
      steps: [
        { id: 'image.build', title: 'Build image debian-minimal', needs: [], action: 'run', reason: 'never ran' },
        { id: 'image.register', title: 'Register image debian-minimal', needs: ['image.build'], action: 'run', reason: 'never ran' },
        { id: 'image.publish', title: `Publish image debian-minimal to ${join(work, 'never')}`, needs: ['image.register'], action: 'run', reason: 'never ran' },
      ],
      conflicts: [],
    });
    expect(snapshot()).toBe(before);
    expect(existsSync(join(work, 'never'))).toBe(false);
    expect(existsSync(state('images', 'debian-minimal'))).toBe(false);
  });

  it('cancels the daemon-side pull on Ctrl-C and leaves no record and no image directory', async () => {
    server.delayMs = 100;
    const child = execa(process.execPath, [join(h.lib, 'banger.cjs'), 'image', 'pull', 'tiny', '--json'], { env: h.env, extendEnv: false, reject: false });
    let sawBytes = false;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no byte progress within 30 s')), 30_000);
      child.stdout!.on('data', (data: Buffer) => {
        if (!sawBytes && data.toString().includes('"unit":"bytes"')) {
          sawBytes = true;
          clearTimeout(timer);
          child.kill('SIGINT');
          resolve();
        }
      });
    });
    const result = await child;
    server.delayMs = 0;
    expect(result.exitCode).toBe(130);
    expect(String(result.stderr).trim()).toMatch(/^banger: .*cancelled/);
    // The daemon aborts the graph asynchronously; give it a moment to record the cancellation.
    const deadline = Date.now() + 10_000;
    let row: { status: string } | undefined;
    while (Date.now() < deadline) {
      const db = new Database(state('banger.db'), { readonly: true });
      row = db.prepare("SELECT status FROM step_state WHERE graph_id = 'image:tiny' AND step_id = 'image.fetch'").get() as { status: string } | undefined;
      db.close();
      if (row?.status === 'cancelled') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(row?.status).toBe('cancelled');
    expect(json<unknown[]>((await cli(['image', 'list', '--json'])).stdout)).toEqual([]);
    expect(readdirSync(state('images')).filter((name) => name.startsWith('tiny'))).toEqual([]);
  }, 60_000);

  it('survives a kill -9 of the daemon mid-pull: nothing registered, and the next pull redoes the interrupted step', async () => {
    server.delayMs = 100;
    const pid = (json<{ pid: number }>((await cli(['daemon', 'status', '--json'])).stdout)).pid;
    const child = execa(process.execPath, [join(h.lib, 'banger.cjs'), 'image', 'pull', 'tiny', '--json'], { env: h.env, extendEnv: false, reject: false });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no byte progress within 30 s')), 30_000);
      child.stdout!.on('data', (data: Buffer) => {
        if (data.toString().includes('"unit":"bytes"')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    process.kill(pid, 'SIGKILL');
    const result = await child;
    server.delayMs = 0;
    expect(result.exitCode).toBe(125);
    expect(String(result.stderr)).toContain('lost the connection to bangerd');
    const db = new Database(state('banger.db'), { readonly: true });
    expect(db.prepare('SELECT COUNT(*) AS n FROM images').get()).toEqual({ n: 0 });
    expect(db.prepare("SELECT status FROM step_state WHERE graph_id = 'image:tiny' AND step_id = 'image.fetch'").get()).toEqual({ status: 'running' });
    db.close();
    expect(existsSync(state('images', 'tiny'))).toBe(false);
    const plan = await cli(['image', 'pull', 'tiny', '--explain']);
    expect(plan.stdout).toMatch(/^\s+run\s+image\.fetch\s+Download image tiny\s+interrupted$/m);
  }, 60_000);

  it('pulls with byte progress events, registers the image, and shows it', async () => {
    const r = await cli(['image', 'pull', 'tiny', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const events = ndjson(r.stdout);
    expect(events[0]).toMatchObject({ type: 'graph-planned', graphId: 'image:tiny' });
    // The interrupted attempt is redone (its partial download resumed) and the dead daemon's temp dir cleaned.
    expect((events[0] as { steps: { id: string; reason: string }[] }).steps[0]).toMatchObject({ id: 'image.fetch', reason: 'interrupted' });
    const bytes = events.filter((e) => e['type'] === 'step-progress' && e['unit'] === 'bytes');
    expect(bytes.length).toBeGreaterThan(0);
    expect(bytes.at(-1)).toMatchObject({ stepId: 'image.fetch', done: bundleSize, total: bundleSize });
    expect(events.filter((e) => e['type'] === 'step-succeeded').map((e) => e['stepId'])).toEqual(['image.fetch', 'image.register']);
    expect(events.at(-2)).toMatchObject({ type: 'graph-finished', ok: true });
    expect(events.at(-1)).toMatchObject({ type: 'result', result: { image: { name: 'tiny', kernel: 'debian-cloud' } } });

    const list = json<Array<{ name: string; rootfsPath: string; origin: string }>>((await cli(['image', 'list', '--json'])).stdout);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ name: 'tiny', rootfsPath: state('images', 'tiny', 'rootfs.ext4') });
    expect(list[0]!.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/tiny-.*\.rootfs\.ext4\.zst$/);
    expect(statSync(state('images', 'tiny', 'rootfs.ext4')).size).toBe(32 * 1024 * 1024);
    expect(readdirSync(state('images'))).toEqual(['tiny']);

    const table = await cli(['image', 'list']);
    expect(table.stdout).toMatch(/^NAME\s+VERSION\s+SIZE\s+KERNEL\s+ORIGIN\s+REGISTERED\s+USED BY$/m);
    expect(table.stdout).toMatch(/^tiny\s+\S+\s+32\.0 MiB\s+debian-cloud\s+http:\S+\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+-$/m);
    const show = await cli(['image', 'show', 'tiny']);
    expect(show.stdout).toMatch(/^image tiny\n\s+version:/);
    expect(show.stdout).toMatch(/rootfs:\s+\S+rootfs\.ext4 \(32\.0 MiB, sparse\)/);
  }, 60_000);

  it('makes a second pull a no-op that reports every step skipped', async () => {
    const r = await cli(['image', 'pull', 'tiny']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('[image:tiny] plan: 0 to run, 2 to skip');
    expect(r.stderr).toContain('[image.fetch] skipped (satisfied)');
    expect(r.stderr).toContain('[image.register] skipped (satisfied)');
    expect(r.stdout).toMatch(/^image tiny \S+ is ready \(\S+rootfs\.ext4\)\n$/);
  });

  it('refuses to remove an image a VM uses, naming the VM, and removes it otherwise', async () => {
    const db = new Database(state('banger.db'));
    db.prepare(
      `INSERT INTO vms (id, name, state, image_name, kernel_name, hypervisor, vcpu, memory_mib, disk_bytes, spec, created_at, updated_at)
       VALUES ('vm-1', 'sandbox', 'stopped', 'tiny', 'debian-cloud', 'qemu', 1, 256, 1, '{}', 0, 0)`,
    ).run();
    db.close();
    const refused = await cli(['image', 'rm', 'tiny']);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toBe('banger: cannot remove image tiny: used by VM sandbox (hint: delete that VM first (banger vm delete sandbox))\n');
    expect(existsSync(state('images', 'tiny', 'rootfs.ext4'))).toBe(true);

    const db2 = new Database(state('banger.db'));
    db2.prepare("DELETE FROM vms WHERE id = 'vm-1'").run();
    db2.close();
    const removed = await cli(['image', 'rm', 'tiny']);
    expect(removed).toMatchObject({ exitCode: 0, stdout: `removed image tiny (${state('images', 'tiny')})\n` });
    expect(existsSync(state('images', 'tiny'))).toBe(false);
    expect((await cli(['image', 'show', 'tiny'])).stderr).toMatch(/^banger: image tiny is not registered \(hint: pull it with banger image pull tiny/);
  });

  it('serialises two pulls started at once: one downloads, the other waits and skips every step', async () => {
    server.delayMs = 10;
    const pulls = await Promise.all([cli(['image', 'pull', 'tiny', '--json']), cli(['image', 'pull', 'tiny', '--json'])]);
    server.delayMs = 0;
    const started = pulls.map((r) => {
      expect(r.exitCode, r.stderr).toBe(0);
      return ndjson(r.stdout).filter((e) => e['type'] === 'step-started').map((e) => e['stepId']);
    });
    expect(started.sort((a, b) => b.length - a.length)).toEqual([['image.fetch', 'image.register'], []]);
    // They really overlapped: the second one queued behind the first.
    expect(readFileSync(state('bangerd.log'), 'utf8')).toMatch(/"graph":"image:tiny".*"msg":"waiting for the running graph with the same key to finish"/);
    expect(json<unknown[]>((await cli(['image', 'list', '--json'])).stdout)).toHaveLength(1);
    expect((await cli(['image', 'rm', 'tiny'])).exitCode).toBe(0);
  }, 60_000);

  it('refuses to register a file that is not ext4 with one line naming the file', async () => {
    const junk = join(work, 'junk.img');
    writeFileSync(junk, randomBytes(64 * 1024));
    const r = await cli(['image', 'register', '--name', 'junk', '--rootfs', junk]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`banger: rootfs ${junk}: not an ext4 filesystem image (hint:`);
    expect(existsSync(state('images', 'junk'))).toBe(false);
  });

  it('registers an ext4 rootfs without sshd and warns about the consequence', async () => {
    const rootfs = makeRootfs(join(work, 'nossh.ext4'), { sshd: false });
    const r = await cli(['image', 'register', '--name', 'nossh', '--rootfs', rootfs, '--kernel', 'debian-cloud']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain(`banger: warning: rootfs ${rootfs} has no /usr/sbin/sshd: banger cannot ssh into VMs made from it`);
    expect(r.stdout).toMatch(/^registered image nossh \S+ \(.*rootfs\.ext4\)$/m);
    const shown = json<{ origin: string; kernel: string }>((await cli(['image', 'show', 'nossh', '--json'])).stdout);
    expect(shown).toMatchObject({ origin: `register:${rootfs}`, kernel: 'debian-cloud' });
  });
});
