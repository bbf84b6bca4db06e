#!/usr/bin/env node
// Keeps each project's package.json in step with the @banger/* packages its
// code imports: `dependencies` for sources, `devDependencies` for tests.
// `npx nx sync` then derives the tsconfig project references from them.
// Run after adding an import across projects: node tools/scripts/sync-workspace-deps.mjs
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const projects = ['apps', 'libs', 'tools']
  .flatMap((group) => readdirSync(join(root, group)).map((name) => join(root, group, name)))
  .filter((dir) => { try { return statSync(join(dir, 'package.json')).isFile(); } catch { return false; } });

const walk = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
  if (['node_modules', 'dist', 'out-tsc'].includes(entry.name)) return [];
  const path = join(dir, entry.name);
  return entry.isDirectory() ? walk(path) : /\.(ts|mts|mjs)$/.test(entry.name) ? [path] : [];
});
const isTest = (path) => /\.(test|spec)\.ts$|__fixtures__|\/test\/|vitest\./.test(path);

let changed = 0;
for (const dir of projects) {
  const pkgPath = join(dir, 'package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
  const prod = new Set();
  const dev = new Set();
  for (const file of [...walk(join(dir, 'src')), ...safeWalk(join(dir, 'test'))]) {
    for (const match of readFileSync(file, 'utf8').matchAll(/from '(@banger\/[a-z0-9-]+)(?:\/[a-z0-9/-]+)?'|import\('(@banger\/[a-z0-9-]+)(?:\/[a-z0-9/-]+)?'\)/g)) {
      const name = match[1] ?? match[2];
      if (name === pkg.name) continue;
      (isTest(relative(dir, file)) ? dev : prod).add(name);
    }
  }
  for (const name of prod) dev.delete(name);
  const before = JSON.stringify(pkg);
  const keepExternal = (deps) => Object.fromEntries(Object.entries(deps ?? {}).filter(([n]) => !n.startsWith('@banger/')));
  const withLocal = (deps, set) => ({ ...keepExternal(deps), ...Object.fromEntries([...set].sort().map((n) => [n, '*'])) });
  pkg.dependencies = withLocal(pkg.dependencies, prod);
  const devDeps = withLocal(pkg.devDependencies, dev);
  if (Object.keys(devDeps).length) pkg.devDependencies = devDeps; else delete pkg.devDependencies;
  if (JSON.stringify(pkg) !== before) {
    writeFileSync(pkgPath, `${JSON.stringify(pkg, null, 2)}\n`);
    changed++;
    console.log(`updated ${relative(root, pkgPath)}`);
  }
}
console.log(changed ? `${changed} package.json file(s) updated; now run: npx nx sync` : 'workspace deps already in step');

function safeWalk(dir) { try { return walk(dir); } catch { return []; } }
