import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port.js';
import { sha256, type LayerBlob } from './layers.js';

/** A real Debian `docker-registry` (distribution v2) on 127.0.0.1, storing into `dataDir`. */
export interface TestRegistry {
  /** `127.0.0.1:<port>` */
  host: string;
  dataDir: string;
  /** Stops the registry (idempotent) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts `docker-registry serve` storing into `<dir>/data` and waits until /v2/ answers. */
export async function startRegistry(dir: string): Promise<TestRegistry> {
  const port = await freePort();
  const dataDir = join(dir, 'data');
  await mkdir(dataDir, { recursive: true });
  const config = join(dir, 'config.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log: {level: warn}',
      `storage: {filesystem: {rootdirectory: ${dataDir}}, delete: {enabled: true}, cache: {}}`,
      `http: {addr: 127.0.0.1:${port}}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const host = `127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  for (let i = 0; ; i++) {
    if (await fetch(`http://${host}/v2/`).then((r) => r.ok, () => false)) break;
    if (i > 100 || child.exitCode !== null) {
      await stop();
      throw new Error(`docker-registry did not start on ${host}: ${stderr.trim().split('\n').at(-1) ?? 'no output'}`);
    }
    await sleep(100);
  }
  return { host, dataDir, stop };
}

/** Pushes a blob with the distribution API's monolithic upload (POST, then PUT ?digest=); returns its digest. */
export async function pushBlob(host: string, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) throw new Error(`registry ${host}: starting a blob upload to ${repo} answered ${start.status}`);
  const location = new URL(start.headers.get('location')!, `http://${host}`);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
  if (put.status !== 201) throw new Error(`registry ${host}: uploading ${digest} to ${repo} answered ${put.status}: ${await put.text()}`);
  return digest;
}

/** Pushes a manifest or index under a tag (or digest); returns its digest. */
export async function pushManifest(host: string, repo: string, tag: string, manifest: object, mediaType: string): Promise<string> {
  const body = Buffer.from(JSON.stringify(manifest));
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body, headers: { 'content-type': mediaType } });
  if (res.status !== 201) throw new Error(`registry ${host}: pushing ${repo}:${tag} answered ${res.status}: ${await res.text()}`);
  return sha256(body);
}

/** Pushes gzip layers, a config and an OCI manifest tagged `tag`; returns the manifest's digest and size and the config digest. */
export async function pushImage(
  host: string,
  repo: string,
  tag: string,
  layers: readonly LayerBlob[],
  platform = { os: 'linux', architecture: 'amd64' },
): Promise<{ digest: string; size: number; configDigest: string }> {
  const layerDigests: string[] = [];
  for (const layer of layers) layerDigests.push(await pushBlob(host, repo, layer.bytes));
  const config = Buffer.from(
    JSON.stringify({ ...platform, config: { Cmd: ['/bin/sh'], Env: ['PATH=/usr/bin:/bin'] }, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } }),
  );
  const configDigest = await pushBlob(host, repo, config);
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: layers.map((l, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigests[i], size: l.bytes.length })),
  };
  const digest = await pushManifest(host, repo, tag, manifest, manifest.mediaType);
  return { digest, size: Buffer.byteLength(JSON.stringify(manifest)), configDigest };
}
