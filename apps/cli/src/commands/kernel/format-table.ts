/**
 * Left-aligned columns separated by two spaces, header first; `-` stands in
 * for empty cells so columns never collapse. Trailing spaces are trimmed.
 */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const cells = [header, ...rows].map((row) => row.map((cell) => (cell === '' ? '-' : cell)));
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i]?.length ?? 0)));
  return cells.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** `2026-11-30 01:52`: a compact UTC timestamp for tables. */
export const shortTime = (iso: string): string => iso.slice(0, 16).replace('T', ' ');
