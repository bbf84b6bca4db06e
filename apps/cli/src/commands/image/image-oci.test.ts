import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable } from '@banger/host';
import { buildLayer as layer, pushImage, pushManifest, sha256, startProxy, startRegistry, type BuiltLayer, type FrontProxy, type LayerEntry, type TestRegistry } from '@banger/oci/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../../../test/harness.js';

const missing = ['docker-registry', 'mkfs.ext4', 'debugfs'].filter((tool) => !findExecutable(tool));

/** Stand-ins for an init and sshd: enough for banger's bootability check, never booted here. */
const bootable = (extra: LayerEntry[] = []): LayerEntry[] => [
  { name: 'sbin/', type: 'directory', mode: 0o755 },
  { name: 'sbin/init', content: '#!/bin/sh\n', mode: 0o755 },
  { name: 'usr/', type: 'directory', mode: 0o755 },
  { name: 'usr/sbin/', type: 'directory', mode: 0o755 },
  { name: 'usr/sbin/sshd', content: '#!/bin/sh\n', mode: 0o755 },
  ...extra,
];

/** Incompressible content so a layer has a real size (and byte progress). */
const noise = (kib: number, seed: string): Buffer => {
  const out = Buffer.alloc(kib * 1024);
  let block = Buffer.from(seed);
  for (let i = 0; i < out.length; i += 32) {
    block = Buffer.from(sha256(block).slice(7), 'hex');
    block.copy(out, i);
  }
  return out;
};

/**
 * A loopback proxy that slows blob downloads down (a pause after every
 * chunk), so a test can act while a pull is in flight.
 */
async function startSlowProxy(upstream: string, delayMs: number): Promise<{ host: string; stop(): Promise<void> }> {
  const server = createServer((req, res) => {
    const up = httpRequest(`http://${upstream}${req.url}`, { method: req.method, headers: { ...req.headers, host: upstream } }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      if (req.method !== 'GET' || !req.url?.includes('/blobs/')) return void upRes.pipe(res);
      upRes.on('data', (chunk: Buffer) => {
        res.write(chunk);
        upRes.pause();
        setTimeout(() => upRes.resume(), delayMs);
      });
      upRes.on('end', () => res.end());
    });
    req.pipe(up);
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Resolves once the child prints a byte-progress event (the pull is downloading). */
function downloading(child: ReturnType<typeof execa>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no byte progress within 30 s')), 30_000);
    child.stdout!.on('data', (data: Buffer) => {
      if (data.toString().includes('"unit":"bytes"')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const json = <T>(text: string): T => JSON.parse(text) as T;
const ndjson = (text: string) => text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);

describe.skipIf(missing.length > 0)(`banger image pull <OCI reference> against a real registry on 127.0.0.1${missing.length ? ` (skipped: missing ${missing.join(', ')})` : ''}`, () => {
  let h: Harness;
  let work: string;
  let registry: TestRegistry;
  let proxy: FrontProxy;
  let tiny: { digest: string; configDigest: string; layers: BuiltLayer[] };
  const state = (...parts: string[]) => join(h.home, 'state', ...parts);
  const blobs = () => join(h.home, 'cache', 'oci', 'blobs', 'sha256');
  const ref = (repo: string) => `${proxy.host}/${repo}`;
  const blobGets = () => proxy.log.filter((r) => r.method === 'GET' && r.path.includes('/blobs/')).length;

  beforeAll(async () => {
    h = await createHarness();
    work = mkdtempSync(join(tmpdir(), 'banger-oci-cli-'));
    registry = await startRegistry(join(work, 'registry'));
    proxy = await startProxy(registry.host);
    const layers = [
      await layer(bootable([{ name: 'etc/', type: 'directory', mode: 0o755 }, { name: 'etc/os-release', content: 'ID=tinyos\nNAME="Tiny OS"\n' }])),
      await layer([{ name: 'opt/', type: 'directory', mode: 0o755 }, { name: 'opt/noise.bin', content: noise(512, 'tiny') }]),
    ];
    tiny = { ...(await pushImage(registry.host, 'banger/tiny', 'latest', layers)), layers };
  }, 120_000);

  afterAll(async () => {
    if (h) await h.banger(['daemon', 'stop']);
    await proxy?.stop();
    await registry?.stop();
    await h?.dispose();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('explains a pull without downloading a blob or registering anything', async () => {
    const r = await h.banger(['image', 'pull', ref('banger/tiny:latest'), '--explain']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^plan for image:tiny: 2 to run, 0 to skip$/m);
    expect(r.stdout).toMatch(new RegExp(`^\\s+run\\s+image\\.oci-pull\\s+Pull ${ref('banger/tiny:latest').replace(/\./g, '\\.')}\\s+never ran$`, 'm'));
    expect(r.stdout).toMatch(/^\s+run\s+image\.register\s+Register image tiny\s+never ran$/m);
    expect(blobGets()).toBe(0);
    expect(json<unknown[]>((await h.banger(['image', 'list', '--json'])).stdout)).toEqual([]);
    expect(existsSync(blobs())).toBe(false);
  }, 60_000);

  it('pulls an image with an init and sshd (provisioning off), with byte progress, and registers it with its digests', async () => {
    const r = await h.banger(['image', 'pull', ref('banger/tiny:latest'), '--no-provision', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const events = ndjson(r.stdout);
    expect(events[0]).toMatchObject({ type: 'graph-planned', graphId: 'image:tiny' });
    expect(events.filter((e) => e['type'] === 'step-succeeded').map((e) => e['stepId'])).toEqual(['image.oci-pull', 'image.register']);
    const bytes = events.filter((e) => e['type'] === 'step-progress' && e['unit'] === 'bytes');
    const layerBytes = tiny.layers.reduce((sum, l) => sum + l.bytes.length, 0);
    expect(bytes.at(-1)).toMatchObject({ stepId: 'image.oci-pull', done: layerBytes, total: layerBytes });
    expect(events.at(-1)).toMatchObject({
      type: 'result',
      result: {
        image: {
          name: 'tiny',
          kernel: 'debian-cloud',
          origin: `oci:${ref('banger/tiny:latest')}`,
          version: tiny.digest.slice(7, 19),
          oci: { reference: ref('banger/tiny:latest'), manifestDigest: tiny.digest, configDigest: tiny.configDigest, provisioned: false },
        },
      },
    });
    // Every layer is in the content-addressed cache under its digest.
    for (const l of tiny.layers) expect(existsSync(join(blobs(), l.digest.slice(7)))).toBe(true);
    // The registered rootfs is a real ext4 holding the flattened tree plus banger's guest contract.
    const rootfs = state('images', 'tiny', 'rootfs.ext4');
    expect(execFileSync('debugfs', ['-R', 'cat /opt/noise.bin', rootfs], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 24 }).equals(noise(512, 'tiny'))).toBe(true);
    expect(execFileSync('debugfs', ['-R', 'cat /etc/ssh/sshd_config', rootfs], { stdio: ['ignore', 'pipe', 'ignore'] }).toString()).toMatch(/PasswordAuthentication no/);
    expect(readdirSync(state('images'))).toEqual(['tiny']);

    const show = await h.banger(['image', 'show', 'tiny']);
    expect(show.exitCode, show.stderr).toBe(0);
    expect(show.stdout).toMatch(new RegExp(`^\\s+origin:\\s+oci:${ref('banger/tiny:latest').replace(/\./g, '\\.')}$`, 'm'));
    expect(show.stdout).toMatch(new RegExp(`^\\s+manifest:\\s+${tiny.digest}$`, 'm'));
    expect(show.stdout).toMatch(new RegExp(`^\\s+config:\\s+${tiny.configDigest}$`, 'm'));
    expect(show.stdout).toMatch(/^\s+provisioned:\s+no$/m);
  }, 120_000);

  it('makes a second pull of the unchanged tag skip every step, with one HEAD and no blob download', async () => {
    const before = proxy.log.length;
    const getsBefore = blobGets();
    const r = await h.banger(['image', 'pull', ref('banger/tiny:latest')]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('[image:tiny] plan: 0 to run, 2 to skip');
    expect(r.stderr).toContain('[image.oci-pull] skipped (satisfied)');
    expect(r.stderr).toContain('[image.register] skipped (satisfied)');
    expect(r.stdout).toBe(`image tiny is ready: ${ref('banger/tiny:latest')} ${tiny.digest} (${state('images', 'tiny', 'rootfs.ext4')})\n`);
    expect(blobGets()).toBe(getsBefore);
    expect(proxy.log.slice(before).filter((req) => req.path.includes('/manifests/')).map((req) => req.method)).toEqual(['HEAD']);
  }, 60_000);

  it('re-pulls when the tag moved, downloading only the new layer, and records the new digest', async () => {
    const layers = [tiny.layers[0]!, await layer([{ name: 'opt/', type: 'directory', mode: 0o755 }, { name: 'opt/noise.bin', content: noise(256, 'tiny v2') }])];
    const moved = await pushImage(registry.host, 'banger/tiny', 'latest', layers);
    const getsBefore = proxy.log.filter((req) => req.method === 'GET' && req.path.includes('/blobs/')).map((req) => req.path);
    const r = await h.banger(['image', 'pull', ref('banger/tiny:latest'), '--no-provision']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\[image:tiny\] plan: 2 to run, 0 to skip/);
    const fetched = proxy.log.filter((req) => req.method === 'GET' && req.path.includes('/blobs/')).map((req) => req.path).slice(getsBefore.length);
    // The new layer and the new config, not the unchanged first layer.
    expect(fetched.sort()).toEqual([`/v2/banger/tiny/blobs/${layers[1]!.digest}`, `/v2/banger/tiny/blobs/${moved.configDigest}`].sort());
    const shown = json<{ oci: { manifestDigest: string } }>((await h.banger(['image', 'show', 'tiny', '--json'])).stdout);
    expect(shown.oci.manifestDigest).toBe(moved.digest);
    expect(readdirSync(state('images'))).toEqual(['tiny']);
    tiny = { ...moved, layers };
  }, 120_000);

  it('pulls a pinned digest under a name derived from it, and re-pulls it from the cache without any request', async () => {
    const before = proxy.log.length;
    const pinned = `${ref('banger/tiny')}@${tiny.digest}`;
    const first = await h.banger(['image', 'pull', pinned, '--no-provision']);
    expect(first.exitCode, first.stderr).toBe(0);
    const name = `tiny-${tiny.digest.slice(7, 19)}`;
    expect(first.stdout).toBe(`image ${name} is ready: ${pinned} ${tiny.digest} (${state('images', name, 'rootfs.ext4')})\n`);
    const again = await h.banger(['image', 'pull', pinned]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toContain(`[image:${name}] plan: 0 to run, 2 to skip`);
    // Every blob of that digest was cached: neither pull asked the registry anything.
    expect(proxy.log.slice(before)).toEqual([]);
    expect((await h.banger(['image', 'rm', name])).exitCode).toBe(0);
  }, 60_000);

  it('resolves a multi-platform index to linux/amd64 and records both digests', async () => {
    const arm = await pushImage(registry.host, 'banger/multi', 'arm64', [await layer(bootable())], { os: 'linux', architecture: 'arm64' });
    const amd = await pushImage(registry.host, 'banger/multi', 'amd64', tiny.layers);
    const manifestType = 'application/vnd.oci.image.manifest.v1+json';
    const indexType = 'application/vnd.oci.image.index.v1+json';
    const index = {
      schemaVersion: 2,
      mediaType: indexType,
      manifests: [
        { mediaType: manifestType, digest: arm.digest, size: arm.size, platform: { os: 'linux', architecture: 'arm64' } },
        { mediaType: manifestType, digest: amd.digest, size: amd.size, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    };
    const indexDigest = await pushManifest(registry.host, 'banger/multi', 'v1', index, indexType);
    const r = await h.banger(['image', 'pull', ref('banger/multi:v1'), '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(ndjson(r.stdout).at(-1)).toMatchObject({ type: 'result', result: { image: { name: 'multi-v1', oci: { manifestDigest: amd.digest, indexDigest } } } });
    const show = await h.banger(['image', 'show', 'multi-v1']);
    expect(show.stdout).toMatch(new RegExp(`^\\s+index:\\s+${indexDigest}$`, 'm'));
    expect(show.stdout).toMatch(new RegExp(`^\\s+manifest:\\s+${amd.digest}$`, 'm'));
    expect((await h.banger(['image', 'rm', 'multi-v1'])).exitCode).toBe(0);
  }, 60_000);

  it('keeps the registered image intact when a re-pull fails (--provision on a distribution banger cannot provision)', async () => {
    const before = json<{ sha256: string; oci: { manifestDigest: string } }>((await h.banger(['image', 'show', 'tiny', '--json'])).stdout);
    const r = await h.banger(['image', 'pull', ref('banger/tiny:latest'), '--provision']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(
      `banger: image.oci-pull failed: cannot provision ${ref('banger/tiny:latest')}: distribution "tinyos" is not supported (hint: provisioning supports Debian/Ubuntu (apt), Alpine (apk) and Fedora (dnf); use an image that has an init and sshd, without --provision)`,
    );
    const after = json<{ sha256: string; oci: { manifestDigest: string } }>((await h.banger(['image', 'show', 'tiny', '--json'])).stdout);
    expect(after).toEqual(before);
    expect(existsSync(state('images', 'tiny', 'rootfs.ext4'))).toBe(true);
    expect(readdirSync(state('images'))).toEqual(['tiny']);
    expect(readdirSync(state('oci-work'))).toEqual([]);
  }, 60_000);

  it('cancels an OCI pull on Ctrl-C, refusing a prune meanwhile, and leaves nothing registered and no scratch behind', async () => {
    await pushImage(registry.host, 'banger/slow', 'v1', [await layer(bootable([{ name: 'opt/', type: 'directory', mode: 0o755 }, { name: 'opt/slow.bin', content: noise(4096, 'slow') }]))]);
    const slow = await startSlowProxy(registry.host, 40);
    try {
      const child = execa(process.execPath, [join(h.lib, 'banger.cjs'), 'image', 'pull', `${slow.host}/banger/slow:v1`, '--no-provision', '--json'], { env: h.env, extendEnv: false, reject: false });
      await downloading(child);
      const prune = await h.banger(['image', 'prune']);
      expect(prune.exitCode).toBe(1);
      expect(prune.stderr).toBe('banger: cannot prune the OCI blob cache now: 1 image pull(s) running (hint: wait for the pull to finish, then run banger image prune again)\n');
      child.kill('SIGINT');
      const result = await child;
      expect(result.exitCode).toBe(130);
      // The daemon aborts the graph asynchronously: wait for the step to be recorded as cancelled.
      const deadline = Date.now() + 15_000;
      let status: string | undefined;
      while (Date.now() < deadline && status !== 'cancelled') {
        const db = new Database(state('banger.db'), { readonly: true });
        status = (db.prepare("SELECT status FROM step_state WHERE graph_id = 'image:slow-v1' AND step_id = 'image.oci-pull'").get() as { status: string } | undefined)?.status;
        db.close();
        if (status !== 'cancelled') await new Promise((r) => setTimeout(r, 100));
      }
      expect(status).toBe('cancelled');
      expect(json<Array<{ name: string }>>((await h.banger(['image', 'list', '--json'])).stdout).map((i) => i.name)).toEqual(['tiny']);
      expect(readdirSync(state('images'))).toEqual(['tiny']);
      expect(readdirSync(state('oci-work'))).toEqual([]);
      expect(readdirSync(blobs()).filter((name) => name.includes('.tmp-'))).toEqual([]);
    } finally {
      await slow.stop();
    }
  }, 90_000);

  it('survives a kill -9 of the daemon mid-pull: the next pull completes and removes the dead attempt\'s scratch', async () => {
    const slow = await startSlowProxy(registry.host, 40);
    try {
      const pid = json<{ pid: number }>((await h.banger(['daemon', 'status', '--json'])).stdout).pid;
      h.track(pid);
      const child = execa(process.execPath, [join(h.lib, 'banger.cjs'), 'image', 'pull', `${slow.host}/banger/slow:v1`, '--no-provision', '--json'], { env: h.env, extendEnv: false, reject: false });
      await downloading(child);
      process.kill(pid, 'SIGKILL');
      expect((await child).exitCode).toBe(125);
      // Until its parent reaps it, a killed process still answers kill(pid, 0) and its temp files count as a live pull's.
      for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
      const leftovers = readdirSync(state('oci-work'));
      expect(leftovers).toEqual([expect.stringMatching(new RegExp(`^slow-v1\\.tmp-${pid}-[0-9a-f]{8}$`))]);

      const r = await h.banger(['image', 'pull', `${slow.host}/banger/slow:v1`, '--no-provision']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(readdirSync(state('oci-work'))).toEqual([]);
      expect(readdirSync(state('images')).sort()).toEqual(['slow-v1', 'tiny']);
      expect((await h.banger(['image', 'rm', 'slow-v1'])).exitCode).toBe(0);
    } finally {
      await slow.stop();
    }
  }, 120_000);

  it('rejects a corrupted blob with a non-zero exit naming the blob, and registers nothing', async () => {
    const bad = [await layer(bootable([{ name: 'opt/', type: 'directory', mode: 0o755 }, { name: 'opt/bad.bin', content: noise(64, 'bad') }]))];
    await pushImage(registry.host, 'banger/bad', 'v1', bad);
    proxy.behaviour.corruptDigest = bad[0]!.digest;
    try {
      const r = await h.banger(['image', 'pull', ref('banger/bad:v1'), '--no-provision']);
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toContain(`blob ${bad[0]!.digest} from ${ref('banger/bad')}`);
      expect(r.stderr).toContain('failed verification');
    } finally {
      proxy.behaviour.corruptDigest = undefined;
    }
    expect(json<Array<{ name: string }>>((await h.banger(['image', 'list', '--json'])).stdout).map((i) => i.name)).toEqual(['tiny']);
    expect(readdirSync(state('images'))).toEqual(['tiny']);
    expect(readdirSync(blobs()).filter((name) => name.startsWith(bad[0]!.digest.slice(7)))).toEqual([]);
  }, 60_000);

  it('refuses an image without sshd when provisioning is off, saying what is missing, and registers nothing', async () => {
    await pushImage(registry.host, 'banger/nossh', 'v1', [await layer([{ name: 'sbin/', type: 'directory', mode: 0o755 }, { name: 'sbin/init', content: '#!/bin/sh\n', mode: 0o755 }])]);
    const r = await h.banger(['image', 'pull', ref('banger/nossh:v1'), '--no-provision', '--name', 'nossh']);
    expect(r.exitCode).toBe(1);
    // Progress lines come first; the error is the last line, alone.
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(
      new RegExp(`^banger: image\\.oci-pull failed: image ${ref('banger/nossh:v1').replace(/\./g, '\\.')} cannot boot as a VM: it has no sshd \\(/usr/sbin/sshd\\) \\(hint: .+\\)$`),
    );
    expect(existsSync(state('images', 'nossh'))).toBe(false);
  }, 60_000);

  it('refuses to pull over an image registered from another reference, naming both', async () => {
    const r = await h.banger(['image', 'pull', ref('banger/bad:v1'), '--name', 'tiny']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(
      `banger: cannot pull ${ref('banger/bad:v1')} as image tiny: tiny is already registered from ${ref('banger/tiny:latest')} (hint: pick another name with --name, or remove it first with banger image rm tiny)\n`,
    );
  });

  it('refuses OCI-only flags on a catalog name and says how to write a Docker Hub reference', async () => {
    const r = await h.banger(['image', 'pull', 'debian', '--insecure']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(
      'banger: --insecure only applies to OCI references, and "debian" is a catalog name (hint: an OCI reference contains "/", ":" or "@": write debian:latest or docker.io/library/debian for Docker Hub\'s debian)\n',
    );
  });

  it('prunes only unreferenced blobs while the image is registered, and its blobs after image rm', async () => {
    // The first version of tiny (before the tag moved) and the corrupted pull's manifest/config are unreferenced now.
    const first = await h.banger(['image', 'prune', '--json']);
    expect(first.exitCode, first.stderr).toBe(0);
    const kept = json<{ removedBlobs: string[]; keptImages: string[] }>(first.stdout);
    expect(kept.keptImages).toEqual(['tiny']);
    for (const l of tiny.layers) expect(existsSync(join(blobs(), l.digest.slice(7)))).toBe(true);
    expect(existsSync(join(blobs(), tiny.digest.slice(7)))).toBe(true);
    expect(kept.removedBlobs.length).toBeGreaterThan(0);
    expect(kept.removedBlobs).not.toContain(tiny.layers[0]!.digest);

    expect((await h.banger(['image', 'rm', 'tiny'])).exitCode).toBe(0);
    const r = await h.banger(['image', 'prune']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^removed \\d+ blobs, freed [\\d.]+ (KiB|MiB) from ${blobs()}\\n$`));
    // A blob the killed daemon was downloading stays as a temp file until it is an hour old (it might belong to a live pull).
    expect(readdirSync(blobs()).filter((name) => !name.includes('.tmp-'))).toEqual([]);
    const again = await h.banger(['image', 'prune']);
    expect(again.stdout).toBe(`nothing to prune in ${blobs()}\n`);
  }, 60_000);
});
