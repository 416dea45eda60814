// Small deterministic pseudo-random generators for reproducible analyses (splits, shuffles, sampling).
// mulberry32: a 32-bit state generator (Tommy Ettinger's public-domain design); not cryptographic.

/** A generator of uniform floats in [0, 1) with 32 bits of resolution. */
export type Random = () => number;

/** mulberry32 seeded with the low 32 bits of `seed` (an integer); the same seed gives the same sequence. */
export function mulberry32(seed: number): Random {
  if (!Number.isInteger(seed)) {
    throw Object.assign(new Error(`mulberry32: seed must be an integer; found ${seed}`), {
      code: "EPHYS_BAD_SEED",
    });
  }
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform integer in [0, n) from `random` (floor(u·n); n ≤ 2^32 keeps the bias below 2^-32·n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random() * n);
}

/** Fisher–Yates shuffle in place (i from the end down to 1, j = randomInt(random, i + 1)); returns `items`. */
export function shuffleInPlace<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}
