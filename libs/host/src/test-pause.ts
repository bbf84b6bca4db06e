import { appendFileSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The fault-injection hook (tools/e2e's fault suite): a test that wants to
 * kill -9 the daemon, the CLI or QEMU at a named point sets
 * `BANGER_TEST_PAUSE_FILE=<path>` in the environment the daemon starts with,
 * then writes a point name into that file (`vm.boot`, `vm.boot:after`,
 * `vm.delete`, …). When the daemon reaches that point it appends
 * `<point> <pid>` to `<path>.reached` and waits while the file still names the
 * point (or until the call is cancelled), so the test knows exactly where it
 * is when it kills something. Without the variable this is a no-op: nothing
 * is read, nothing waits. Never set it outside tests.
 */
export const TEST_PAUSE_FILE_ENV = 'BANGER_TEST_PAUSE_FILE';

/** Reads the point the test asks to pause at (the first line of the file), or undefined. */
function requestedPoint(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').split('\n')[0]?.trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Pauses here when a test asked for `point` (see TEST_PAUSE_FILE_ENV).
 * Rejects with the signal's reason when the call is cancelled while paused.
 */
export async function testPausePoint(point: string, signal?: AbortSignal): Promise<void> {
  const file = process.env[TEST_PAUSE_FILE_ENV];
  if (!file || requestedPoint(file) !== point) return;
  appendFileSync(`${file}.reached`, `${point} ${process.pid}\n`);
  while (requestedPoint(file) === point) {
    if (signal?.aborted) throw signal.reason;
    await sleep(50);
  }
}
