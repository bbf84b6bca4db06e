import { rmSync } from 'node:fs';

/** Removes files that may or may not exist (stale sockets, pid files); never throws. */
export function removeQuietly(...paths: Array<string | undefined>): void {
  for (const path of paths) {
    if (!path) continue;
    try {
      rmSync(path, { force: true });
    } catch {
      // A leftover socket we cannot remove surfaces later as a bind error naming it.
    }
  }
}

/** The last `lines` non-empty lines of a log file, for error messages; '' when unreadable. */
export async function logTail(path: string, lines = 5): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  try {
    const text = await readFile(path, 'utf8');
    return text.split('\n').map((l) => l.trimEnd()).filter(Boolean).slice(-lines).join(' | ');
  } catch {
    return '';
  }
}
