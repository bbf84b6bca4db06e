import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** Directories that hold admin tools but are often missing from a user's PATH. */
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/**
 * Finds an executable the way a shell would, plus the sbin directories
 * (`mkfs.ext4`, `ip`, `nft` live there and are usable by non-root users too).
 * Returns undefined when not found.
 */
export function findExecutable(name: string, pathEnv = process.env['PATH'] ?? ''): string | undefined {
  if (isAbsolute(name)) return isExecutable(name) ? name : undefined;
  const dirs = [...pathEnv.split(delimiter).filter(Boolean), ...SBIN_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
