import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecutable, run } from '@banger/host';
import { pushBlob, pushManifest, startRegistry, type TestRegistry } from '@banger/oci/testing';
import { loadArtifacts } from './artifacts.js';
import { BangerHome, buildBangerBundles, type CliResult } from './helpers/banger-cli.js';

const BOOT_MS = 8 * 60_000;
const missing = ['docker-registry', 'debugfs', 'tar', 'zstd', 'qemu-system-x86_64'].filter((tool) => !findExecutable(tool));

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Turns the debian-minimal test image into a one-layer OCI image (tar+zstd,
 * the way a registry would serve a real distribution image) and pushes it:
 * the ext4 is unpacked with `debugfs rdump` (as root, owners and modes
 * kept), a marker file is added so the test can tell the VM really booted
 * this image, and the tree is tarred with numeric owners.
 */
async function pushTestImage(rootfs: string, registry: TestRegistry, repo: string, tag: string, marker: string, scratch: string): Promise<string> {
  const tree = join(scratch, 'tree');
  await run('mkdir', ['-p', tree]);
  await run('debugfs', ['-R', `rdump / ${tree}`, rootfs]);
  rmSync(join(tree, 'lost+found'), { recursive: true, force: true });
  writeFileSync(join(tree, 'etc', 'banger-oci-e2e'), `${marker}\n`);
  const tar = join(scratch, 'layer.tar');
  await run('tar', ['--numeric-owner', '--xattrs', '-C', tree, '-cf', tar, '.']);
  await run('zstd', ['-q', '-3', '-T0', '--rm', tar, '-o', `${tar}.zst`]);
  // diff_id is the uncompressed tar's digest: decompress once more to hash it rather than keep both files.
  await run('zstd', ['-q', '-d', '-k', `${tar}.zst`, '-o', tar]);
  const diffId = await sha256File(tar);
  rmSync(tar);
  rmSync(tree, { recursive: true, force: true });
  const layer = await readFile(`${tar}.zst`);
  const layerDigest = await pushBlob(registry.host, repo, layer);
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/sbin/init'] }, rootfs: { type: 'layers', diff_ids: [diffId] } }),
  );
  const configDigest = await pushBlob(registry.host, repo, config);
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', digest: layerDigest, size: (await stat(`${tar}.zst`)).size }],
  };
  return pushManifest(registry.host, repo, tag, manifest, manifest.mediaType);
}

/**
 * Issue 10's end-to-end promise: an image pushed to a registry on 127.0.0.1
 * is pulled with `banger image pull 127.0.0.1:<port>/…` and boots with
 * `vm run --rm --image … -- <cmd>`, through the real CLI and bangerd, under
 * QEMU inside the throwaway netns of netns-run.sh (the registry listens on the
 * namespace's loopback; the guest is never given a route out).
 */
describe.skipIf(!process.env['BANGER_NETNS'] || missing.length > 0)(
  `banger image pull from a registry on 127.0.0.1, then vm run --rm on it (netns)${missing.length ? ` (skipped: missing ${missing.join(', ')})` : ''}`,
  () => {
    let home: BangerHome;
    let binDir: string;
    let scratch: string;
    let registry: TestRegistry;
    let manifestDigest: string;
    const marker = randomBytes(8).toString('hex');
    const cli = (args: string[], timeoutMs = BOOT_MS): Promise<CliResult> => home.cli(args, { timeoutMs });
    const reference = () => `${registry.host}/banger/debian-minimal:e2e`;

    beforeAll(async () => {
      const artifacts = await loadArtifacts();
      binDir = await buildBangerBundles();
      home = new BangerHome(binDir, 'boci-');
      await home.seed({ name: 'debian-cloud', dir: artifacts.kernelDir }, { name: 'debian-minimal', dir: artifacts.imageDir });
      await home.writeConfig(['hypervisor = "qemu"', '[vm_defaults]', 'vcpu = 1', 'memory_mib = 512', 'disk_size = "2G"', ''].join('\n'));
      scratch = mkdtempSync(join(tmpdir(), 'boci-scratch-'));
      registry = await startRegistry(join(scratch, 'registry'));
      manifestDigest = await pushTestImage(artifacts.rootfs, registry, 'banger/debian-minimal', 'e2e', marker, scratch);
    }, 10 * 60_000);

    afterAll(async () => {
      if (home) {
        const vms = await cli(['vm', 'list', '--json'], 60_000).catch(() => undefined);
        for (const vm of vms?.exitCode === 0 ? (JSON.parse(vms.stdout) as Array<{ name: string }>) : []) await cli(['vm', 'delete', vm.name, '--force'], 120_000);
        await cli(['daemon', 'stop'], 60_000);
        home.remove();
      }
      await registry?.stop();
      if (scratch) rmSync(scratch, { recursive: true, force: true });
      if (binDir) rmSync(binDir, { recursive: true, force: true });
    });

    it('pulls the image from the local registry and registers it with the pushed manifest digest', async () => {
      const r = await cli(['image', 'pull', reference(), '--name', 'oci-minimal'], 10 * 60_000);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^image oci-minimal is ready: ${reference().replace(/\./g, '\\.')} ${manifestDigest} \\(\\S+/rootfs\\.ext4\\)$`, 'm'));
      const shown = JSON.parse((await cli(['image', 'show', 'oci-minimal', '--json'], 60_000)).stdout) as { kernel: string; oci: { manifestDigest: string; provisioned: boolean } };
      expect(shown).toMatchObject({ kernel: 'debian-cloud', oci: { manifestDigest, provisioned: false } });
    });

    it('boots the pulled image with vm run --rm and runs a command in it through the guest agent, then deletes the VM', async () => {
      const r = await cli(['vm', 'run', '--rm', '--image', 'oci-minimal', '--', 'sh', '-c', 'cat /etc/banger-oci-e2e && findmnt -n -o SOURCE /root && { state=$(systemctl is-system-running --wait); echo "$state"; } && echo "ssh=${SSH_CONNECTION:-none}"']);
      expect(r.exitCode, `exit ${r.exitCode}\n--- stderr ---\n${r.stderr}`).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toBe(marker);
      expect(lines[1]).toBe('/dev/vdb');
      expect(lines[2]).toMatch(/^(running|degraded)$/);
      // The agent of the runtime disk runs in the imported image too: the command came through it, not over ssh.
      expect(lines[3]).toBe('ssh=none');
      expect(r.stderr).not.toMatch(/over ssh/);
      const vms = JSON.parse((await cli(['vm', 'list', '--json'], 60_000)).stdout) as unknown[];
      expect(vms).toEqual([]);
    });

    it('frees the pulled layers with image prune once the image is removed', async () => {
      expect((await cli(['image', 'rm', 'oci-minimal'], 60_000)).exitCode).toBe(0);
      const r = await cli(['image', 'prune', '--json'], 60_000);
      expect(r.exitCode, r.stderr).toBe(0);
      const pruned = JSON.parse(r.stdout) as { removedBlobs: string[]; freedBytes: number };
      expect(pruned.removedBlobs).toContain(manifestDigest);
      expect(pruned.freedBytes).toBeGreaterThan(10 * 1024 * 1024);
    });
  },
);
