/**
 * Optimal-string-alignment distance: Levenshtein plus adjacent
 * transpositions, so "vpcu" is one edit from "vcpu" like a typo feels.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate closest to `input`, or undefined when none is close enough to
 * be a plausible typo. Case and `-` vs `_` are ignored; a candidate that
 * extends the input at a word boundary ("memory" → "memory_mib") also counts.
 */
export function closestMatch(input: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/-/g, '_');
  const wanted = norm(input);
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const c = norm(candidate);
    let distance = editDistance(wanted, c);
    if (wanted.length >= 3 && (c.startsWith(`${wanted}_`) || wanted.startsWith(`${c}_`))) distance = Math.min(distance, 1);
    if (!best || distance < best.distance) best = { candidate, distance };
  }
  if (!best) return undefined;
  // One edit per three characters keeps "vcpus"→"vcpu" and rejects "mode"→"host".
  const allowed = Math.max(1, Math.floor(wanted.length / 3));
  return best.distance <= allowed ? best.candidate : undefined;
}
