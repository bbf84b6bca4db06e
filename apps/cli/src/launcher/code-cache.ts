// V8 code cache for the CLI body (issue #19). Node 20 has no module compile
// cache (module.enableCompileCache is Node 22), so the launcher compiles the
// CommonJS body through vm.Script with `cachedData` and stores what V8
// produced after a run. Kept free of banger's libs: this file runs before the
// body, on every start.
import { mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import * as zlib from 'node:zlib';

/** File header: magic + version of this format, then the payload's CRC-32. */
const MAGIC = Buffer.from('BGC1');
const HEADER_BYTES = 8;

/**
 * Where the code cache lives: `<cache dir>/code-cache`, with banger's cache
 * dir resolved as @banger/config's resolvePaths does (BANGER_CACHE_DIR,
 * BANGER_HOME/cache, $XDG_CACHE_HOME/banger, ~/.cache/banger). Undefined when
 * BANGER_CODE_CACHE=0 turns it off.
 */
export function codeCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  if (env['BANGER_CODE_CACHE'] === '0') return undefined;
  const absolute = (name: string): string | undefined => {
    const value = env[name];
    return value && isAbsolute(value) ? resolve(value) : undefined;
  };
  const home = env['BANGER_HOME'] ? absolute('BANGER_HOME') : undefined;
  const cacheDir =
    absolute('BANGER_CACHE_DIR') ?? (home ? join(home, 'cache') : join(absolute('XDG_CACHE_HOME') ?? join(env['HOME'] || homedir(), '.cache'), 'banger'));
  return join(cacheDir, 'code-cache');
}

/**
 * One file per body (`cli`, `cli-vm`…), Node version, architecture and build:
 * V8 itself only checks the source's length and its own version and flags, so
 * the body's hash in the name is what keeps a stale cache from being applied
 * to another build.
 */
export function codeCacheFile(dir: string, bodyName: string, bodyHash: string): string {
  return join(dir, `${bodyName}-${process.versions.node}-${process.arch}-${bodyHash}.bin`);
}

/** The body a cache file belongs to: `cli-vm` for `cli-vm-20.20.2-x64-<hash>.bin`. */
const bodyOfCacheFile = (name: string): string | undefined => /^(cli(?:-[a-z][a-z-]*?)?)-\d+\.\d+\.\d+-/.exec(name)?.[1];

/** zlib.crc32 exists from Node 20.15; without it the cache is off (a wrong cache crashes V8, see readCodeCache). */
function crc32(data: Uint8Array): number | undefined {
  return typeof zlib.crc32 === 'function' ? zlib.crc32(data) : undefined;
}

/**
 * The cached data, or undefined when there is none or it is damaged. V8 does
 * not checksum code caches in release builds: flipped bytes in one either
 * abort the process in the deserializer or are silently accepted, so every
 * file carries its own CRC-32 and a mismatch counts as no cache.
 */
export function readCodeCache(file: string): Buffer | undefined {
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch {
    return undefined;
  }
  if (raw.length <= HEADER_BYTES || !raw.subarray(0, 4).equals(MAGIC)) return undefined;
  const payload = raw.subarray(HEADER_BYTES);
  const sum = crc32(payload);
  return sum !== undefined && sum === raw.readUInt32LE(4) ? payload : undefined;
}

/**
 * Stores `data` atomically (a temp file renamed into place, so a concurrent
 * start reads the old file or the new one, never half of one) and removes the
 * caches of other builds. Best effort: a read-only or full disk only costs the
 * next start its compile time. Returns whether the file was written.
 */
export function writeCodeCache(file: string, data: Buffer): boolean {
  const sum = crc32(data);
  if (sum === undefined) return false;
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header);
  header.writeUInt32LE(sum, 4);
  const temp = `${file}.${process.pid}.tmp`;
  try {
    makeDir(dirname(file));
    writeFileSync(temp, Buffer.concat([header, data]), { mode: 0o600 });
    renameSync(temp, file);
  } catch {
    try {
      unlinkSync(temp);
    } catch {
      // never created
    }
    return false;
  }
  removeOtherBuilds(file);
  return true;
}

/**
 * mkdir -p without `{ recursive: true }`: Node 20's recursive mkdir never
 * returns for a path under /proc (it retries ENOENT forever), and a
 * BANGER_CACHE_DIR may point anywhere. Each level is tried once.
 */
function makeDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || dirname(dir) === dir) throw error;
    makeDir(dirname(dir));
    mkdirSync(dir, { mode: 0o700 });
  }
}

/**
 * This body's caches of earlier installs or Node versions are never read again.
 * Other bodies' caches are theirs to replace; temp files of a concurrent writer
 * are left alone.
 */
function removeOtherBuilds(file: string): void {
  const body = bodyOfCacheFile(basename(file));
  try {
    for (const name of readdirSync(dirname(file))) {
      if (name !== basename(file) && name.endsWith('.bin') && bodyOfCacheFile(name) === body) unlinkSync(join(dirname(file), name));
    }
  } catch {
    // another start removed it first, or the directory is not ours to tidy
  }
}
