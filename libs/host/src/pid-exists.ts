/**
 * Whether a process with this pid exists (signal 0: nothing is sent). EPERM
 * means it exists but belongs to another user. A pid says nothing about
 * *which* process it is: where a reused pid matters, compare its start time
 * too (the hypervisor lib does).
 */
export function pidExists(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
