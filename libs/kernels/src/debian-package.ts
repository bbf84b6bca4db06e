import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HostCommandError, UserError } from '@banger/errors';
import { run, runPrivileged, type ProgressSink } from '@banger/host';

/** One binary package version as the host's apt knows it. */
export interface DebianPackageRef {
  package: string;
  version: string;
  /** From the apt index; used to check a cached .deb. */
  sha256?: string;
}

interface AptRecord {
  Package?: string;
  Version?: string;
  Depends?: string;
  SHA256?: string;
}

/** One `apt-get update` at a time, and at most one per process run. */
let aptUpdate: Promise<void> | undefined;

/**
 * Reads the candidate version's record of `name` with `apt-cache show`. When
 * apt does not know the package (fresh machine, or package lists cleaned, as
 * container images do), runs `apt-get update` once and asks again.
 */
export async function aptShow(
  name: string,
  signal?: AbortSignal,
  progress?: ProgressSink,
): Promise<DebianPackageRef & { depends: string[] }> {
  let result = await run('apt-cache', ['show', '--no-all-versions', name], { signal, allowFailure: true });
  let record = parseAptRecord(result.stdout);
  if (result.exitCode !== 0 || !record.Package) {
    if (!aptUpdate) {
      progress?.line?.(`apt does not know ${name}; running apt-get update`);
      aptUpdate = runPrivileged('apt-get', ['update', '-q'], { signal }).then(
        () => undefined,
        (error: unknown) => {
          aptUpdate = undefined;
          throw error;
        },
      );
    }
    await aptUpdate;
    result = await run('apt-cache', ['show', '--no-all-versions', name], { signal, allowFailure: true });
    record = parseAptRecord(result.stdout);
  }
  if (result.exitCode !== 0 || !record.Package || !record.Version) {
    throw new UserError('DEB_PACKAGE_NOT_FOUND', `cannot find Debian package ${name}: apt does not know it`, {
      hint: 'check the package name (e.g. linux-image-cloud-amd64) and the apt sources (apt-get update)',
      cause: result.stderr,
    });
  }
  const depends = (record.Depends ?? '')
    .split(',')
    .map((group) => group.split('|')[0]!.trim().split(/\s+/)[0]!)
    .filter(Boolean);
  return { package: record.Package, version: record.Version, ...(record.SHA256 ? { sha256: record.SHA256 } : {}), depends };
}

/**
 * Resolves a kernel package name to the versioned image package that holds
 * the kernel: a meta package such as `linux-image-cloud-amd64` depends on
 * `linux-image-6.1.0-57-cloud-amd64`, which ships /boot/vmlinuz-*.
 */
export async function resolveKernelPackage(name: string, signal?: AbortSignal, progress?: ProgressSink): Promise<DebianPackageRef> {
  let current = name;
  for (let depth = 0; depth < 4; depth++) {
    const record = await aptShow(current, signal, progress);
    if (/^linux-image-\d/.test(record.package)) {
      return { package: record.package, version: record.version, ...(record.sha256 ? { sha256: record.sha256 } : {}) };
    }
    const next = record.depends.find((dep) => dep.startsWith('linux-image-'));
    if (!next) {
      throw new UserError('DEB_NOT_A_KERNEL', `cannot build a kernel from ${name}: ${record.package} is not a linux-image package`, {
        hint: 'pass a linux-image-* package, e.g. linux-image-cloud-amd64',
      });
    }
    current = next;
  }
  throw new UserError('DEB_NOT_A_KERNEL', `cannot build a kernel from ${name}: too many levels of meta packages`);
}

/**
 * Returns a cached .deb for `ref` under `cacheDir`, downloading it first with
 * `apt-get download` (the host's own apt sources and proxy settings) when it
 * is missing or does not match apt's sha256. The download lands in a temp dir
 * and is renamed into place, so an interrupted fetch never looks cached.
 */
export async function fetchDeb(
  ref: DebianPackageRef,
  cacheDir: string,
  options: { signal?: AbortSignal; progress?: ProgressSink } = {},
): Promise<string> {
  await mkdir(cacheDir, { recursive: true });
  const target = join(cacheDir, `${ref.package}_${ref.version.replace(/:/g, '%3a')}.deb`);
  if (existsSync(target) && (!ref.sha256 || (await sha256OfFile(target)) === ref.sha256)) {
    options.progress?.line?.(`using cached ${ref.package} ${ref.version}`);
    return target;
  }
  const tmp = join(cacheDir, `.download-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp);
  try {
    options.progress?.line?.(`downloading ${ref.package} ${ref.version}`);
    await run('apt-get', ['download', `${ref.package}=${ref.version}`], {
      cwd: tmp,
      signal: options.signal,
      onLine: (line) => line.trim() && options.progress?.line?.(line.trim()),
    });
    const debs = (await readdir(tmp)).filter((file) => file.endsWith('.deb'));
    if (debs.length !== 1) throw new HostCommandError('apt-get', `apt-get download ${ref.package}: produced no .deb file`);
    const downloaded = join(tmp, debs[0]!);
    if (ref.sha256) {
      const actual = await sha256OfFile(downloaded);
      if (actual !== ref.sha256) {
        throw new UserError('DEB_CHECKSUM_MISMATCH', `downloaded ${ref.package} ${ref.version} has sha256 ${actual}, apt expects ${ref.sha256}`, {
          hint: 'run apt-get update and try again',
        });
      }
    }
    await rename(downloaded, target);
    return target;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Unpacks a .deb's data into `destDir` with `dpkg-deb -x` (no root needed, no maintainer scripts). */
export async function unpackDeb(deb: string, destDir: string, signal?: AbortSignal): Promise<void> {
  await mkdir(destDir, { recursive: true });
  await run('dpkg-deb', ['-x', deb, destDir], { signal });
}

/** Hex sha256 of a file, streamed. */
export function sha256OfFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

function parseAptRecord(text: string): AptRecord {
  const record: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) break; // first paragraph only
    const match = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (match) record[match[1]!] = match[2]!;
  }
  return record;
}
