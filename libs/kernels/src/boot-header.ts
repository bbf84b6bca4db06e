import { UserError } from '@banger/errors';

/** What the x86 boot protocol header of a bzImage says about its compressed kernel. */
export interface BzImageHeader {
  /** Boot protocol version, e.g. 0x020f. */
  protocolVersion: number;
  /** Number of 512-byte setup sectors after the boot sector. */
  setupSects: number;
  /** Absolute file offset of the compressed payload. */
  payloadStart: number;
  /** Length of the compressed payload, including its trailing 4-byte size. */
  payloadLength: number;
}

const HDRS_MAGIC = 0x53726448; // "HdrS" little-endian
/** payload_offset/payload_length appeared in boot protocol 2.08. */
const MIN_PROTOCOL = 0x0208;

/**
 * Reads the boot-protocol header of an x86 bzImage (Documentation/x86/boot.rst):
 * `setup_sects`@0x1F1, `HdrS`@0x202, version@0x206, `payload_offset`@0x248,
 * `payload_length`@0x24C. The payload starts after the real-mode setup code,
 * i.e. at `(setup_sects + 1) * 512 + payload_offset`.
 * Throws a UserError naming `file` and the broken field when the header is not there or does
 * not fit the file.
 */
export function parseBzImageHeader(bzImage: Buffer, file = 'bzImage'): BzImageHeader {
  const fail = (why: string): never => {
    throw new UserError('KERNEL_BAD_BZIMAGE', `cannot read kernel image ${file}: ${why}`, {
      hint: 'pass the vmlinuz/bzImage file from a kernel package (boot/vmlinuz-<version>)',
    });
  };
  if (bzImage.length < 0x250) fail(`file is only ${bzImage.length} bytes, too short for a boot header`);
  if (bzImage.readUInt32LE(0x202) !== HDRS_MAGIC) fail('no "HdrS" boot header signature at offset 0x202 (not an x86 bzImage)');
  const protocolVersion = bzImage.readUInt16LE(0x206);
  if (protocolVersion < MIN_PROTOCOL) {
    fail(`boot protocol ${formatProtocol(protocolVersion)} is older than 2.08 and has no payload fields`);
  }
  // A zero setup_sects means 4, for compatibility with ancient images.
  const setupSects = bzImage.readUInt8(0x1f1) || 4;
  const payloadOffset = bzImage.readUInt32LE(0x248);
  const payloadLength = bzImage.readUInt32LE(0x24c);
  const payloadStart = (setupSects + 1) * 512 + payloadOffset;
  if (payloadLength < 8) fail(`payload_length ${payloadLength} is too small`);
  if (payloadStart + payloadLength > bzImage.length) {
    fail(
      `payload (offset ${payloadStart}, length ${payloadLength}) runs past the end of the file ` +
        `(${bzImage.length} bytes): the file is truncated`,
    );
  }
  return { protocolVersion, setupSects, payloadStart, payloadLength };
}

function formatProtocol(version: number): string {
  return `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`;
}
