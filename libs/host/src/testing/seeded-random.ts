/**
 * A seeded PRNG (mulberry32) returning floats in [0, 1): fuzz tests draw from
 * it so a failure is reproduced by its seed alone.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The fuzz seed: `BANGER_FUZZ_SEED` when set (to hunt with another one), else the test's fixed default. */
export const fuzzSeed = (fallback: number): number => Number(process.env['BANGER_FUZZ_SEED'] ?? fallback);
