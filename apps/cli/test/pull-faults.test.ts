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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './harness.js';

/**
 * kill -9 of the daemon at the steps of the image pull graph, through the
 * fault suite's pause hook (BANGER_TEST_PAUSE_FILE, see testPausePoint): the
 * daemon pauses at `<step>` (marked running, nothing done) or `<step>:after`
 * (done, not recorded), the test kills it there, and the next `image pull`
 * must finish with one image and nothing else left behind. No VM boots: a
 * real daemon, a real ext4 image published on 127.0.0.1.
 */
const POINTS = ['image.fetch', 'image.fetch:after', 'image.register', 'image.register:after'];

let h: Harness;
let work: string;
let server: Server;
let catalogUrl: string;
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
  server = createServer((req, res) => {
    const file = join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (!existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  catalogUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}, 120_000);

afterAll(async () => {
  for (const home of homes) await h.banger(['daemon', 'stop'], { HOME: home, BANGER_HOME: home });
  server?.closeAllConnections();
  server?.close();
  await h?.dispose();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('kill -9 of the daemon at each step of the image pull graph', () => {
  for (const point of POINTS) {
    it(`at ${point}: the pull fails, and the next pull registers the image once and leaves nothing else`, async () => {
      h.freshHome();
      homes.push(h.home);
      mkdirSync(join(h.home, 'config'), { recursive: true });
      writeFileSync(join(h.home, 'config', 'config.toml'), `catalog_url = "${catalogUrl}"\n`);
      const pauseFile = join(h.home, 'pause');
      writeFileSync(pauseFile, `${point}\n`);
      const env = { ...h.env, BANGER_TEST_PAUSE_FILE: pauseFile };
      const pull = execa(process.execPath, [join(h.lib, 'banger.js'), 'image', 'pull', 'tiny'], { env, extendEnv: false, reject: false, timeout: 60_000 });
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
      const again = await h.banger(['image', 'pull', 'tiny'], { BANGER_TEST_PAUSE_FILE: pauseFile });
      expect(again.exitCode, again.stderr).toBe(0);
      const status = await h.banger(['daemon', 'status', '--json']);
      h.track((JSON.parse(status.stdout) as { pid: number }).pid);

      const db = new Database(join(h.home, 'state', 'banger.db'), { readonly: true });
      try {
        expect(db.prepare('SELECT name FROM images').all()).toEqual([{ name: 'tiny' }]);
      } finally {
        db.close();
      }
      expect(readdirSync(join(h.home, 'state', 'images'))).toEqual(['tiny']);
      // No temp file, staging directory or downloaded bundle anywhere in the home.
      const stray = filesUnder(h.home).filter((f) => /\.tmp|staging|\.partial/.test(f) || (/\.zst$|\.tar/.test(f) && !f.startsWith('state/images/tiny/')));
      expect(stray).toEqual([]);
      expect(filesUnder(join(h.home, 'cache')).filter((f) => !f.endsWith('index.json'))).toEqual([]);
    }, 120_000);
  }
});
