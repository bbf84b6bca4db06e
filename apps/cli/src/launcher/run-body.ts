import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Script } from 'node:vm';
import { codeCacheDir, codeCacheFile, readCodeCache, writeCodeCache } from './code-cache.js';
import type { BodyInfo } from './pick-body.js';

/**
 * Runs the CLI body (banger-cli.cjs: the bundle wrapped by the build in
 * `(function (exports, require, module, __filename, __dirname, __bangerImportMetaUrl) {…})`)
 * with V8's code cache: compiling the 1.2 MB body costs ≈ 60 ms of every
 * start, and its module setup as much again in lazily compiled functions.
 * The cache is written when the process exits, so it holds every function
 * that run compiled, and rewritten whenever it is missing, damaged or
 * rejected by V8 (another V8 version or flags).
 */
export function runBody(bodyFile: string, { name, hash, encoding }: Pick<BodyInfo, 'name' | 'hash' | 'encoding'>, env: NodeJS.ProcessEnv): void {
  // latin1 when the build found the body ASCII-only: a one-byte string, no UTF-8 decoding.
  let source: string;
  try {
    source = readFileSync(bodyFile, encoding);
  } catch (error) {
    // A half-copied install: one line naming the file, banger's internal-failure status (docs/exit-codes.md).
    process.stderr.write(`banger: cannot read ${bodyFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)} (hint: reinstall with make install)\n`);
    process.exit(125);
  }
  const dir = codeCacheDir(env);
  const cacheFile = dir === undefined ? undefined : codeCacheFile(dir, name, hash);
  const cachedData = cacheFile === undefined ? undefined : readCodeCache(cacheFile);
  const script = new Script(source, { filename: bodyFile, cachedData });
  if (cacheFile !== undefined && (cachedData === undefined || script.cachedDataRejected === true)) {
    process.once('exit', () => writeCodeCache(cacheFile, script.createCachedData()));
  }
  const body = script.runInThisContext() as (...args: unknown[]) => void;
  const module = { exports: {} };
  body(module.exports, createRequire(bodyFile), module, bodyFile, dirname(bodyFile), pathToFileURL(bodyFile).href);
}
