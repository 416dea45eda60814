// Kruskal–Wallis H test with the tie correction and a chi-square p (scipy.stats.kruskal).
import { chiSquareSf } from "./distributions.ts";
import { StatsInputError } from "./errors.ts";
import { averageRanks, tieTerm } from "./ranks.ts";
import { requireFiniteVector } from "./validate.ts";

export interface KruskalWallisResult {
  /** H = [12/(N(N+1)) Σ R_g²/n_g − 3(N+1)] / (1 − Σ(t³−t)/(N³−N)). */
  h: number;
  /** Upper tail of chi-square with (groups − 1) df at H; absolute accuracy ~1e-16. */
  p: number;
  /** Degrees of freedom, groups − 1. */
  df: number;
}

// Degenerate input: < 2 groups, an empty group, NaN/±Infinity → throws EPHYS_BAD_STATS_INPUT;
// every value identical (SciPy raises) → h = 0, p = 1.
export function kruskalWallis(...groups: ArrayLike<number>[]): KruskalWallisResult {
  const fn = "kruskalWallis";
  if (groups.length < 2) {
    throw new StatsInputError(fn, "groups", `${groups.length} group(s)`, "at least 2 groups");
  }
  for (let i = 0; i < groups.length; i++) requireFiniteVector(fn, `groups[${i}]`, groups[i], 1);
  const sizes = groups.map((g) => g.length);
  const total = sizes.reduce((a, b) => a + b, 0);
  const all = new Float64Array(total);
  let offset = 0;
  for (const g of groups) {
    for (let i = 0; i < g.length; i++) all[offset + i] = g[i];
    offset += g.length;
  }
  const df = groups.length - 1;
  const correction = 1 - tieTerm(all) / (total * total * total - total);
  if (!(correction > 0)) return { h: 0, p: 1, df };
  const ranks = averageRanks(all);
  let ssbn = 0;
  offset = 0;
  for (const size of sizes) {
    let sum = 0;
    for (let i = 0; i < size; i++) sum += ranks[offset + i];
    ssbn += (sum * sum) / size;
    offset += size;
  }
  const h = ((12 / (total * (total + 1))) * ssbn - 3 * (total + 1)) / correction;
  return { h, p: chiSquareSf(h, df), df };
}
