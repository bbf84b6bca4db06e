import type { FileHandle } from 'node:fs/promises';

/** Blocks of this size that are all zero become holes instead of writes (ext4's block is 4 KiB; 64 KiB keeps the zero test cheap). */
export const SPARSE_BLOCK = 64 * 1024;
// Contiguous data is gathered into one writev of up to this many bytes.
const MAX_BATCH = 1024 * 1024;
const ZERO = Buffer.alloc(SPARSE_BLOCK);

/**
 * Writes a byte stream into a file sequentially from offset 0, leaving every
 * all-zero SPARSE_BLOCK-aligned block as a hole (the position just advances).
 * Call `write` for each chunk in order (awaiting it: that is the
 * backpressure), then `finish`, which extends the file to the full length
 * with ftruncate so trailing zero blocks are holes too. The handle must be
 * open for writing on an empty file; the writer does not close it.
 */
export class SparseWriter {
  /** Bytes received so far (the final file size once finished). */
  position = 0;
  // A partial block (chunk boundaries need not align with blocks).
  private carry: Buffer = Buffer.alloc(SPARSE_BLOCK);
  private carryLength = 0;
  private batch: Buffer[] = [];
  private batchStart = 0;
  private batchLength = 0;

  constructor(private readonly fh: FileHandle) {}

  async write(chunk: Buffer): Promise<void> {
    let offset = 0;
    if (this.carryLength > 0) {
      const take = Math.min(SPARSE_BLOCK - this.carryLength, chunk.length);
      chunk.copy(this.carry, this.carryLength, 0, take);
      this.carryLength += take;
      offset = take;
      if (this.carryLength < SPARSE_BLOCK) return;
      const block = this.carry;
      // The batch may keep referring to this block until it is flushed: give the carry a new buffer.
      this.carry = Buffer.alloc(SPARSE_BLOCK);
      this.carryLength = 0;
      await this.block(block);
    }
    while (chunk.length - offset >= SPARSE_BLOCK) {
      await this.block(chunk.subarray(offset, offset + SPARSE_BLOCK));
      offset += SPARSE_BLOCK;
    }
    if (offset < chunk.length) {
      chunk.copy(this.carry, 0, offset);
      this.carryLength = chunk.length - offset;
    }
  }

  /** Writes what is buffered, sets the file's length to `position`, returns it. */
  async finish(): Promise<number> {
    if (this.carryLength > 0) {
      await this.block(this.carry.subarray(0, this.carryLength));
      this.carryLength = 0;
    }
    await this.flush();
    await this.fh.truncate(this.position);
    return this.position;
  }

  private async block(block: Buffer): Promise<void> {
    const start = this.position;
    this.position += block.length;
    if (block.equals(block.length === SPARSE_BLOCK ? ZERO : ZERO.subarray(0, block.length))) {
      await this.flush();
      return;
    }
    if (this.batchLength > 0 && this.batchStart + this.batchLength !== start) await this.flush();
    if (this.batchLength === 0) this.batchStart = start;
    this.batch.push(block);
    this.batchLength += block.length;
    if (this.batchLength >= MAX_BATCH) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.batchLength === 0) return;
    const buffers = this.batch;
    let position = this.batchStart;
    let remaining = this.batchLength;
    this.batch = [];
    this.batchLength = 0;
    // writev may write less than asked (rare on regular files); continue from where it stopped.
    let pending = buffers;
    while (remaining > 0) {
      const { bytesWritten } = await this.fh.writev(pending, position);
      position += bytesWritten;
      remaining -= bytesWritten;
      if (remaining > 0) pending = skipBytes(pending, bytesWritten);
    }
  }
}

function skipBytes(buffers: Buffer[], n: number): Buffer[] {
  const rest: Buffer[] = [];
  for (const b of buffers) {
    if (n >= b.length) {
      n -= b.length;
      continue;
    }
    rest.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return rest;
}
