import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '@banger/host';
import { loadArtifacts } from './artifacts.js';
import { BangerHome, buildBangerBundles, type CliResult } from './helpers/banger-cli.js';

const BOOT_MS = 10 * 60_000;
const IMAGE = 'wimg';

/**
 * Warm templates follow their image (issue #20) on real debian-minimal guests
 * under QEMU/TCG, inside the throwaway netns of tools/e2e/netns-run.sh. An
 * image `wimg` is registered from a copy of the test rootfs carrying a
 * version file; `vm run --rm` builds its template and the next plan restores
 * it; another VM size is planned as a rebuild naming the changed input; the
 * image replaced by a second version (rm, register) gets a new template and
 * new VMs see its content; `image rm` removes the templates.
 * Four boots in all: two template builds, two restores.
 */
describe.skipIf(!process.env['BANGER_NETNS'])('warm templates follow their image (inside a throwaway netns)', () => {
  let home: BangerHome;
  let binDir: string;
  let scratch: string;
  let firstTemplate = '';
  const cli = (args: string[], timeoutMs = 180_000): Promise<CliResult> => home.cli(args, { timeoutMs });
  const warmDir = (): string => join(home.stateDir, 'warm');
  const templates = (): string[] => (existsSync(warmDir()) ? readdirSync(warmDir()).filter((n) => !n.startsWith('.')) : []);
  /** The plan line of the warm-template step, as `vm run --explain` prints it. */
  const templatePlan = async (extra: string[] = []): Promise<string> => {
    const r = await cli(['vm', 'run', '--explain', '--name', 'planned', '--image', IMAGE, ...extra]);
    expect(r.exitCode, r.stderr).toBe(0);
    const line = `${r.stdout}\n${r.stderr}`.split('\n').find((l) => l.includes('vm.warm-template'));
    expect(line, `${r.stdout}\n${r.stderr}`).toBeDefined();
    return line!;
  };
  /** Registers `wimg` from a copy of the test rootfs whose /etc/wimg-version holds `version`. */
  const registerVersion = async (version: string): Promise<void> => {
    const rootfs = join(scratch, `${version}.ext4`);
    const content = join(scratch, `${version}.txt`);
    await run('sh', ['-c', `printf '%s\\n' "$1" > "$2"`, 'sh', version, content]);
    await run('cp', ['--sparse=always', '--reflink=auto', join(home.stateDir, 'images', 'debian-minimal', 'rootfs.ext4'), rootfs]);
    await run('debugfs', ['-w', '-R', `write ${content} /etc/wimg-version`, rootfs]);
    const r = await cli(['image', 'register', '--name', IMAGE, '--rootfs', rootfs, '--kernel', 'debian-cloud'], 300_000);
    expect(r.exitCode, r.stderr).toBe(0);
  };
  const runVersion = async (name: string): Promise<CliResult> => {
    const r = await cli(['vm', 'run', '--rm', '--name', name, '--image', IMAGE, '--', 'cat', '/etc/wimg-version'], BOOT_MS);
    expect(r.exitCode, `${r.stderr}\n--- console ---\n${home.consoleTail(name)}`).toBe(0);
    return r;
  };

  beforeAll(async () => {
    const artifacts = await loadArtifacts();
    binDir = await buildBangerBundles();
    home = new BangerHome(binDir, 'bwimg-');
    scratch = mkdtempSync(join(tmpdir(), 'bwimg-scratch-'));
    await home.seed({ name: 'debian-cloud', dir: artifacts.kernelDir }, { name: 'debian-minimal', dir: artifacts.imageDir });
    await home.writeConfig([
      'warm_start = true',
      'hypervisor = "qemu"',
      '[vm_defaults]', 'vcpu = 1', 'memory_mib = 512', 'disk_size = "1G"', '',
    ].join('\n'));
    await registerVersion('v1');
  }, BOOT_MS);

  afterAll(async () => {
    if (!home) return;
    await cli(['vm', 'delete', 'wimg-1', 'wimg-2', '--force']);
    await cli(['daemon', 'stop'], 60_000);
    home.remove();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    if (binDir) rmSync(binDir, { recursive: true, force: true });
  }, 180_000);

  it('the first warm run builds the template; the next plan restores a copy of it', async () => {
    // (No plan first: on a fresh home the kernel is adopted by the first run, the plan can only say so.)
    const r = await runVersion('wimg-1');
    expect(r.stdout.trim()).toBe('v1');
    expect(r.stderr).toMatch(new RegExp(`no template of ${IMAGE} for these inputs yet: builds [0-9a-f]{16}, a boot and a save`));
    expect(templates()).toHaveLength(1);
    firstTemplate = templates()[0]!;
    expect(r.stderr).toMatch(new RegExp(`restored from warm template ${firstTemplate} in [\\d.]+ s`));
    expect(await templatePlan()).toContain(`never ran — new VM: restores a copy of template ${firstTemplate}`);
  }, BOOT_MS);

  it('another VM size is planned as a new template, naming the changed input', async () => {
    const line = await templatePlan(['--memory', '768']);
    expect(line).toMatch(new RegExp(`no template [0-9a-f]{16} yet \\(template ${firstTemplate} of ${IMAGE} has another memoryMib\\): builds one`));
  });

  it('a second version of the image: its own template, and new VMs see its content', async () => {
    expect((await cli(['image', 'rm', IMAGE])).exitCode).toBe(0);
    await registerVersion('v2');
    expect(await templatePlan()).toMatch(new RegExp(`never ran — no template of ${IMAGE} for these inputs yet: builds [0-9a-f]{16}, a boot and a save`));
    const r = await runVersion('wimg-2');
    expect(r.stdout.trim()).toBe('v2');
    expect(r.stderr).toMatch(new RegExp(`no template of ${IMAGE} for these inputs yet: builds [0-9a-f]{16}, a boot and a save`));
    expect(templates()).toHaveLength(1);
    expect(templates()[0]).not.toBe(firstTemplate);
    expect(r.stderr).toMatch(new RegExp(`restored from warm template ${templates()[0]} in [\\d.]+ s`));
  }, BOOT_MS);

  it('image rm removes its templates: the directory and the listing', async () => {
    const [template] = templates();
    const shown = JSON.parse((await cli(['image', 'show', IMAGE, '--json'])).stdout) as { warmTemplates?: Array<{ fingerprint: string }> };
    expect(shown.warmTemplates?.map((t) => t.fingerprint)).toEqual([template]);
    const r = await cli(['image', 'rm', IMAGE]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(existsSync(join(warmDir(), template!))).toBe(false);
    expect(templates()).toEqual([]);
    const show = await cli(['image', 'show', IMAGE]);
    expect(show.exitCode).not.toBe(0);
    expect(show.stderr).toContain(IMAGE);
    // Nothing of it is left for prune to find.
    const prune = await cli(['image', 'prune']);
    expect(prune.exitCode, prune.stderr).toBe(0);
    expect(prune.stdout).toMatch(/^nothing to prune/);
  });
});
