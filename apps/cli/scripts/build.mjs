#!/usr/bin/env node
// Builds the CLI as installed: banger.cjs, a small CommonJS launcher, and the
// bodies it runs — banger-cli.cjs, the whole CLI bundled as CommonJS and wrapped
// in a function the launcher compiles with V8's code cache
// (src/launcher/run-body.ts), banger-cli-<group>.cjs, the same with one command
// group, and banger-complete.cjs for TAB. Used
// by `nx build @banger/cli` (→ apps/cli/dist), the CLI tests and the
// benchmarks, so all of them run the layout `make install` copies.
// Usage: build.mjs <outDir> [--clean]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
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

/**
 * The completion spec of the CLI as built (src/completion/spec.ts): the whole
 * CLI bundled to a temp file that prints it (src/completion/dump-spec.ts).
 */
async function completionSpecJson() {
  const dir = mkdtempSync(join(tmpdir(), 'banger-spec-'));
  try {
    const file = join(dir, 'dump-spec.cjs');
    await build({
      ...CLI_ESBUILD_COMMON,
      entryPoints: [join(app, 'src/completion/dump-spec.ts')],
      outfile: file,
      format: 'cjs',
      define: { 'import.meta.url': '__bangerImportMetaUrl' },
      banner: { js: "const __bangerImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    });
    const json = execFileSync(process.execPath, [file], { encoding: 'utf8' });
    if (!JSON.parse(json).commands?.length) throw new Error(`${file} printed no completion spec`);
    return json;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** tab's shell-script generator asserts with node:assert (≈ 5 ms to load); completion never generates a script. */
const noNodeAssert = {
  name: 'no-node-assert',
  setup(b) {
    b.onResolve({ filter: /^(node:)?assert$/ }, () => ({ path: 'assert', namespace: 'banger-assert' }));
    b.onLoad({ filter: /.*/, namespace: 'banger-assert' }, () => ({
      contents: 'module.exports = function assert(ok, message) { if (!ok) throw new Error(message); };',
      loader: 'js',
    }));
  },
};

/**
 * The top-level command groups, by the word that selects them and the export
 * of their module, read from src/commands/index.ts (one import per group).
 */
function commandGroups() {
  const index = readFileSync(join(app, 'src/commands/index.ts'), 'utf8');
  const groups = [...index.matchAll(/^import \{ (\w+) \} from '\.\/([\w-]+)\/index\.js';$/gm)].map(([, exported, word]) => ({ word, exported }));
  if (groups.length === 0) throw new Error('found no command group imports in src/commands/index.ts');
  return groups;
}

/** Builds src/commands/index.ts as holding one group only: the body of that group's commands. */
function onlyGroup(group) {
  const indexPath = join(app, 'src/commands/index.ts');
  return {
    name: `only-${group.word}`,
    setup(b) {
      b.onLoad({ filter: /[\\/]commands[\\/]index\.ts$/ }, (args) =>
        args.path === indexPath
          ? {
              contents: `import { ${group.exported} } from './${group.word}/index.js';\nexport const commandGroups = [${group.exported}];\n`,
              loader: 'ts',
              resolveDir: dirname(indexPath),
            }
          : undefined,
      );
    },
  };
}

/** One body: the CLI bundled as CommonJS and wrapped for the launcher. Returns its file name, hash and encoding. */
async function buildBody(outDir, fileName, plugins) {
  const bodyFile = join(outDir, fileName);
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
    plugins,
    write: false,
  });
  let code;
  for (const file of body.outputFiles) {
    if (file.path === bodyFile) code = file.text;
    writeFileSync(file.path, file.contents);
  }
  return {
    file: fileName,
    // run-body.ts reads an ASCII body as latin1 (a one-byte string, no UTF-8 decoding); a licence comment may not be.
    encoding: /[^\x00-\x7f]/.test(code) ? 'utf8' : 'latin1',
    hash: createHash('sha256').update(code).digest('hex').slice(0, 16),
  };
}

/**
 * Builds `<outDir>/banger.cjs` (the launcher), the bodies it runs —
 * `banger-cli.cjs`, every group, and `banger-cli-<group>.cjs`, one group's
 * commands only, for a command line whose first word names that group (a
 * smaller file to read and deserialize on every `banger vm list`: issue #19) —
 * and `banger-complete.cjs`, with source maps. Returns the launcher's path and
 * the bodies.
 */
export async function buildCli(outDir) {
  mkdirSync(outDir, { recursive: true });
  const groups = commandGroups();
  const [full, ...perGroup] = await Promise.all([
    buildBody(outDir, 'banger-cli.cjs', []),
    ...groups.map((group) => buildBody(outDir, `banger-cli-${group.word}.cjs`, [onlyGroup(group)])),
  ]);
  // What the launcher reads: the body for each group word, and '' for everything else.
  const bodies = { '': { name: 'cli', ...full } };
  groups.forEach((group, i) => (bodies[group.word] = { name: `cli-${group.word}`, ...perGroup[i] }));

  // The launcher's fast path for TAB (src/launcher/complete-fast.ts): the spec and the completion code only.
  const completeFile = join(outDir, 'banger-complete.cjs');
  await build({
    ...CLI_ESBUILD_COMMON,
    entryPoints: [join(app, 'src/completion/fast-entry.ts')],
    outfile: completeFile,
    format: 'cjs',
    define: { __BANGER_COMPLETION_SPEC__: await completionSpecJson() },
    plugins: [noNodeAssert],
    minifyWhitespace: true,
    sourcemap: true,
  });

  const launcherFile = join(outDir, 'banger.cjs');
  await build({
    ...CLI_ESBUILD_COMMON,
    entryPoints: [join(app, 'src/launcher/launch.ts')],
    outfile: launcherFile,
    format: 'cjs',
    define: { __BANGER_BODIES__: JSON.stringify(bodies) },
    banner: { js: '#!/usr/bin/env node' },
    sourcemap: true,
  });
  return { banger: launcherFile, complete: completeFile, bodies };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [outDir, flag] = process.argv.slice(2);
  if (!outDir) {
    console.error(`usage: ${basename(process.argv[1])} <outDir> [--clean]`);
    process.exit(1);
  }
  if (flag === '--clean') rmSync(outDir, { recursive: true, force: true });
  const { bodies } = await buildCli(resolve(outDir));
  console.log(`built ${outDir}/banger.cjs, banger-complete.cjs and ${Object.values(bodies).map((b) => `${b.file} (${b.hash}, ${b.encoding})`).join(', ')}`);
}
