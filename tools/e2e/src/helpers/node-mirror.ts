import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { findExecutable, run } from '@banger/host';

/**
 * A Node.js download mirror in the layout of nodejs.org/dist — `index.json`,
 * `v<version>/node-v<version>-linux-x64.tar.gz` and its `SHASUMS256.txt` — made
 * from the host's own `node` binary and npm, under `<dir>/node/`. What mise's
 * `node.mirror_url` points at. Returns the version (`20.20.2`).
 */
export async function makeNodeMirror(dir: string): Promise<string> {
  const version = process.version; // v20.20.2
  const npmCli = findExecutable('npm');
  if (!npmCli) throw new Error('makeNodeMirror: npm is not on PATH (the node mirror ships the host npm, which mise runs after installing node)');
  const npmDir = dirname(dirname(realpathSync(npmCli))); // …/node_modules/npm
  const name = `node-${version}-linux-x64`;
  const stage = join(dir, 'stage');
  const root = join(stage, name);
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'lib', 'node_modules'), { recursive: true });
  await run('cp', [process.execPath, join(root, 'bin', 'node')]);
  await run('cp', ['-a', npmDir, join(root, 'lib', 'node_modules', 'npm')]);
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'bin', 'npm'));
  const release = join(dir, 'node', version);
  mkdirSync(release, { recursive: true });
  const tarball = join(release, `${name}.tar.gz`);
  await run('tar', ['-C', stage, '-czf', tarball, name]);
  rmSync(stage, { recursive: true, force: true });
  const sha = createHash('sha256').update(readFileSync(tarball)).digest('hex');
  writeFileSync(join(release, 'SHASUMS256.txt'), `${sha}  ${name}.tar.gz\n`);
  writeFileSync(join(dir, 'node', 'index.json'), JSON.stringify([{ version, date: '2026-01-01', files: ['linux-x64'], lts: false }]));
  return version.slice(1);
}
