import { build } from 'esbuild';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);

/**
 * Bundles a TypeScript entry into one ESM file runnable by plain `node` (for
 * child-process tests). Native addons stay external, imported by absolute
 * path so the bundle works from any directory.
 */
export async function bundleForNode(entry: string, outDir: string, name: string): Promise<string> {
  const outfile = join(outDir, `${name}.mjs`);
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['@banger/source'],
    logLevel: 'error',
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
  return outfile;
}
