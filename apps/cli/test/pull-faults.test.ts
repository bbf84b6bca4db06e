import { execFileSync } from 'node:child_process';
import { chmodSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { publishImage, registerRootfs } from '@banger/images';
import { packKernelBundle } from '@banger/kernels';
import { ensureTestKernel } from '@banger/kernels/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './harness.js';

/**
 * kill -9 of the daemon at the steps of the image and kernel pull graphs, through the
 * fault suite's pause hook (BANGER_TEST_PAUSE_FILE, see testPausePoint): the
 * daemon pauses at `<step>` (marked running, nothing done) or `<step>:after`
 * (done, not recorded), the test kills it there, and the next `image pull`
 * must finish with one image (kernel) and nothing else left behind. No VM
 * boots: a real daemon, a real ext4 image and the test kernel bundle
 * published on 127.0.0.1.
 */
const CASES = [
  ...['image.fetch', 'image.fetch:after', 'image.register', 'image.register:after'].map((point) => ({ kind: 'image' as const, name: 'tiny', point })),
  ...['kernel.fetch', 'kernel.fetch:after', 'kernel.register', 'kernel.register:after'].map((point) => ({ kind: 'kernel' as const, name: 'debian-cloud', point })),
];

let h: Harness;
let work: string;
let server: Server;
let catalogUrl: string;
let kernelIndex: (base: string) => string;
const homes: string[] = [];

function makeRootfs(file: string): string {
  const tree = mkdtempSync(join(tmpdir(), 'banger-pf-tree-'));
  try {
    for (const dir of ['usr/sbin', 'usr/lib/systemd', 'etc', 'root']) mkdirSync(join(tree, dir), { recursive: true });
    symlinkSync('usr/sbin', join(tree, 'sbin'));
    writeFileSync(join(tree, 'usr/lib/systemd/systemd'), '#!/bin/sh\nexec /bin/sh\n');
    chmodSync(join(tree, 'usr/lib/systemd/systemd'), 0o755);
    symlinkSync('/usr/lib/systemd/systemd', join(tree, 'usr/sbin/init'));
    writeFileSync(join(tree, 'usr/sbin/sshd'), '#!/bin/sh\n');
    chmodSync(join(tree, 'usr/sbin/sshd'), 0o755);
    execFileSync('mkfs.ext4', ['-q', '-F', '-E', 'root_owner=0:0', '-d', tree, file, '32M'], { stdio: 'pipe' });
    return file;
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
}

/** Every file under `dir` (relative paths), for the leftover check. */
function filesUnder(dir: string, base = dir): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name), base) : [relative(base, join(dir, e.name))]));
}

beforeAll(async () => {
  h = await createHarness();
  work = mkdtempSync(join(tmpdir(), 'banger-pull-faults-'));
  const imageDir = join(work, 'image');
  await registerRootfs({ name: 'tiny', rootfsPath: makeRootfs(join(work, 'tiny.ext4')), destDir: imageDir, kernel: 'debian-cloud' });
  await publishImage(imageDir, join(work, 'catalog'), { description: 'tiny test image' });
  const root = join(work, 'catalog');
  // The kernel tests boot elsewhere (built once per machine into the test cache), published under its catalog name.
  const packed = await packKernelBundle((await ensureTestKernel()).dir, join(root, 'debian-cloud.tar.zst'));
  kernelIndex = (base: string) => JSON.stringify({ formatVersion: 1, entries: [{ name: 'debian-cloud', description: 'test kernel', bundle: { url: `${base}debian-cloud.tar.zst`, sha256: packed.sha256 } }] });
  server = createServer((req, res) => {
    const file = join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (!existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  catalogUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  writeFileSync(join(root, 'kernels.json'), kernelIndex(catalogUrl));
}, 15 * 60_000);

afterAll(async () => {
  for (const home of homes) await h.banger(['daemon', 'stop'], { HOME: home, BANGER_HOME: home });
  server?.closeAllConnections();
  server?.close();
  await h?.dispose();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('kill -9 of the daemon at each step of the image and kernel pull graphs', () => {
  for (const { kind, name, point } of CASES) {
    it(`at ${point}: the ${kind} pull fails, and the next pull registers it once and leaves nothing else`, async () => {
      h.freshHome();
      homes.push(h.home);
      mkdirSync(join(h.home, 'config'), { recursive: true });
      writeFileSync(join(h.home, 'config', 'config.toml'), `catalog_url = "${catalogUrl}"\nkernel_catalog_url = "${catalogUrl}kernels.json"\n`);
      const pauseFile = join(h.home, 'pause');
      writeFileSync(pauseFile, `${point}\n`);
      const env = { ...h.env, BANGER_TEST_PAUSE_FILE: pauseFile };
      const pull = execa(process.execPath, [join(h.lib, 'banger.cjs'), kind, 'pull', name], { env, extendEnv: false, reject: false, timeout: 60_000 });
      let daemonPid: number | undefined;
      for (let i = 0; i < 600 && daemonPid === undefined && pull.exitCode === null; i++) {
        const line = existsSync(`${pauseFile}.reached`) ? readFileSync(`${pauseFile}.reached`, 'utf8').split('\n').find((l) => l.startsWith(`${point} `)) : undefined;
        if (line) daemonPid = Number(line.split(' ')[1]);
        else await sleep(100);
      }
      if (daemonPid === undefined) throw new Error(`the daemon never paused at ${point}: ${(await pull).stderr}`);
      h.track(daemonPid);
      process.kill(daemonPid, 'SIGKILL');
      const interrupted = await pull;
      expect(interrupted.exitCode).not.toBe(0);
      expect(String(interrupted.stderr)).toContain('lost the connection to bangerd');

      writeFileSync(pauseFile, '');
      const again = await h.banger([kind, 'pull', name], { BANGER_TEST_PAUSE_FILE: pauseFile });
      expect(again.exitCode, again.stderr).toBe(0);
      const status = await h.banger(['daemon', 'status', '--json']);
      h.track((JSON.parse(status.stdout) as { pid: number }).pid);

      const db = new Database(join(h.home, 'state', 'banger.db'), { readonly: true });
      try {
        expect(db.prepare(`SELECT name FROM ${kind}s`).all()).toEqual([{ name }]);
      } finally {
        db.close();
      }
      expect(readdirSync(join(h.home, 'state', `${kind}s`))).toEqual([name]);
      // No temp file, staging directory or downloaded bundle anywhere in the home.
      const stray = filesUnder(h.home).filter((f) => /\.tmp|staging|\.partial/.test(f) || (/\.zst$|\.tar/.test(f) && !f.startsWith(`state/${kind}s/${name}/`)));
      expect(stray).toEqual([]);
      // code-cache/ is the CLI's compiled code (apps/cli/src/launcher), not a download.
      expect(filesUnder(join(h.home, 'cache')).filter((f) => !f.endsWith('index.json') && !f.startsWith('code-cache/'))).toEqual([]);
    }, 240_000);
  }
});
