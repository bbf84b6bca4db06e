import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processAlive } from '@banger/host';
import { fuzzSeed, seededRandom } from '@banger/host/testing';
import { readLog, useHarness } from './harness.js';

// A fixed seed keeps a failure reproducible (it is printed); BANGER_FUZZ_SEED picks another.
const SEED = fuzzSeed(4711);
const CLIENTS = 8;
const FRAMES_PER_CLIENT = 200;


// Methods that only read. Anything else is only ever sent params that are not an object at all, so
// a random frame can never create a VM, pull an image or stop the daemon (daemon.shutdown takes
// any object, and zod drops unknown keys).
const READ_ONLY = ['hello', 'daemon.status', 'vm.list', 'vm.show', 'image.list', 'image.show', 'kernel.list', 'kernel.show', 'complete.names'];
const ANY = [...READ_ONLY, 'vm.create', 'vm.run', 'vm.delete', 'vm.start', 'vm.stop', 'image.pull', 'image.rm', 'kernel.pull', 'daemon.shutdown', 'no.such.method', '', '__proto__', 'constructor'];
const NOT_AN_OBJECT = ['42', '"x"', '[]', '[1,2]', 'true', 'null', '-0', '1e999'];
const ODD_OBJECTS = ['{"name":42}', '{"name":["a"]}', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}', '{"name":"a\\u0000b"}'];

function frame(random: () => number, n: number): string {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const kind = random();
  if (kind < 0.2) {
    // Random bytes, newlines included.
    const bytes = Buffer.alloc(Math.floor(random() * 2000));
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
    return `${bytes.toString('latin1')}\n`;
  }
  if (kind < 0.4) return `${JSON.stringify({ id: n, method: pick(READ_ONLY), params: random() < 0.5 ? {} : { name: `x${n}`, clientVersion: 'fuzz' } })}\n`;
  if (kind < 0.5) return `{"id":"f${n}","method":${JSON.stringify(pick(ANY))},"params":${pick(NOT_AN_OBJECT)}}\n`;
  if (kind < 0.6) return `{"id":"o${n}","method":${JSON.stringify(pick(READ_ONLY))},"params":${pick(ODD_OBJECTS)}}\n`;
  if (kind < 0.7) return `{"id":${n},"cancel":${pick(['true', 'false', '1', '"yes"'])}}\n`;
  if (kind < 0.8) return `${JSON.stringify(pick([{}, [], 'str', 1, null, { id: {}, method: 'hello' }, { id: n, method: 'hello', extra: 1 }, { id: 'x'.repeat(300), method: 'hello' }]))}\n`;
  if (kind < 0.9) {
    // Deep nesting: a recursive parser would run out of stack.
    const depth = 1000 + Math.floor(random() * 50_000);
    return `{"id":${n},"method":"hello","params":${'['.repeat(depth)}${']'.repeat(depth)}}\n`;
  }
  if (kind < 0.98) return `${JSON.stringify({ id: n, method: 'hello', params: { clientVersion: '\u0000\u001b]0;title\u0007\ud800' } })}\n`;
  // Over the 1 MiB line limit: the daemon answers once and closes this connection.
  return `${'x'.repeat(1024 * 1024 + 10 + Math.floor(random() * 1000))}\n`;
}

function rssKib(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.match(/(\d+)/)?.[1] ?? NaN);
}

/** Sends frames one client at a time; reconnects when the daemon closes on it. Reads and drops the replies. */
async function hostileClient(socketPath: string, random: () => number, id: number): Promise<number> {
  let replies = 0;
  let socket: Socket | undefined;
  const open = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const s = connect(socketPath, () => resolve(s));
      s.on('error', reject);
      s.on('data', (chunk: Buffer) => (replies += chunk.toString('latin1').split('\n').length - 1));
    });
  for (let i = 0; i < FRAMES_PER_CLIENT; i++) {
    if (!socket || socket.destroyed || socket.writableEnded) {
      socket = await open();
      socket.on('error', () => undefined);
    }
    const text = frame(random, id * 100_000 + i);
    const s = socket;
    // A write the daemon will never drain (it closed on us after an oversized line) ends with the socket.
    await new Promise<void>((resolve) => {
      if (s.write(text, 'latin1')) return resolve();
      s.once('drain', resolve);
      s.once('close', resolve);
    });
    if (random() < 0.05) {
      socket.destroy(); // gone mid-reply
      socket = undefined;
    }
  }
  await new Promise((r) => setTimeout(r, 200));
  socket?.destroy();
  return replies;
}

const h = useHarness();

describe('the daemon against hostile local clients', () => {
  it(`stays up, keeps answering and bounds its memory under ${CLIENTS * FRAMES_PER_CLIENT} random frames, half-open and vanishing clients (seed ${SEED})`, async () => {
    const started = await h.banger(['daemon', 'status', '--json']);
    expect(started.exitCode, started.stderr).toBe(0);
    const pid = (JSON.parse(started.stdout) as { pid: number }).pid;
    h.track(pid);
    const socketPath = join(h.home, 'run', 'bangerd.sock');
    const before = rssKib(pid);

    // Half-open clients: a partial line and then silence, for the whole run.
    const silent = await Promise.all(
      Array.from({ length: 20 }, () => new Promise<Socket>((resolve) => {
        const s = connect(socketPath, () => {
          s.write('{"id":1,"method":"hel');
          resolve(s);
        });
        s.on('error', () => undefined);
      })),
    );
    const random = seededRandom(SEED);
    const seeds = Array.from({ length: CLIENTS }, () => Math.floor(random() * 2 ** 32));
    const replies = await Promise.all(seeds.map((seed, i) => hostileClient(socketPath, seededRandom(seed), i))).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; daemon alive: ${processAlive(pid)}; its log ends:\n${readLog(h).split('\n').slice(-8).join('\n')}`);
    });
    const peak = rssKib(pid);
    silent.forEach((s) => s.destroy());

    expect(processAlive(pid), `seed ${SEED}`).toBe(true);
    // Every client got answers (errors, mostly): the daemon did not go deaf.
    for (const count of replies) expect(count, `seed ${SEED}`).toBeGreaterThan(10);
    const after = await h.banger(['daemon', 'status', '--json']);
    expect(after.exitCode, after.stderr).toBe(0);
    expect((JSON.parse(after.stdout) as { pid: number }).pid).toBe(pid);
    expect((await h.banger(['vm', 'list'])).exitCode).toBe(0);
    // docs/reliability.md: 61-72 MiB of growth measured over three seeds (1 MiB lines are buffered
    // before they are refused, and V8 keeps the garbage a while); without the API socket's bounds a
    // client that never reads grows it by hundreds of MiB.
    expect(peak - before, `RSS ${before} KiB before, ${peak} KiB at the peak (seed ${SEED})`).toBeLessThan(128 * 1024);
    console.log(`hostile clients (seed ${SEED}): daemon RSS ${Math.round(before / 1024)} MiB before, ${Math.round(peak / 1024)} MiB at the peak; replies per client ${replies.join(', ')}`);
  }, 180_000);
});
