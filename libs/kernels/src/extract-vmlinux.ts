import { gunzipSync } from 'node:zlib';
import { BangerError, InternalError, UserError, type ErrorCode } from '@banger/errors';
import { parseBzImageHeader } from './boot-header.js';
import { decodeLz4Legacy, Lz4CorruptError, LZ4_LEGACY_MAGIC } from './lz4-legacy.js';
import { decompressWithTool } from './tool-decompress.js';

/** The compressors a Linux x86 bzImage payload can use (CONFIG_KERNEL_*). */
export type KernelCompression = 'gzip' | 'lz4' | 'xz' | 'zstd' | 'lzma' | 'bzip2' | 'lzo';

/** The uncompressed kernel and how it was packed. */
export interface ExtractedVmlinux {
  /** The ELF vmlinux, as Firecracker (and QEMU's PVH boot) loads it. */
  elf: Buffer;
  compression: KernelCompression;
}

export interface ExtractVmlinuxOptions {
  /** Shown in errors: where the bzImage came from. */
  file?: string;
  signal?: AbortSignal;
}

/** Payload magics, checked in order. */
const MAGICS: ReadonlyArray<{ compression: KernelCompression; bytes: readonly number[] }> = [
  { compression: 'gzip', bytes: [0x1f, 0x8b] },
  { compression: 'xz', bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  { compression: 'zstd', bytes: [0x28, 0xb5, 0x2f, 0xfd] },
  { compression: 'lz4', bytes: [0x02, 0x21, 0x4c, 0x18] },
  { compression: 'bzip2', bytes: [0x42, 0x5a, 0x68] },
  { compression: 'lzo', bytes: [0x89, 0x4c, 0x5a, 0x4f] },
  { compression: 'lzma', bytes: [0x5d, 0x00, 0x00] },
];

/** A vmlinux larger than this is not a kernel: refuse before allocating. */
const MAX_VMLINUX_BYTES = 1024 * 1024 * 1024;

/**
 * Turns an x86 bzImage (`/boot/vmlinuz-*`) into the ELF `vmlinux` inside it:
 * reads the boot header, decompresses the payload (gzip and LZ4 in
 * TypeScript; xz, lzma and zstd through the host's `xz`/`zstd`), and checks
 * that the result is an x86-64 ELF of exactly the size the payload's last four
 * bytes announce. Every failure is a UserError naming the file and what is
 * wrong with it.
 */
export async function extractVmlinux(bzImage: Buffer, options: ExtractVmlinuxOptions = {}): Promise<ExtractedVmlinux> {
  const file = options.file ?? 'bzImage';
  const header = parseBzImageHeader(bzImage, file);
  const payload = bzImage.subarray(header.payloadStart, header.payloadStart + header.payloadLength);
  // The kernel build appends the uncompressed size (u32 LE) to every payload.
  const expectedSize = payload.readUInt32LE(payload.length - 4);
  const compressed = payload.subarray(0, payload.length - 4);
  const compression = detectCompression(compressed);
  const fail = (why: string, cause?: unknown): never => {
    throw new UserError('KERNEL_BAD_BZIMAGE', `cannot extract vmlinux from ${file}: ${why}`, {
      hint: 'the kernel image is damaged or truncated: download the package again',
      cause,
    });
  };
  if (!compression) {
    const magic = compressed.subarray(0, 6).toString('hex');
    fail(`unknown payload compression (magic ${magic} at offset ${header.payloadStart})`);
  }
  if (expectedSize === 0 || expectedSize > MAX_VMLINUX_BYTES) fail(`implausible uncompressed size ${expectedSize} in the payload trailer`);

  let elf: Buffer;
  try {
    elf = await decompress(compression!, compressed, expectedSize, options.signal);
  } catch (error) {
    // What the decompressor says (a failed tool, a corrupt stream) is the "why" of a bad bzImage; anything else passes.
    if (error instanceof BangerError && !DECOMPRESS_FAILURES.has(error.code)) throw error;
    const why = error instanceof Error ? error.message : String(error);
    return fail(`${compression} payload does not decompress: ${why}`, error);
  }
  if (elf.length !== expectedSize) {
    fail(`decompressed ${elf.length} bytes but the payload announces ${expectedSize} (truncated or corrupt payload)`);
  }
  const elfProblem = checkX8664Elf(elf);
  if (elfProblem) fail(`the decompressed payload is not an x86-64 ELF kernel: ${elfProblem}`);
  return { elf, compression: compression! };
}

function detectCompression(data: Buffer): KernelCompression | undefined {
  return MAGICS.find(({ bytes }) => bytes.every((byte, i) => data[i] === byte))?.compression;
}

const DECOMPRESS_FAILURES: ReadonlySet<ErrorCode> = new Set(['HOST_COMMAND_FAILED', 'LZ4_CORRUPT', 'KERNEL_COMPRESSION_UNSUPPORTED']);

async function decompress(kind: KernelCompression, data: Buffer, expectedSize: number, signal?: AbortSignal): Promise<Buffer> {
  switch (kind) {
    case 'gzip':
      return gunzipSync(data, { maxOutputLength: expectedSize + 1 });
    case 'lz4':
      if (data.readUInt32LE(0) !== LZ4_LEGACY_MAGIC) throw new Lz4CorruptError('not an LZ4 legacy frame');
      return decodeLz4Legacy(data, expectedSize);
    case 'xz':
    case 'lzma':
    case 'zstd':
      return decompressWithTool(kind, data, signal);
    default:
      throw new InternalError('KERNEL_COMPRESSION_UNSUPPORTED', `${kind} kernels are not supported (use a kernel built with gzip, LZ4, xz, lzma or zstd)`);
  }
}

/** Why `elf` is not a 64-bit little-endian x86-64 ELF, or undefined when it is one. */
export function checkX8664Elf(elf: Buffer): string | undefined {
  if (elf.length < 64) return `only ${elf.length} bytes`;
  if (elf.readUInt32BE(0) !== 0x7f454c46) return `bad ELF magic ${elf.subarray(0, 4).toString('hex')}`;
  if (elf[4] !== 2) return 'not a 64-bit ELF';
  if (elf[5] !== 1) return 'not little-endian';
  const machine = elf.readUInt16LE(18);
  if (machine !== 0x3e) return `machine type 0x${machine.toString(16)} is not x86-64`;
  return undefined;
}
