import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';
import { run } from '@banger/host';
import { loadArtifacts } from './artifacts.js';
import { BangerHome, buildBangerBundles } from './helpers/banger-cli.js';
import { findVmRunImage } from './vm-run-image.js';

it('shows the ux', async () => {
  const a = await loadArtifacts();
  const bin = await buildBangerBundles();
  const home = new BangerHome(bin, 'bux-');
  await home.seed({ name: 'debian-cloud', dir: a.kernelDir }, { name: 'debian-minimal', dir: a.imageDir });
  await run('cp', ['-r', '--reflink=auto', '--sparse=always', (await findVmRunImage())!, join(home.stateDir, 'images', 'vm-run-git')]);
  await home.writeConfig('default_image_name = "vm-run-git"\nhypervisor = "qemu"\n[vm_defaults]\nvcpu = 1\nmemory_mib = 512\ndisk_size = "2G"\n');
  const repo = join(mkdtempSync(join(tmpdir(), 'bux-r-')), 'demo');
  await run('git', ['init', '-q', repo]);
  writeFileSync(join(repo, 'a.txt'), 'a\n');
  writeFileSync(join(repo, '.tool-versions'), '');
  for (const args of [['vm', 'run', repo, '--name', 'ux', '--', 'ls'], ['vm', 'run', repo, '--name', 'ux', '--rm', '--', 'sh', '-c', 'exit 3']]) {
    const r = await home.cli(args);
    console.log(`\n===== banger ${args.join(' ')} → ${r.exitCode}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`);
  }
  await home.cli(['daemon', 'stop']);
  home.remove();
}, 600_000);
