// Bundles the harness and every file in src/benchmarks/ into dist/ with
// esbuild (installed, works offline): one ESM entry per benchmark plus shared
// chunks, workspace libs taken from their TypeScript sources (@banger/source).
// Native addons stay external and are imported by absolute path, so the
// bundles run from dist/ without their own node_modules.
import { build } from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const benchmarks = readdirSync(join(here, 'src/benchmarks'))
  .filter((name) => name.endsWith('.ts') && !name.endsWith('.test.ts'))
  .map((name) => ({ in: join(here, 'src/benchmarks', name), out: `benchmarks/${name.slice(0, -3)}` }));

rmSync(join(here, 'dist'), { recursive: true, force: true });
await build({
  entryPoints: [{ in: join(here, 'src/main.ts'), out: 'main' }, ...benchmarks],
  outdir: join(here, 'dist'),
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  conditions: ['@banger/source'],
  logLevel: 'warning',
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  plugins: [
    {
      name: 'native-external',
      setup(b) {
        b.onResolve({ filter: /^(better-sqlite3|ssh2|cpu-features)$/ }, (args) => ({ path: require.resolve(args.path), external: true }));
      },
    },
  ],
});
