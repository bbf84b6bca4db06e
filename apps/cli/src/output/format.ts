/** Prints a value as the stable `--json` form: 2-space indented, one trailing newline. */
export const toJson = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

/** "3d 4h", "2h 5m", "5m 12s", "12s": the two largest units, for uptimes. */
export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const units: Array<[string, number]> = [
    ['d', Math.floor(s / 86400)],
    ['h', Math.floor(s / 3600) % 24],
    ['m', Math.floor(s / 60) % 60],
    ['s', s % 60],
  ];
  const first = units.findIndex(([, n]) => n > 0);
  if (first === -1) return '0s';
  return units
    .slice(first, first + 2)
    .filter(([, n]) => n > 0)
    .map(([u, n]) => `${n}${u}`)
    .join(' ');
}

/** Aligned `key: value` lines under a heading. */
export function keyValues(rows: Array<[string, string]>): string {
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return rows.map(([k, v]) => `  ${`${k}:`.padEnd(width + 1)}${v}`).join('\n');
}
