/**
 * Dotted-quad IPv4 text to a 32-bit unsigned number, or undefined. Leading
 * zeros are refused: some tools read `010` as octal, so such an address would
 * mean different things to banger and to `ip`.
 */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

/** A 32-bit unsigned number as dotted-quad IPv4 text. */
export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}
