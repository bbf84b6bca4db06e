import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { run, findExecutable } from '@banger/host';
import { blobPath, hasBlob, pruneBlobs, BlobDigestMismatchError } from './blob-cache.js';
import { pullOciImage, type PullOciImageOptions } from './pull.js';
import { buildLayer as layer, freePort, listTree as tree, pushBlob, pushImage, pushManifest, startProxy, startRegistry, type LayerEntry, type TestRegistry } from './testing/index.js';

const tools = ['docker-registry', 'mkfs.ext4', 'debugfs'].filter((t) => !findExecutable(t));
const asRoot = process.getuid?.() === 0;

/** The minimum that passes the bootability check without provisioning. */
const bootable: LayerEntry[] = [
  { name: 'sbin/', type: 'directory', mode: 0o755 },
  { name: 'sbin/init', content: '#!/bin/sh\n', mode: 0o755 },
  { name: 'usr/', type: 'directory', mode: 0o755 },
  { name: 'usr/sbin/', type: 'directory', mode: 0o755 },
  { name: 'usr/sbin/sshd', content: '#!/bin/sh\n', mode: 0o755 },
];

describe.skipIf(tools.length > 0)(`pullOciImage against a real registry on 127.0.0.1${tools.length ? ` (skipped: missing ${tools.join(', ')})` : ''}`, () => {
  let dir: string;
  let registry: TestRegistry;
  let cacheDir: string;
  let workDir: string;
  let outDir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-oci-pull-'));
    registry = await startRegistry(join(dir, 'registry'));
  });
  afterAll(async () => {
    await registry?.stop();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    const case_ = await mkdtemp(join(dir, 'case-'));
    cacheDir = join(case_, 'cache');
    workDir = join(case_, 'work');
    outDir = join(case_, 'images');
  });

  const opts = (reference: string, extra: Partial<PullOciImageOptions> = {}): PullOciImageOptions => ({
    reference,
    cacheDir,
    workDir,
    outRootfs: join(outDir, 'rootfs.ext4'),
    dockerConfigPath: join(dir, 'no-docker-config.json'),
    ...extra,
  });

  /** Dumps the ext4 with debugfs (no mount needed) into a directory and returns it. */
  async function dumpExt4(image: string): Promise<string> {
    const out = await mkdtemp(join(dir, 'dump-'));
    await run('debugfs', ['-R', `rdump / ${out}`, image]);
    return out;
  }

  /** `debugfs stat` of one path: mode and owner exactly as stored in the ext4. */
  async function ext4Stat(image: string, path: string): Promise<{ mode: string; uid: number; gid: number }> {
    const { stdout } = await run('debugfs', ['-R', `stat ${path}`, image]);
    const m = stdout.match(/Mode:\s+(\d+)/);
    const u = stdout.match(/User:\s+(\d+)\s+Group:\s+(\d+)/);
    return { mode: m?.[1] ?? '?', uid: Number(u?.[1]), gid: Number(u?.[2]) };
  }

  it('pulls a two-layer image with a whiteout and opaque directories into an ext4 with the exact flattened tree', async () => {
    const lower = await layer([
      ...bootable,
      { name: 'data/', type: 'directory', mode: 0o755 },
      { name: 'data/keep', content: 'lower keep\n', pax: { 'SCHILY.xattr.user.banger': 'kept' } },
      { name: 'data/gone', content: 'removed by a whiteout\n' },
      { name: 'data/replaced', content: 'lower\n' },
      { name: 'data/opq-first/', type: 'directory' },
      { name: 'data/opq-first/old', content: 'old' },
      { name: 'data/opq-last/', type: 'directory' },
      { name: 'data/opq-last/old', content: 'old' },
      { name: 'data/opq-last/sub/', type: 'directory' },
      { name: 'data/opq-last/sub/old', content: 'old' },
      { name: 'data/owned', content: 'secret\n', mode: 0o640, uid: 1000, gid: 100 },
      { name: 'data/link', type: 'symlink', linkname: 'keep' },
      { name: 'data/hard', type: 'link', linkname: 'data/keep' },
    ]);
    const upper = await layer([
      { name: 'data/.wh.gone' },
      { name: 'data/replaced', content: 'upper\n' },
      { name: 'data/opq-first/.wh..wh..opq' },
      { name: 'data/opq-first/new', content: 'new' },
      { name: 'data/opq-last/new', content: 'new' },
      { name: 'data/opq-last/sub/', type: 'directory' },
      { name: 'data/opq-last/sub/new', content: 'new' },
      { name: 'data/opq-last/.wh..wh..opq' },
    ]);
    const pushed = await pushImage(registry.host, 'banger/layers', 'v1', [lower, upper]);

    const result = await pullOciImage(opts(`${registry.host}/banger/layers:v1`));

    expect(result.reference).toBe(`${registry.host}/banger/layers:v1`);
    expect(result.manifestDigest).toBe(pushed.digest);
    expect(result.configDigest).toBe(pushed.configDigest);
    expect(result.platform).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(result.layers.map((l) => l.digest)).toEqual([lower.digest, upper.digest]);
    expect(result.provisioned).toBe(false);

    const dump = await dumpExt4(result.rootfsPath);
    expect((await tree(dump)).filter((p) => p.startsWith('data'))).toEqual([
      'data/',
      'data/hard',
      'data/keep',
      'data/link -> keep',
      'data/opq-first/',
      'data/opq-first/new',
      'data/opq-last/',
      'data/opq-last/new',
      'data/opq-last/sub/',
      'data/opq-last/sub/new',
      'data/owned',
      'data/replaced',
    ]);
    expect(await readFile(join(dump, 'data/replaced'), 'utf8')).toBe('upper\n');
    expect(await ext4Stat(result.rootfsPath, '/data/owned')).toEqual(asRoot ? { mode: '0640', uid: 1000, gid: 100 } : expect.objectContaining({ mode: '0640' }));
    expect((await ext4Stat(result.rootfsPath, '/sbin/init')).mode).toBe('0755');
    if (findExecutable('setfattr')) {
      const { stdout: xattr } = await run('debugfs', ['-R', 'ea_get /data/keep user.banger', result.rootfsPath]);
      expect(xattr.trim()).toBe('user.banger (4) = "kept"');
    }
    // the guest contract is written into every pulled image
    expect(await readFile(join(dump, 'etc/fstab'), 'utf8')).toContain('LABEL=banger-work /root ext4 defaults,nofail 0 2'); // a stand-in init, not systemd
    expect(await readFile(join(dump, 'etc/ssh/sshd_config'), 'utf8')).toContain('PermitRootLogin prohibit-password');
    const { stdout: label } = await run('e2label', [result.rootfsPath]).catch(() => ({ stdout: 'banger-root\n' }));
    expect(label.trim()).toBe('banger-root');
    // nothing is left in the scratch space
    expect(await readdir(workDir)).toEqual([]);
  });

  it('resolves an index with several platforms to the linux/amd64 manifest', async () => {
    const arm = await pushImage(registry.host, 'banger/multi', 'arm64-only', [await layer([...bootable, { name: 'arch', content: 'arm64\n' }])], {
      os: 'linux',
      architecture: 'arm64',
    });
    const amd = await pushImage(registry.host, 'banger/multi', 'amd64-only', [await layer([...bootable, { name: 'arch', content: 'amd64\n' }])]);
    const index = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: arm.digest, size: arm.size, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amd.digest, size: amd.size, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    };
    const indexDigest = await pushManifest(registry.host, 'banger/multi', 'latest', index, index.mediaType);

    const result = await pullOciImage(opts(`${registry.host}/banger/multi`));
    expect(result.indexDigest).toBe(indexDigest);
    expect(result.manifestDigest).toBe(amd.digest);
    expect(result.platform.architecture).toBe('amd64');
    const dump = await dumpExt4(result.rootfsPath);
    expect(await readFile(join(dump, 'arch'), 'utf8')).toBe('amd64\n');

    const armOnly = { ...index, manifests: [index.manifests[0]!] };
    await pushManifest(registry.host, 'banger/multi', 'armonly', armOnly, index.mediaType);
    await expect(pullOciImage(opts(`${registry.host}/banger/multi:armonly`, { outRootfs: join(outDir, 'arm.ext4') }))).rejects.toThrow(
      `image ${registry.host}/banger/multi:armonly has no linux/amd64 manifest (available: linux/arm64/v8)`,
    );
    await expect(pullOciImage(opts(`${registry.host}/banger/multi:arm64-only`, { outRootfs: join(outDir, 'arm.ext4') }))).rejects.toThrow(
      `image ${registry.host}/banger/multi:arm64-only is linux/arm64, not linux/amd64`,
    );
  });

  it('rejects a corrupted blob, keeps nothing of it and registers nothing', async () => {
    const good = await layer([...bootable, { name: 'payload', content: Buffer.alloc(200_000, 1) }]);
    await pushImage(registry.host, 'banger/corrupt', 'v1', [good]);
    const proxy = await startProxy(registry.host, { corruptDigest: good.digest });
    try {
      const pull = pullOciImage(opts(`${proxy.host}/banger/corrupt:v1`));
      await expect(pull).rejects.toThrow(BlobDigestMismatchError);
      await expect(pullOciImage(opts(`${proxy.host}/banger/corrupt:v1`))).rejects.toThrow(new RegExp(`blob ${good.digest} from .* failed verification: content hashes to sha256:`));
      expect(await hasBlob(cacheDir, good.digest)).toBe(false);
      expect((await readdir(join(cacheDir, 'oci/blobs/sha256'))).filter((n) => n.includes('.tmp-'))).toEqual([]);
      await expect(stat(join(outDir, 'rootfs.ext4'))).rejects.toThrow(/ENOENT/);
      await expect(readdir(join(cacheDir, 'oci/images'))).rejects.toThrow(/ENOENT/);
    } finally {
      await proxy.stop();
    }
  });

  it('re-pulls an unchanged image without downloading a single blob or manifest body', async () => {
    await pushImage(registry.host, 'banger/cached', 'v1', [await layer(bootable), await layer([{ name: 'hello', content: 'hi\n' }])]);
    const proxy = await startProxy(registry.host);
    try {
      const first = await pullOciImage(opts(`${proxy.host}/banger/cached:v1`));
      expect(first.layers.map((l) => l.cached)).toEqual([false, false]);
      expect(proxy.log.filter((r) => r.method === 'GET' && r.path.includes('/blobs/'))).toHaveLength(3); // config + 2 layers
      proxy.log.length = 0;

      const second = await pullOciImage(opts(`${proxy.host}/banger/cached:v1`, { outRootfs: join(outDir, 'again.ext4') }));
      expect(second.manifestDigest).toBe(first.manifestDigest);
      expect(second.layers.map((l) => l.cached)).toEqual([true, true]);
      expect(proxy.log.map((r) => `${r.method} ${r.path}`)).toEqual([`HEAD /v2/banger/cached/manifests/v1`]);

      // pinned by digest and cached: no request at all
      proxy.log.length = 0;
      await pullOciImage(opts(`${proxy.host}/banger/cached@${first.manifestDigest}`, { outRootfs: join(outDir, 'pinned.ext4') }));
      expect(proxy.log).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('retries a blob whose connection drops mid-transfer and still verifies it', async () => {
    const big = await layer([...bootable, { name: 'noise', content: Buffer.alloc(500_000, 3) }]);
    await pushImage(registry.host, 'banger/flaky', 'v1', [big]);
    const proxy = await startProxy(registry.host, { dropBlob: { digest: big.digest, times: 2 } });
    const lines: string[] = [];
    try {
      const result = await pullOciImage(opts(`${proxy.host}/banger/flaky:v1`, { progress: { line: (l) => lines.push(l) } }));
      expect(result.layers[0]!.digest).toBe(big.digest);
      expect(lines.filter((l) => l.startsWith(`retrying ${big.digest.slice(0, 19)}`))).toHaveLength(2);
      expect(proxy.log.filter((r) => r.method === 'GET' && r.path.endsWith(big.digest))).toHaveLength(3);
      expect(await hasBlob(cacheDir, big.digest)).toBe(true);
    } finally {
      await proxy.stop();
    }
  });

  it('authenticates with the Bearer token flow using credentials from the Docker config, and keeps them away from a redirect host', async () => {
    await pushImage(registry.host, 'banger/private', 'v1', [await layer(bootable)]);
    const cdn = await startProxy(registry.host);
    const proxy = await startProxy(registry.host, { auth: { username: 'alice', password: 's3cret', tokenField: 'access_token' }, redirectBlobsTo: `http://${cdn.host}` });
    const dockerConfig = join(dir, 'docker-config.json');
    await writeFile(dockerConfig, JSON.stringify({ auths: { [proxy.host]: { auth: Buffer.from('alice:s3cret').toString('base64') } } }));
    try {
      const result = await pullOciImage(opts(`${proxy.host}/banger/private:v1`, { dockerConfigPath: dockerConfig }));
      expect(result.layers).toHaveLength(1);
      expect(proxy.tokensIssued).toEqual([{ scope: 'repository:banger/private:pull', service: 'test-registry', basic: true }]);
      // one unauthenticated request learns the challenge; the token is reused for everything after it
      expect(proxy.log.filter((r) => !r.authorization).map((r) => r.path)).toEqual(['/v2/banger/private/manifests/v1']);
      expect(proxy.log.filter((r) => r.path.startsWith('/v2/') && r.authorization).every((r) => r.authorization?.startsWith('Bearer '))).toBe(true);
      expect(cdn.log.length).toBeGreaterThan(0);
      expect(cdn.log.every((r) => r.authorization === undefined)).toBe(true);

      await writeFile(dockerConfig, JSON.stringify({ auths: { [`http://${proxy.host}`]: { auth: Buffer.from('alice:wrong').toString('base64') } } }));
      await expect(pullOciImage(opts(`${proxy.host}/banger/private:v1`, { dockerConfigPath: dockerConfig, outRootfs: join(outDir, 'x.ext4') }))).rejects.toThrow(
        `token server ${proxy.host} refused the credentials for ${proxy.host} (HTTP 401)`,
      );

      // anonymous tokens (the Docker Hub way), served as "token"
      proxy.behaviour.auth = { tokenField: 'token' };
      proxy.behaviour.redirectBlobsTo = undefined;
      const anon = await pullOciImage(opts(`${proxy.host}/banger/private:v1`, { outRootfs: join(outDir, 'anon.ext4') }));
      expect(anon.manifestDigest).toBe(result.manifestDigest);
      expect(proxy.tokensIssued.at(-1)).toEqual({ scope: 'repository:banger/private:pull', service: 'test-registry', basic: false });
    } finally {
      await proxy.stop();
      await cdn.stop();
    }
  });

  it('answers a Basic challenge with the Docker config credentials and says so when there are none', async () => {
    await pushImage(registry.host, 'banger/basic', 'v1', [await layer(bootable)]);
    const proxy = await startProxy(registry.host, { basicAuth: { username: 'bob', password: 'pw' } });
    const dockerConfig = join(dir, 'docker-config-basic.json');
    await writeFile(dockerConfig, JSON.stringify({ auths: { [proxy.host]: { username: 'bob', password: 'pw' } } }));
    try {
      const result = await pullOciImage(opts(`${proxy.host}/banger/basic:v1`, { dockerConfigPath: dockerConfig }));
      expect(result.layers).toHaveLength(1);
      await expect(pullOciImage(opts(`${proxy.host}/banger/basic:v1`, { outRootfs: join(outDir, 'anon.ext4') }))).rejects.toMatchObject({
        code: 'OCI_AUTH_FAILED',
        message: `registry ${proxy.host} denied access to banger/basic (HTTP 401)`,
        hint: `the repository is private or does not exist; log in with docker login ${proxy.host}`,
      });
    } finally {
      await proxy.stop();
    }
  });

  it('refuses a hostile layer end to end and leaves neither a rootfs nor scratch files', async () => {
    await pushImage(registry.host, 'banger/hostile', 'v1', [await layer([...bootable, { name: '../../escape', content: 'pwned' }])]);
    await expect(pullOciImage(opts(`${registry.host}/banger/hostile:v1`))).rejects.toThrow(/entry "\.\.\/\.\.\/escape": a '\.\.' component would escape the root/);
    await expect(stat(join(outDir, 'rootfs.ext4'))).rejects.toThrow(/ENOENT/);
    expect(await readdir(workDir)).toEqual([]);
  });

  it('refuses an image without an init or sshd when it cannot or may not be provisioned, saying what is missing', async () => {
    await pushImage(registry.host, 'banger/bare', 'v1', [await layer([{ name: 'bin/', type: 'directory' }, { name: 'bin/sh', content: '' }])]);
    await expect(pullOciImage(opts(`${registry.host}/banger/bare:v1`))).rejects.toThrow(
      `image ${registry.host}/banger/bare:v1 cannot boot as a VM: it has no /sbin/init and no sshd (/usr/sbin/sshd)`,
    );
    await pushImage(registry.host, 'banger/debianish', 'v1', [
      await layer([
        { name: 'etc/', type: 'directory' },
        { name: 'etc/os-release', content: 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n' },
        ...bootable.slice(0, 2),
      ]),
    ]);
    const refused = pullOciImage(opts(`${registry.host}/banger/debianish:v1`, { provision: false }));
    await expect(refused).rejects.toMatchObject({ code: 'OCI_IMAGE_NOT_BOOTABLE', hint: expect.stringContaining('--provision') });
    await expect(refused).rejects.toThrow('it has no sshd (/usr/sbin/sshd)');
  });

  it('prunes the blobs of images no longer kept and keeps the shared ones', async () => {
    const shared = await layer(bootable);
    const a = await pushImage(registry.host, 'banger/prune', 'a', [shared, await layer([{ name: 'a', content: 'a' }])]);
    const onlyB = await layer([{ name: 'b', content: 'b' }]);
    await pushImage(registry.host, 'banger/prune', 'b', [shared, onlyB]);
    await pullOciImage(opts(`${registry.host}/banger/prune:a`, { outRootfs: join(outDir, 'a.ext4') }));
    const b = await pullOciImage(opts(`${registry.host}/banger/prune:b`, { outRootfs: join(outDir, 'b.ext4') }));

    const pruned = await pruneBlobs(cacheDir, [a.digest]);
    expect(pruned.removedBlobs.sort()).toEqual([b.manifestDigest, b.configDigest, onlyB.digest].sort());
    expect(await hasBlob(cacheDir, shared.digest)).toBe(true);
    expect(await hasBlob(cacheDir, onlyB.digest)).toBe(false);
    expect(pruned.freedBytes).toBeGreaterThan(0);
    expect(await readdir(join(cacheDir, 'oci/images'))).toEqual([`${a.digest.slice(7)}.json`]);
    expect((await stat(blobPath(cacheDir, a.configDigest))).isFile()).toBe(true);
  });

  it.skipIf(!findExecutable('umoci') || !findExecutable('skopeo'))('pulls an image built by umoci and pushed by skopeo, whiteouts included', async () => {
    const work = await mkdtemp(join(dir, 'umoci-'));
    const tree = join(work, 'tree');
    await mkdir(join(tree, 'sbin'), { recursive: true });
    await mkdir(join(tree, 'usr/sbin'), { recursive: true });
    await mkdir(join(tree, 'etc'), { recursive: true });
    await writeFile(join(tree, 'sbin/init'), '#!/bin/sh\n', { mode: 0o755 });
    await writeFile(join(tree, 'usr/sbin/sshd'), '#!/bin/sh\n', { mode: 0o755 });
    await writeFile(join(tree, 'etc/motd'), 'from umoci\n');
    await writeFile(join(tree, 'etc/doomed'), 'deleted in layer 2\n');
    const layout = join(work, 'oci');
    await run('umoci', ['init', '--layout', layout]);
    await run('umoci', ['new', '--image', `${layout}:t`]);
    await run('umoci', ['insert', '--image', `${layout}:t`, tree, '/']);
    await run('umoci', ['insert', '--image', `${layout}:t`, '--whiteout', '/etc/doomed']);
    await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:t`, `docker://${registry.host}/banger/umoci:t`]);

    const result = await pullOciImage(opts(`${registry.host}/banger/umoci:t`));
    expect(result.layers).toHaveLength(2);
    const dump = await dumpExt4(result.rootfsPath);
    expect(await readFile(join(dump, 'etc/motd'), 'utf8')).toBe('from umoci\n');
    await expect(stat(join(dump, 'etc/doomed'))).rejects.toThrow(/ENOENT/);
  });

  it('stops a pull when cancelled mid-download and leaves no partial blob, rootfs or scratch tree', async () => {
    const big = await layer([...bootable, { name: 'noise', content: Buffer.from(Array.from({ length: 3_000_000 }, (_, i) => (i * 7919) % 251)) }]);
    await pushImage(registry.host, 'banger/cancel', 'v1', [big]);
    const controller = new AbortController();
    const pull = pullOciImage(
      opts(`${registry.host}/banger/cancel:v1`, {
        signal: controller.signal,
        progress: { bytes: (done) => done > 0 && controller.abort() },
      }),
    );
    await expect(pull).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(await hasBlob(cacheDir, big.digest)).toBe(false);
    expect((await readdir(join(cacheDir, 'oci/blobs/sha256'))).filter((n) => n.includes('.tmp-'))).toEqual([]);
    await expect(stat(join(outDir, 'rootfs.ext4'))).rejects.toThrow(/ENOENT/);
  });

  it('refuses --provision for a distribution it cannot provision', async () => {
    await pushImage(registry.host, 'banger/arch', 'v1', [
      await layer([...bootable, { name: 'etc/', type: 'directory' }, { name: 'etc/os-release', content: 'ID=arch\n' }]),
    ]);
    await expect(pullOciImage(opts(`${registry.host}/banger/arch:v1`, { provision: true }))).rejects.toThrow(
      `cannot provision ${registry.host}/banger/arch:v1: distribution "arch" is not supported`,
    );
    // without the flag the image boots as it is
    expect((await pullOciImage(opts(`${registry.host}/banger/arch:v1`))).provisioned).toBe(false);
  });

  it('names an unknown tag and an unreachable registry in its errors', async () => {
    await expect(pullOciImage(opts(`${registry.host}/banger/nope:v9`))).rejects.toThrow(`image ${registry.host}/banger/nope:v9 not found`);
    const closed = await freePort();
    await expect(pullOciImage(opts(`127.0.0.1:${closed}/banger/x:v1`))).rejects.toThrow(`cannot reach registry 127.0.0.1:${closed}: ECONNREFUSED`);
  });
});

// keep the helper referenced for type-checking of the fixture
void pushBlob;
