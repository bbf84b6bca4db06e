import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const workspace = resolve(import.meta.dirname, '../../..');

interface EsbuildTarget {
  main: string;
  outputFileName: string;
  platform: 'node';
  target: string;
  external: string[];
  esbuildOptions: { conditions: string[]; banner: { js: string } };
}

/** The esbuild options of an app's nx `build` target, so tests bundle exactly like `nx build`. */
function targetOf(app: string): EsbuildTarget {
  const pkg = JSON.parse(readFileSync(join(workspace, 'apps', app, 'package.json'), 'utf8'));
  return pkg.nx.targets.build.options as EsbuildTarget;
}

/**
 * Bundles banger and bangerd side by side into `<dir>/lib`, laid out like the
 * installed tree ($PREFIX/lib/banger): a `type: module` package.json and a
 * node_modules (here a link to the workspace's) for the native externals.
 * `cliEntry` bundles another entry point as banger.js (a fixture). Returns the paths. Direct esbuild instead of `nx build`: it needs
 * no other project built first and takes about a second.
 */
export async function buildBundles(dir: string, options: { cliEntry?: string } = {}): Promise<{ lib: string; banger: string; bangerd: string }> {
  const lib = join(dir, 'lib');
  mkdirSync(lib, { recursive: true });
  writeFileSync(join(lib, 'package.json'), '{ "type": "module", "private": true }\n');
  symlinkSync(join(workspace, 'node_modules'), join(lib, 'node_modules'));
  for (const app of ['cli', 'daemon']) {
    const t = targetOf(app);
    await build({
      entryPoints: [app === 'cli' && options.cliEntry ? options.cliEntry : join(workspace, t.main)],
      outfile: join(lib, t.outputFileName),
      bundle: true,
      platform: t.platform,
      target: t.target,
      format: 'esm',
      external: t.external,
      conditions: t.esbuildOptions.conditions,
      banner: t.esbuildOptions.banner,
      sourcemap: true,
      logLevel: 'error',
    });
  }
  return { lib, banger: join(lib, 'banger.js'), bangerd: join(lib, 'bangerd.js') };
}
