import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { NotFoundError, UserError } from '@banger/errors';
import { DEBIAN_ARCHIVE_KEYRING, DEFAULT_DEBIAN_MIRROR, DEFAULT_DEBIAN_SECURITY_MIRROR, sha256File, type DebianSource, type ProgressSink } from '@banger/host';
import { dependencyNames, parseParagraphs } from './control-file.js';
import { fetchBytes, fetchVerified } from './download.js';
import { verifyInRelease, type Release } from './release.js';
import { compareDebianVersions } from './version.js';

export const DEFAULT_DEBIAN_SUITE = 'bookworm';

export interface DebianArchiveOptions {
  /** Mirror and keyring (`debian_mirror`, `debian_keyring`); the defaults when unset. */
  debian?: DebianSource;
  /** The release, e.g. `bookworm`; its -updates and (with the official mirror) -security suites are read too. */
  suite?: string;
  component?: string;
  arch?: string;
  /** Verified indexes and .debs are kept here, named by their hashes. */
  cacheDir: string;
  signal?: AbortSignal;
  progress?: ProgressSink;
}

/** One binary package as the signed index describes it. */
export interface ArchivePackage {
  package: string;
  version: string;
  /** Base URL of the archive that lists it (main mirror or security). */
  archive: string;
  /** Path under the archive (`pool/main/…/x.deb`). */
  filename: string;
  sha256: string;
  size: number;
  depends: string[];
}

/** The suites of a Debian release whose package indexes have been checked against the archive key. */
export interface DebianArchive {
  readonly mirror: string;
  readonly suite: string;
  /** The verified Release of each suite read, by suite name. */
  readonly releases: ReadonlyMap<string, Release>;
  /** The newest version of the package across the suites, or undefined when none has it. */
  find(name: string): ArchivePackage | undefined;
  /** Like find, but a NotFoundError naming the mirror and suite. */
  get(name: string): ArchivePackage;
  /** The .deb of `pkg` in `<cacheDir>/debs`, downloaded and checked against the index when missing. */
  fetchDeb(pkg: ArchivePackage): Promise<string>;
}

/** One `dists/<suite>` of one archive; `optional` ones may be missing (a mirror without -updates). */
interface SuiteSource {
  base: string;
  suite: string;
  optional: boolean;
}

/**
 * Opens a Debian release the way apt does, without apt: `<suite>` and
 * `<suite>-updates` from the mirror, and `<suite>-security` from Debian's
 * security archive when the mirror is the official one. Each InRelease is
 * verified with gpgv against the keyring, each Packages index against the
 * hash its signed Release lists, and every .deb against the hash the index
 * lists; the newest version across the suites wins, as apt's candidate would.
 * Works on any Linux with gpgv and the keyring file; the host's apt sources
 * are never read.
 */
export async function openDebianArchive(options: DebianArchiveOptions): Promise<DebianArchive> {
  const mirror = (options.debian?.mirror ?? DEFAULT_DEBIAN_MIRROR).replace(/\/+$/, '');
  const keyring = options.debian?.keyring ?? DEBIAN_ARCHIVE_KEYRING;
  const suite = options.suite ?? DEFAULT_DEBIAN_SUITE;
  const component = options.component ?? 'main';
  const arch = options.arch ?? 'amd64';
  const { signal, progress } = options;
  const sources: SuiteSource[] = [
    { base: mirror, suite, optional: false },
    { base: mirror, suite: `${suite}-updates`, optional: true },
    ...(mirror === DEFAULT_DEBIAN_MIRROR ? [{ base: DEFAULT_DEBIAN_SECURITY_MIRROR, suite: `${suite}-security`, optional: true }] : []),
  ];
  const indexDir = join(options.cacheDir, 'debian-index');
  await mkdir(indexDir, { recursive: true });

  const releases = new Map<string, Release>();
  const indexes: IndexFile[] = [];
  for (const source of sources) {
    const inReleaseUrl = `${source.base}/dists/${source.suite}/InRelease`;
    progress?.line?.(`checking ${inReleaseUrl}`);
    const signed = await fetchBytes(inReleaseUrl, signal).catch((error: unknown) => {
      if (source.optional && error instanceof UserError && error.code === 'DEBIAN_MIRROR_HTTP') return undefined;
      throw error;
    });
    if (!signed) {
      progress?.line?.(`${source.base} has no ${source.suite}; skipping it`);
      continue;
    }
    const release = await verifyInRelease(signed, { url: inReleaseUrl, keyring, expectSuite: source.suite });
    releases.set(source.suite, release);
    // gzip decompresses in-process several times faster than spawning xz; -updates and -security publish only .xz (small).
    const indexPath = ['gz', 'xz', ''].map((ext) => `${component}/binary-${arch}/Packages${ext ? `.${ext}` : ''}`).find((path) => release.files.has(path));
    const indexEntry = indexPath ? release.files.get(indexPath) : undefined;
    if (!indexPath || !indexEntry) throw new NotFoundError('DEBIAN_INDEX_MISSING', `${inReleaseUrl} lists no ${component}/binary-${arch}/Packages index`);
    const indexFile = join(indexDir, `${indexEntry.sha256}${extname(indexPath)}`); // named by its hash: a cached one is the signed one
    if (!existsSync(indexFile)) {
      progress?.line?.(`downloading ${source.suite} ${indexPath} (${(indexEntry.size / 1048576).toFixed(1)} MiB)`);
      await fetchVerified(`${source.base}/dists/${source.suite}/${indexPath}`, indexFile, indexEntry, signal);
    }
    indexes.push(new IndexFile(indexFile, source.base));
  }

  const lookups = await Promise.all(indexes.map((index) => index.loadLookups()));
  const find = (name: string): ArchivePackage | undefined => {
    let newest: ArchivePackage | undefined;
    indexes.forEach((index, i) => {
      for (const pkg of lookups[i]!.get(name) ?? index.lookup(name)) if (!newest || compareDebianVersions(pkg.version, newest.version) > 0) newest = pkg;
    });
    return newest;
  };
  const debDir = join(options.cacheDir, 'debs');
  return {
    mirror,
    suite,
    releases,
    find,
    get(name) {
      const found = find(name);
      if (!found) throw new NotFoundError('DEB_PACKAGE_NOT_FOUND', `cannot find Debian package ${name} in ${mirror} ${suite}/${component}`, { hint: 'check the package name (e.g. linux-image-cloud-amd64) and debian_mirror' });
      return found;
    },
    async fetchDeb(pkg) {
      await mkdir(debDir, { recursive: true });
      const target = join(debDir, `${pkg.package}_${pkg.version.replace(/:/g, '%3a')}.deb`);
      if (existsSync(target) && (await sha256File(target)) === pkg.sha256) {
        progress?.line?.(`using cached ${pkg.package} ${pkg.version}`);
        return target;
      }
      progress?.line?.(`downloading ${pkg.package} ${pkg.version} (${(pkg.size / 1048576).toFixed(1)} MiB)`);
      await fetchVerified(`${pkg.archive}/${pkg.filename}`, target, pkg, signal);
      return target;
    },
  };
}

/**
 * The records of `name` in one Packages index text (prefixed with a newline),
 * found by searching for its `Package:` line rather than parsing the whole
 * 50 MB index: a build looks up a handful of names.
 */
function paragraphsOf(text: string, name: string, archive: string): ArchivePackage[] {
  const records: ArchivePackage[] = [];
  const needle = `\nPackage: ${name}\n`;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + 1)) {
    const end = text.indexOf('\n\n', at + 1);
    const p = parseParagraphs(text.slice(at + 1, end < 0 ? undefined : end))[0];
    const version = p?.get('Version');
    const filename = p?.get('Filename');
    const sha256 = p?.get('SHA256');
    const size = Number(p?.get('Size'));
    if (!p || !version || !filename || !sha256 || !Number.isFinite(size)) continue;
    // Filename comes from the signed index, but still must not climb out of the mirror.
    if (filename.split('/').includes('..')) continue;
    records.push({ package: name, version, archive, filename, sha256, size, depends: dependencyNames(p.get('Depends')) });
  }
  return records;
}

/**
 * One verified Packages index in the cache (named by its hash, so immutable),
 * with a side file of the records already looked up in it: decompressing and
 * searching 50 MB costs seconds on a busy host, and a rebuild asks for the
 * same few names again.
 */
class IndexFile {
  private text: string | undefined;
  private lookups = new Map<string, ArchivePackage[]>();
  constructor(
    private readonly file: string,
    private readonly base: string,
  ) {}

  private get lookupFile(): string {
    return `${this.file}.lookups.json`;
  }

  async loadLookups(): Promise<Map<string, ArchivePackage[]>> {
    const saved = await readFile(this.lookupFile, 'utf8').then((text) => JSON.parse(text) as Record<string, ArchivePackage[]>, () => ({}));
    this.lookups = new Map(Object.entries(saved).map(([name, records]) => [name, records.map((r) => ({ ...r, archive: this.base }))]));
    return this.lookups;
  }

  /** The records of `name`, searched in the index text (decompressed on first use) and remembered in the side file. */
  lookup(name: string): ArchivePackage[] {
    this.text ??= `\n${readIndexSync(this.file)}`;
    const records = paragraphsOf(this.text, name, this.base);
    this.lookups.set(name, records);
    try {
      writeFileSync(`${this.lookupFile}.tmp-${process.pid}`, JSON.stringify(Object.fromEntries(this.lookups)));
      renameSync(`${this.lookupFile}.tmp-${process.pid}`, this.lookupFile);
    } catch {
      // The side file is only a speed-up.
    }
    return records;
  }
}

/** The text of a Packages index as cached (.xz through the xz tool, .gz with zlib, or plain). */
function readIndexSync(file: string): string {
  if (file.endsWith('.xz')) return execFileSync('xz', ['-dc', file], { maxBuffer: 512 * 1024 * 1024 }).toString('utf8');
  const bytes = readFileSync(file);
  return (file.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
}
