#!/usr/bin/env node
// Copies the npm packages the bundles keep external (native addons and what
// they load at run time) from the workspace's node_modules into
// <dest>/node_modules, so the installed tree under $PREFIX/lib/banger runs on
// its own. Used by `make install`. Usage: stage-node-modules.mjs <dest> <pkg>...
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const [dest, ...roots] = process.argv.slice(2);
if (!dest || roots.length === 0) {
  console.error('usage: stage-node-modules.mjs <dest> <package>...');
  process.exit(1);
}
const workspace = resolve(import.meta.dirname, '../../..');
const top = join(workspace, 'node_modules');

/** Top-level packages to copy; nested node_modules travel with their parent. */
const wanted = new Set();
function visit(name, fromDir) {
  const nested = join(fromDir, 'node_modules', name);
  const dir = existsSync(nested) ? nested : join(top, name);
  if (!existsSync(join(dir, 'package.json'))) return; // an optional dependency that is not installed
  if (dir === join(top, name)) {
    if (wanted.has(name)) return;
    wanted.add(name);
  }
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) visit(dep, dir);
}
for (const root of roots) {
  if (!existsSync(join(top, root, 'package.json'))) {
    console.error(`stage-node-modules: ${root} is not installed in ${top} (hint: run npm ci)`);
    process.exit(1);
  }
  visit(root, workspace);
}
mkdirSync(join(dest, 'node_modules'), { recursive: true });
for (const name of [...wanted].sort()) {
  cpSync(join(top, name), join(dest, 'node_modules', name), { recursive: true, dereference: true });
}
console.log(`staged ${wanted.size} packages: ${[...wanted].sort().join(' ')}`);
