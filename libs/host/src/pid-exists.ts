import { readFileSync } from 'node:fs';

/**
 * Whether a process with this pid exists (signal 0: nothing is sent). EPERM
 * means it exists but belongs to another user. A zombie does not count: it
 * has ended and only waits to be reaped (a daemon killed with kill -9 is one
 * until init gets to it, and its temp files are already leftovers). A pid
 * says nothing about *which* process it is: where a reused pid matters,
 * compare its start time too (the hypervisor lib does).
 */
export function pidExists(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !isZombie(pid);
}

/** State Z (zombie) or X (dead) in /proc/<pid>/stat; false where /proc cannot say. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces or ')': the state follows the last ')'.
    const state = stat.slice(stat.lastIndexOf(')') + 1).trim()[0];
    return state === 'Z' || state === 'X';
  } catch {
    return false;
  }
}
