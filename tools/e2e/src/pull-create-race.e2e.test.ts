import { createReadStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishImage } from '@banger/images';
import { run } from '@banger/host';
import { openDatabase } from '@banger/store';
import { loadArtifacts } from './artifacts.js';
import { BangerHome, buildBangerBundles } from './helpers/banger-cli.js';
import { sendWhole, StaticServer, type ServeFile } from './helpers/static-server.js';

const BOOT_MS = 8 * 60_000;

/** The bundle at ~25 ms per MiB: the download lasts long enough for both commands to be in flight. */
const slowBundle: ServeFile = (req, res, file, size) => {
  if (!file.endsWith('.zst')) return sendWhole(req, res, file, size);
  res.writeHead(200, { 'content-length': size });
  const stream = createReadStream(file, { highWaterMark: 1024 * 1024 });
  stream.on('data', () => {
    stream.pause();
    setTimeout(() => stream.resume(), 25);
  });
  stream.pipe(res);
  req.on('close', () => stream.destroy());
};

/**
 * `image pull X` and `vm create --image X` started together on a cold
 * cache: the VM's fetch step runs the very pull graph `image pull` runs,
 * under the same `image:X` lock, so the bundle is downloaded once and
 * recorded once, and both commands succeed. Real CLI, real bangerd, a real
 * QEMU guest, the catalog served on loopback inside the throwaway netns.
 */
describe.skipIf(!process.env['BANGER_NETNS'])('a concurrent image pull and vm create of the same image (inside a throwaway netns)', () => {
  let home: BangerHome;
  let binDir: string;
  let publishDir: string;
  let server: StaticServer;
  let bundlePath: string;

  beforeAll(async () => {
    const artifacts = await loadArtifacts();
    binDir = await buildBangerBundles();
    home = new BangerHome(binDir, 'brace-');
    // Only the kernel is there: the image is cold (no dir, no record, no download cache).
    mkdirSync(join(home.stateDir, 'kernels'), { recursive: true });
    await run('cp', ['-r', '--reflink=auto', artifacts.kernelDir, join(home.stateDir, 'kernels', 'debian-cloud')]);
    publishDir = mkdtempSync(join(tmpdir(), 'brace-pub-'));
    const entry = await publishImage(artifacts.imageDir, publishDir, { level: 1 });
    bundlePath = `/${entry.bundle?.url ?? ''}`;
    server = new StaticServer(publishDir, slowBundle);
    await server.start();
    await home.writeConfig(
      [`catalog_url = "${server.url}index.json"`, 'default_image_name = "debian-minimal"', 'hypervisor = "qemu"', '[vm_defaults]', 'vcpu = 1', 'memory_mib = 512', 'disk_size = "1G"', ''].join('\n'),
    );
  }, 5 * 60_000);

  afterAll(async () => {
    if (home) {
      await home.cli(['vm', 'delete', 'racer', '--force'], { timeoutMs: 120_000 });
      await home.cli(['daemon', 'stop'], { timeoutMs: 60_000 });
      home.remove();
    }
    if (server) await server.stop();
    if (publishDir) rmSync(publishDir, { recursive: true, force: true });
    if (binDir) rmSync(binDir, { recursive: true, force: true });
  });

  it('downloads the bundle once, records the image once, and both commands succeed', async () => {
    // The daemon first, so neither command's start-up races the other's.
    await home.daemonPid();
    const [pull, create] = await Promise.all([
      home.cli(['image', 'pull', 'debian-minimal'], { timeoutMs: BOOT_MS }),
      home.cli(['vm', 'create', '--name', 'racer', '--image', 'debian-minimal'], { timeoutMs: BOOT_MS }),
    ]);
    expect(pull.exitCode, `image pull:\n${pull.stderr}`).toBe(0);
    expect(create.exitCode, `vm create:\n${create.stderr}\n--- console ---\n${home.consoleTail('racer')}`).toBe(0);
    expect(create.stdout).toMatch(/^vm racer is running at /);

    expect(server.requests.get(bundlePath)).toBe(1);
    const db = openDatabase(join(home.stateDir, 'banger.db'));
    try {
      expect(db.prepare("SELECT count(*) FROM images WHERE name = 'debian-minimal'").pluck().get()).toBe(1);
      expect(db.prepare('SELECT image_name FROM vms WHERE name = ?').pluck().get('racer')).toBe('debian-minimal');
    } finally {
      db.close();
    }
    // One image directory, no half-written siblings.
    expect((await run('ls', [join(home.stateDir, 'images')])).stdout.trim().split('\n')).toEqual(['debian-minimal']);
    const ssh = await home.cli(['vm', 'ssh', 'racer', '--', 'cat', '/etc/hostname'], { timeoutMs: 120_000 });
    expect(ssh.exitCode, ssh.stderr).toBe(0);
    expect(ssh.stdout.trim()).toBe('racer');
  });
});
