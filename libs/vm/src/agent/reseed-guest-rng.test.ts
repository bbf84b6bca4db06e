import { UserError } from '@banger/errors';
import { describe, expect, it } from 'vitest';
import { reseedGuestRng } from './reseed-guest-rng.js';
import { GUEST_RESEED_HELPER } from './runtime-disk.js';

type Run = (request: { argv: string[] }, input?: Buffer | string) => Promise<{ code: number | null; signal: string | null; stdout: Buffer; stderr: Buffer }>;
const result = (code: number, stderr = '') => ({ code, signal: null, stdout: Buffer.alloc(0), stderr: Buffer.from(stderr) });

/** A stand-in agent client recording what the host asked the guest to run. */
function guest(answer: (argv: string[]) => ReturnType<Run>) {
  const calls: Array<{ argv: string[]; input: Buffer }> = [];
  const run: Run = async (request, input) => {
    calls.push({ argv: request.argv, input: Buffer.from(input ?? '') });
    return answer(request.argv);
  };
  return { client: { run } as never, calls };
}

describe('reseedGuestRng', () => {
  it('runs the runtime disk helper with 64 fresh bytes on stdin, different each time', async () => {
    const { client, calls } = guest(async () => result(0));
    expect(await reseedGuestRng(client)).toEqual({ kind: 'reseeded' });
    expect(await reseedGuestRng(client)).toEqual({ kind: 'reseeded' });
    expect(calls.map((c) => c.argv)).toEqual([['/run/banger/runtime/bin/banger-reseed'], ['/run/banger/runtime/bin/banger-reseed']]);
    expect(calls.map((c) => c.input.length)).toEqual([64, 64]);
    expect(calls[0]!.input.equals(calls[1]!.input)).toBe(false);
  });

  it('a guest without the helper (an older runtime disk) only gets the bytes mixed in, and says why', async () => {
    const { client, calls } = guest(async (argv) => {
      if (argv[0] === GUEST_RESEED_HELPER) throw new UserError('AGENT_EXEC_FAILED', `guest: cannot run ${argv[0]}: spawn ENOENT`, { exitCode: 127 });
      return result(0);
    });
    const outcome = await reseedGuestRng(client);
    expect(outcome.kind).toBe('mixed');
    expect(calls[1]!.argv).toEqual(['sh', '-c', 'cat > /dev/urandom']);
    expect(calls[1]!.input.equals(calls[0]!.input)).toBe(true);
  });

  it("a helper that fails throws its last stderr line", async () => {
    const { client } = guest(async () => result(1, 'banger-reseed: RNDADDENTROPY: Operation not permitted\n'));
    await expect(reseedGuestRng(client)).rejects.toThrow('banger-reseed: RNDADDENTROPY: Operation not permitted');
  });
});
