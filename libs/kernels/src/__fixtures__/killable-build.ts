import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';

/**
 * Runs buildKernelBundle in a separate Node process (the lib bundled with
 * esbuild from its TypeScript sources), so a test can SIGKILL a build in the
 * middle the way a crash or `kill -9` of the daemon would. The child prints
 * each progress line on stdout.
 */
export async function spawnBuild(workDir: string, options: { debPackage: string; name: string; outDir: string; cacheDir: string }): Promise<ChildProcess> {
  const entry = join(workDir, 'killable-entry.ts');
  const bundle = join(workDir, 'killable-entry.mjs');
  const source = join(import.meta.dirname, '..', 'build-bundle.ts');
  await writeFile(
    entry,
    `import { buildKernelBundle } from ${JSON.stringify(source)};\n` +
      `await buildKernelBundle({ ...${JSON.stringify(options)}, progress: { line: (text) => console.log(text) } });\n`,
  );
  await build({
    entryPoints: [entry],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['@banger/source'],
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
    logLevel: 'silent',
  });
  return spawn(process.execPath, [bundle], { stdio: ['ignore', 'pipe', 'pipe'] });
}
