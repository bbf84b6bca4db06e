#!/usr/bin/env node
// Builds the CLI as installed: banger.cjs, a small CommonJS launcher, and
// banger-cli.cjs, the whole CLI bundled as CommonJS and wrapped in a function
// the launcher compiles with V8's code cache (src/launcher/run-body.ts). Used
// by `nx build @banger/cli` (→ apps/cli/dist), the CLI tests and the
// benchmarks, so all of them run the layout `make install` copies.
// Usage: build.mjs <outDir> [--clean]
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const app = resolve(import.meta.dirname, '..');

/** Packages the bundles keep external (native addons); `make install` stages them into node_modules beside the bundles. */
export const CLI_EXTERNALS = ['better-sqlite3', 'ssh2', 'cpu-features'];

/** Options shared by both outputs, and by anyone bundling src/main.ts as one ESM file. */
export const CLI_ESBUILD_COMMON = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  external: CLI_EXTERNALS,
  conditions: ['@banger/source'],
  logLevel: 'error',
};

/** The body's wrapper parameters, as run-body.ts passes them. */
const WRAPPER_OPEN = '(function (exports, require, module, __filename, __dirname, __bangerImportMetaUrl) {';

/** Builds `<outDir>/banger.cjs` and `<outDir>/banger-cli.cjs` (with source maps). Returns their paths and the body's hash. */
export async function buildCli(outDir) {
  mkdirSync(outDir, { recursive: true });
  const bodyFile = join(outDir, 'banger-cli.cjs');
  const body = await build({
    ...CLI_ESBUILD_COMMON,
    entryPoints: [join(app, 'src/cli-body.ts')],
    outfile: bodyFile,
    format: 'cjs',
    // The ESM sources' import.meta.url (locating bangerd beside the CLI, createRequire) is the body's own URL.
    define: { 'import.meta.url': '__bangerImportMetaUrl' },
    banner: { js: WRAPPER_OPEN },
    footer: { js: '})' },
    charset: 'ascii',
    // Drops comments too: a smaller file to read and scan on every start (the source map keeps the lines).
    minifyWhitespace: true,
    sourcemap: true,
    write: false,
  });
  let code;
  for (const file of body.outputFiles) {
    if (file.path === bodyFile) code = file.text;
    writeFileSync(file.path, file.contents);
  }
  // run-body.ts reads an ASCII body as latin1 (a one-byte string, no UTF-8 decoding); a licence comment may not be.
  const encoding = /[^\x00-\x7f]/.test(code) ? 'utf8' : 'latin1';
  const bodyHash = createHash('sha256').update(code).digest('hex').slice(0, 16);

  const launcherFile = join(outDir, 'banger.cjs');
  await build({
    ...CLI_ESBUILD_COMMON,
    entryPoints: [join(app, 'src/launcher/launch.ts')],
    outfile: launcherFile,
    format: 'cjs',
    define: { __BANGER_BODY_HASH__: JSON.stringify(bodyHash), __BANGER_BODY_ENCODING__: JSON.stringify(encoding) },
    banner: { js: '#!/usr/bin/env node' },
    sourcemap: true,
  });
  return { banger: launcherFile, body: bodyFile, bodyHash, encoding };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [outDir, flag] = process.argv.slice(2);
  if (!outDir) {
    console.error(`usage: ${basename(process.argv[1])} <outDir> [--clean]`);
    process.exit(1);
  }
  if (flag === '--clean') rmSync(outDir, { recursive: true, force: true });
  const { bodyHash, encoding } = await buildCli(resolve(outDir));
  console.log(`built ${outDir}/banger.cjs and banger-cli.cjs (body ${bodyHash}, ${encoding})`);
}
