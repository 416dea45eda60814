// Wilcoxon signed-rank test, two-sided, with scipy.stats.wilcoxon(x, y, zero_method="wilcox", correction=False)
// semantics (SciPy 1.10, Debian's: its "auto" is exact when len(d) ≤ 50 and no d is zero; ours adds "and no |d| is
// tied", where SciPy 1.10 would truncate a non-integer W+ into the untied exact distribution).
import { normalSf } from "./distributions.ts";
import { StatsInputError } from "./errors.ts";
import { averageRanks, tieTerm } from "./ranks.ts";
import { requireFiniteVector, requireSameLength } from "./validate.ts";

export type SignedRankMethod = "auto" | "exact" | "asymptotic";

export interface SignedRankOptions {
  /** "auto" (default): exact when there are at most SIGNED_RANK_EXACT_MAX differences, none zero and no |d| tied;
   *  else the normal approximation with the tie correction (no continuity correction). */
  method?: SignedRankMethod;
}

export interface SignedRankResult {
  /** SciPy's two-sided statistic: min(W+, W−), the smaller sum of the ranks of |d| by sign (average ranks). */
  statistic: number;
  /** Two-sided p-value in [0, 1]. */
  p: number;
  /** Differences that entered the ranks: the non-zero ones (zero_method "wilcox" drops zeros). */
  n: number;
  /** The path that produced p (after "auto" has chosen). */
  method: "exact" | "asymptotic";
}

/** Largest number of differences (zeros included, as SciPy 1.10 counts them) "auto" takes to the exact path. */
export const SIGNED_RANK_EXACT_MAX = 50;
/** Largest n method "exact" accepts (n·n(n+1)/4 additions; 2^n stays a finite double). */
const EXACT_N_LIMIT = 500;

const METHODS: readonly SignedRankMethod[] = ["auto", "exact", "asymptotic"];

// d = x − y (or x alone); zeros are dropped. Throws EPHYS_BAD_STATS_INPUT on empty or non-finite input, x and y of
// different lengths, every d zero (SciPy raises too), a bad method, or method "exact" with zeros, ties or n > 500.
export function wilcoxonSignedRank(
  x: ArrayLike<number>,
  y?: ArrayLike<number>,
  options: SignedRankOptions = {},
): SignedRankResult {
  const fn = "wilcoxonSignedRank";
  requireFiniteVector(fn, "x", x, 1);
  if (y !== undefined) {
    requireFiniteVector(fn, "y", y, 1);
    requireSameLength(fn, x, y);
  }
  const method = options.method ?? "auto";
  if (!METHODS.includes(method)) {
    throw new StatsInputError(fn, "options.method", String(method), METHODS.join(" | "));
  }

  const nonZero: number[] = [];
  for (let i = 0; i < x.length; i++) {
    const d = y === undefined ? x[i] : x[i] - y[i];
    if (d !== 0) nonZero.push(d);
  }
  const zeros = x.length - nonZero.length;
  const n = nonZero.length;
  if (n === 0) {
    throw new StatsInputError(
      fn,
      y === undefined ? "x" : "x − y",
      "every difference zero",
      "at least one non-zero difference",
    );
  }

  const magnitudes = nonZero.map(Math.abs);
  const ranks = averageRanks(magnitudes);
  let wPlus = 0;
  let wMinus = 0;
  for (let i = 0; i < n; i++) {
    if (nonZero[i] > 0) wPlus += ranks[i];
    else wMinus += ranks[i];
  }
  const statistic = Math.min(wPlus, wMinus);
  const ties = tieTerm(magnitudes);

  let chosen: "exact" | "asymptotic";
  if (method === "exact") {
    if (zeros > 0 || ties > 0) {
      throw new StatsInputError(
        fn,
        "options.method",
        `"exact" with ${zeros > 0 ? "zero differences" : "tied |differences|"}`,
        '"auto" or "asymptotic" (the exact null distribution assumes neither zeros nor ties)',
      );
    }
    if (n > EXACT_N_LIMIT) {
      throw new StatsInputError(
        fn,
        "options.method",
        `"exact" for n=${n}`,
        `n ≤ ${EXACT_N_LIMIT} or "asymptotic"`,
      );
    }
    chosen = "exact";
  } else if (method === "asymptotic") {
    chosen = "asymptotic";
  } else {
    chosen = x.length <= SIGNED_RANK_EXACT_MAX && zeros === 0 && ties === 0 ? "exact" : "asymptotic";
  }

  let p: number;
  if (chosen === "exact") {
    p = exactTwoSided(wPlus, n);
  } else {
    // Under H0 W+ has mean n(n+1)/4 and variance (n(n+1)(2n+1) − Σ(t³ − t)/2) / 24.
    const mean = (n * (n + 1)) / 4;
    const sd = Math.sqrt((n * (n + 1) * (2 * n + 1) - 0.5 * ties) / 24);
    p = 2 * normalSf(Math.abs((statistic - mean) / sd));
  }
  return { statistic, p: Math.min(1, Math.max(0, p)), n, method: chosen };
}

/**
 * Two-sided exact p of W+ = w without ties: 2·min(P(W+ ≤ w), P(W+ ≥ w)), capped at 1 (1 at the centre, as SciPy).
 * The counts of W+ = k are the coefficients of Π_{i=1..n} (1 + q^i); every count and partial sum is an integer
 * ≤ 2^n, exact in a double for n ≤ 53, beyond which the relative error stays ~1e-16 per term.
 */
function exactTwoSided(w: number, n: number): number {
  const max = (n * (n + 1)) / 2;
  const counts = new Float64Array(max + 1);
  counts[0] = 1;
  for (let i = 1; i <= n; i++) {
    for (let k = (i * (i + 1)) / 2; k >= i; k--) counts[k] += counts[k - i];
  }
  const wInt = Math.round(w);
  if (wInt === Math.floor(max / 2)) return 1;
  let below = 0; // counts of W+ ≤ w
  for (let k = 0; k <= wInt; k++) below += counts[k];
  let above = 0; // counts of W+ ≥ w
  for (let k = wInt; k <= max; k++) above += counts[k];
  return Math.min(1, (2 * Math.min(below, above)) / 2 ** n);
}
