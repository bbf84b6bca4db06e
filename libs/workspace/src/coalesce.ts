import { Transform } from 'node:stream';

/** The write size `coalesce` aims for: large enough that per-write costs vanish, small enough to keep memory flat. */
export const COALESCE_BYTES = 256 * 1024;

/**
 * A pass-through that gathers small chunks into writes of about `target`
 * bytes. tar-stream emits a header, the data and the padding of every file
 * as separate chunks; written one by one into an ssh2 channel (a packet and
 * a window check each) 20 000 files cost ≈ 60 000 writes, which made the
 * stream, not the cipher, the bottleneck of a first sync. Chunks already at
 * least `target` long pass as they are. Backpressure is the Transform's: a
 * slow reader stops the writer. What is held back is pushed at the end.
 */
export function coalesce(target = COALESCE_BYTES): Transform {
  let held: Buffer[] = [];
  let heldBytes = 0;
  const release = (stream: Transform): void => {
    if (heldBytes === 0) return;
    stream.push(held.length === 1 ? held[0] : Buffer.concat(held, heldBytes));
    held = [];
    heldBytes = 0;
  };
  return new Transform({
    // The readable side holds at most one coalesced write; more buffering would only add memory.
    readableHighWaterMark: target,
    writableHighWaterMark: target,
    transform(chunk: Buffer, _encoding, done) {
      held.push(chunk);
      heldBytes += chunk.length;
      if (heldBytes >= target) release(this);
      done();
    },
    flush(done) {
      release(this);
      done();
    },
  });
}
