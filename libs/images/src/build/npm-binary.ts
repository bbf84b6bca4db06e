import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InternalError } from '@banger/errors';
import { run, tempSibling, type ProgressSink } from '@banger/host';
import type { NpmBinary } from '../recipe/schema.js';

/**
 * Fetches a recipe's npm-shipped binary with `npm pack <pkg>@<version>`
 * (npm is the only channel besides the Debian mirror here), checks the
 * tarball against the pinned integrity, and extracts it under
 * `<cacheDir>/npm/<pkg>@<version>/`. Returns the path of the binary.
 * A cached extraction is reused.
 */
export async function fetchNpmBinary(bin: NpmBinary, cacheDir: string, options: { signal?: AbortSignal; progress?: ProgressSink } = {}): Promise<string> {
  const key = `${bin.package.replace(/^@/, '').replace(/\//g, '+')}@${bin.version}`;
  const dir = join(cacheDir, 'npm', key);
  const binary = join(dir, 'package', bin.binary);
  if (existsSync(binary)) return binary;

  const work = tempSibling(dir);
  await mkdir(work, { recursive: true });
  try {
    options.progress?.line?.(`npm pack ${bin.package}@${bin.version}`);
    const packed = await run('npm', ['pack', `${bin.package}@${bin.version}`, '--pack-destination', work, '--json', '--silent'], {
      cwd: work,
      signal: options.signal,
      env: { npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' },
    });
    const filename = parsePackOutput(packed.stdout, `${bin.package}@${bin.version}`);
    const tarball = join(work, filename);
    if (bin.integrity) await checkIntegrity(tarball, bin.integrity, `${bin.package}@${bin.version}`);
    await run('tar', ['-xzf', tarball, '-C', work, '--no-same-owner', 'package/package.json', `package/${bin.binary}`], { signal: options.signal });
    await rm(tarball, { force: true });
    if (!existsSync(join(work, 'package', bin.binary))) {
      throw new InternalError('NPM_BINARY_MISSING', `${bin.package}@${bin.version}: the package has no ${bin.binary}`, {
        hint: 'fix npm_binaries.binary in the recipe',
      });
    }
    await rm(dir, { recursive: true, force: true });
    await rename(work, dir);
    return binary;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function parsePackOutput(stdout: string, what: string): string {
  try {
    const parsed = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{ filename?: string }>;
    const filename = parsed[0]?.filename;
    if (filename) return filename.replace(/^@/, '').replace(/\//g, '-');
  } catch {
    // fall through to the error below
  }
  throw new InternalError('NPM_PACK_UNEXPECTED', `npm pack ${what}: could not read the tarball name from its output`, { hint: 'run it by hand to see what npm says' });
}

async function checkIntegrity(file: string, integrity: string, what: string): Promise<void> {
  const dash = integrity.indexOf('-');
  const algorithm = integrity.slice(0, dash);
  const expected = integrity.slice(dash + 1);
  const actual = createHash(algorithm).update(await readFile(file)).digest('base64');
  if (actual !== expected) {
    throw new InternalError('NPM_INTEGRITY_MISMATCH', `${what}: tarball ${algorithm} is ${actual}, the recipe pins ${expected}`, {
      hint: 'the registry served a different tarball; check the pinned integrity (npm view <pkg>@<version> dist.integrity)',
    });
  }
}
