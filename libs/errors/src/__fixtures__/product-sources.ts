import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The workspace root: the nearest directory above this file with an nx.json. */
export function workspaceRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  while (!existsSync(join(dir, 'nx.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no nx.json above ${from}`);
    dir = up;
  }
  return dir;
}

export interface SourceFile {
  /** Relative to the workspace root, e.g. `libs/host/src/exec.ts`. */
  path: string;
  text: string;
}

/**
 * Product code: the .ts files under apps/<name>/src and libs/<name>/src,
 * less tests, test fixtures and the `testing/` helpers that only tests import.
 */
export function productSources(root = workspaceRoot()): SourceFile[] {
  const files: SourceFile[] = [];
  for (const group of ['apps', 'libs']) {
    for (const project of readdirSync(join(root, group))) {
      const src = join(root, group, project, 'src');
      if (!existsSync(src)) continue;
      for (const entry of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
        if (!entry.endsWith('.ts') || entry.endsWith('.d.ts') || isTestOnly(entry)) continue;
        const full = join(src, entry);
        files.push({ path: relative(root, full), text: readFileSync(full, 'utf8') });
      }
    }
  }
  return files;
}

function isTestOnly(path: string): boolean {
  const parts = path.split(/[\\/]/);
  return /\.(test|spec)\.ts$/.test(path) || parts.includes('testing') || parts.includes('__fixtures__') || parts.includes('node_modules');
}

/** 1-based line of `index` in `text`, for messages that point at the source. */
export const lineOf = (text: string, index: number): number => text.slice(0, index).split('\n').length;
