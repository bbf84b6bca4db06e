import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { InternalError, UserError } from '@banger/errors';
import type { ClockRequest, ClockResult, MuxStream } from '@banger/agent';

const run = promisify(execFile);

/**
 * clock: the offset of the guest clock from the host's time in the request
 * (positive: the guest is ahead; the transit time of the request is not
 * subtracted, so it reads a few ms ahead). With `set`, as root, the guest
 * clock is set to the host's time through `date` (Node has no settimeofday).
 */
export async function clockOp(stream: MuxStream, request: ClockRequest): Promise<void> {
  if (typeof request.hostTimeMs !== 'number' || !Number.isFinite(request.hostTimeMs)) throw new UserError('AGENT_BAD_REQUEST', 'guest agent: clock needs hostTimeMs');
  const offsetMs = Date.now() - request.hostTimeMs;
  let set = false;
  if (request.set) {
    if (process.getuid?.() !== 0) throw new UserError('AGENT_CLOCK_FAILED', 'guest: setting the clock needs the agent to run as root');
    try {
      await run('date', ['-u', '-s', `@${(request.hostTimeMs / 1000).toFixed(3)}`], { timeout: 5_000 });
      set = true;
    } catch (error) {
      throw new InternalError('AGENT_CLOCK_FAILED', `guest: date -s failed: ${(error as Error).message}`, { cause: error });
    }
  }
  const result: ClockResult = { offsetMs, set };
  stream.control({ type: 'result', result });
}
