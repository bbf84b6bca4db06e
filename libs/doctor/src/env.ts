import { accessSync, constants, readFileSync, statSync, statfsSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { hostResolves } from '@banger/dns';
import { isRoot, run } from '@banger/host';

/** Directories searched after PATH, like `findExecutable` in @banger/host: admin tools live there. */
export const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/**
 * The slice of the host the doctor looks at. Every check goes through it, so
 * tests inject a fake PATH, fake devices or a small disk instead of mocking
 * modules; `hostDoctorEnv()` is the real thing.
 */
export interface DoctorEnv {
  /** Directories searched for executables, in order. */
  searchDirs: string[];
  isRoot: boolean;
  /** Effective uid, for messages. */
  uid: number;
  /** What kind of file is at `path`, if anything. */
  fileKind(path: string): 'char-device' | 'file' | 'directory' | 'other' | undefined;
  /** The text of /proc/cpuinfo ('' when unreadable). */
  cpuinfo(): string;
  /** Whether this process can open `path` read-write. */
  canReadWrite(path: string): boolean;
  /** Free and total bytes of the file system holding `dir` (or its nearest existing ancestor). */
  diskSpace(dir: string): { freeBytes: number; totalBytes: number; probed: string } | undefined;
  /** Runs a command (absolute path), never throwing for a non-zero status. */
  exec(binary: string, args: readonly string[], options?: { input?: string; timeoutMs?: number }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** The address the host's own resolver (`getent hosts`, i.e. nsswitch) gives `name`; undefined when it does not resolve. */
  resolveHost(name: string): Promise<string | undefined>;
}

/** The doctor environment of this process: PATH plus the sbin dirs, real file system, real commands. */
export function hostDoctorEnv(pathVar = process.env['PATH'] ?? ''): DoctorEnv {
  return {
    searchDirs: [...pathVar.split(delimiter).filter(Boolean), ...SBIN_DIRS],
    isRoot: isRoot(),
    uid: process.getuid?.() ?? -1,
    fileKind(path) {
      try {
        const stats = statSync(path);
        if (stats.isCharacterDevice()) return 'char-device';
        if (stats.isFile()) return 'file';
        if (stats.isDirectory()) return 'directory';
        return 'other';
      } catch {
        return undefined;
      }
    },
    cpuinfo() {
      try {
        return readFileSync('/proc/cpuinfo', 'utf8');
      } catch {
        return '';
      }
    },
    canReadWrite(path) {
      try {
        accessSync(path, constants.R_OK | constants.W_OK);
        return true;
      } catch {
        return false;
      }
    },
    diskSpace(dir) {
      let current = dir;
      for (;;) {
        try {
          const stats = statfsSync(current);
          return { freeBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize, probed: current };
        } catch {
          const parent = dirname(current);
          if (parent === current) return undefined;
          current = parent;
        }
      }
    },
    async exec(binary, args, options = {}) {
      try {
        const result = await run(binary, args, { allowFailure: true, timeoutMs: options.timeoutMs ?? 10_000, ...(options.input !== undefined ? { input: options.input } : {}) });
        return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
      } catch (error) {
        return { exitCode: 127, stdout: '', stderr: error instanceof Error ? error.message : String(error) };
      }
    },
    resolveHost: (name) => hostResolves(name),
  };
}

/** Finds `nameOrPath` in the environment's search dirs (or checks it when absolute). */
export function lookup(env: DoctorEnv, nameOrPath: string): string | undefined {
  if (isAbsolute(nameOrPath)) return isExecutableFile(nameOrPath) ? nameOrPath : undefined;
  for (const dir of env.searchDirs) {
    const candidate = join(dir, nameOrPath);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
