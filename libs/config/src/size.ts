import { UserError } from '@banger/errors';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;

const UNITS: Record<string, number> = { '': 1, b: 1, k: KiB, m: MiB, g: GiB, t: TiB };

/**
 * Parses a size as users write it: `"16G"`, `"512M"`, `"1.5GiB"`, `"8192"`.
 * Units are binary whatever the spelling (`G`, `GB`, `GiB`, `g` all mean
 * 2^30), like qemu-img and Firecracker; a bare number is bytes. Returns whole
 * bytes (rounded down). Throws `CONFIG_BAD_SIZE` naming the text otherwise.
 */
export function parseSize(text: string): number {
  const bytes = trySize(text);
  if (bytes === undefined) {
    throw new UserError('CONFIG_BAD_SIZE', `invalid size "${text}": expected a number with an optional unit K, M, G or T`, {
      hint: 'write sizes like "16G", "512M" or "1.5T" (binary units)',
    });
  }
  return bytes;
}

/** `parseSize` that returns undefined instead of throwing. */
export function trySize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(text);
  if (!match) return undefined;
  const [, number, unit = '', suffix] = match;
  // "8192b" is fine, "8192ib" is not a unit anyone writes.
  if (suffix && !unit && suffix.toLowerCase() !== 'b') return undefined;
  const factor = UNITS[unit.toLowerCase()];
  if (factor === undefined) return undefined;
  const bytes = Math.floor(Number(number) * factor);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/**
 * Renders bytes the way banger prints sizes: the largest binary unit that
 * keeps at most one decimal ("8 GiB", "1.5 GiB", "512 MiB").
 */
export function formatSize(bytes: number): string {
  const units: Array<[string, number]> = [
    ['TiB', TiB],
    ['GiB', GiB],
    ['MiB', MiB],
    ['KiB', KiB],
  ];
  for (const [name, factor] of units) {
    if (bytes >= factor) {
      const value = bytes / factor;
      const shown = Number.isInteger(value) ? String(value) : value.toFixed(1).replace(/\.0$/, '');
      return `${shown} ${name}`;
    }
  }
  return `${bytes} B`;
}
