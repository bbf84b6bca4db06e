import { execFileSync } from 'node:child_process';
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
 * banger.cjs and banger-cli.cjs come from apps/cli/scripts/build.mjs, as `nx build` makes them (the
 * launcher and the code-cached body); `cliEntry` instead bundles another entry point as a single ESM
 * banger.js (a fixture). Returns the paths (`banger`: the entry to run with node). Direct esbuild instead of `nx build`: it needs no other
 * project built first and takes about a second.
 */
export async function buildBundles(dir: string, options: { cliEntry?: string } = {}): Promise<{ lib: string; banger: string; bangerd: string }> {
  const lib = join(dir, 'lib');
  mkdirSync(lib, { recursive: true });
  writeFileSync(join(lib, 'package.json'), '{ "type": "module", "private": true }\n');
  symlinkSync(join(workspace, 'node_modules'), join(lib, 'node_modules'));
  const daemon = targetOf('daemon');
  const single = (entry: string, outfile: string) =>
    build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      platform: daemon.platform,
      target: daemon.target,
      format: 'esm',
      external: daemon.external,
      conditions: daemon.esbuildOptions.conditions,
      banner: daemon.esbuildOptions.banner,
      sourcemap: true,
      logLevel: 'error',
    });
  await single(join(workspace, daemon.main), join(lib, daemon.outputFileName));
  if (options.cliEntry) await single(options.cliEntry, join(lib, 'banger.js'));
  else execFileSync(process.execPath, [join(workspace, 'apps/cli/scripts/build.mjs'), lib], { stdio: ['ignore', 'ignore', 'inherit'] });
  return { lib, banger: join(lib, options.cliEntry ? 'banger.js' : 'banger.cjs'), bangerd: join(lib, 'bangerd.js') };
}
