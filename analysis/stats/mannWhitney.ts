// Mann–Whitney U test with scipy.stats.mannwhitneyu semantics (SciPy 1.10, Debian's; ≥ 1.7 behaviour).
import { normalSf } from "./distributions.ts";
import { StatsInputError } from "./errors.ts";
import { averageRanks, tieTerm } from "./ranks.ts";
import { requireFiniteVector } from "./validate.ts";

export type Alternative = "two-sided" | "less" | "greater";
export type MannWhitneyMethod = "auto" | "exact" | "asymptotic";

export interface MannWhitneyOptions {
  /** "less": x stochastically smaller than y; "greater": larger. Default "two-sided". */
  alternative?: Alternative;
  /** "auto" (default): exact when min(n, m) ≤ 8 and no value is tied (SciPy 1.10 rule) and the exact work is
   *  ≤ EXACT_WORK_LIMIT (ours: SciPy would grind on), else asymptotic normal with the tie correction. */
  method?: MannWhitneyMethod;
  /** Continuity correction of 1/2 in the asymptotic z; default true; no effect on the exact path. */
  continuity?: boolean;
}

export interface MannWhitneyResult {
  /** U of the FIRST sample: R_x − n_x(n_x+1)/2 with average ranks; U_x + U_y = n_x·n_y. */
  u: number;
  /** p-value in [0, 1]. */
  p: number;
  /** The path that produced p (after "auto" has chosen). */
  method: "exact" | "asymptotic";
}

/** Largest min(n,m)·(K+1) BigInt additions the exact path may spend (≈ 0.5 s at 200 vs 200); beyond it "auto" goes asymptotic, "exact" throws. */
export const EXACT_WORK_LIMIT = 5e6;

const ALTERNATIVES: readonly Alternative[] = ["two-sided", "less", "greater"];
const METHODS: readonly MannWhitneyMethod[] = ["auto", "exact", "asymptotic"];

// Degenerate input: empty x/y, NaN/±Infinity, bad option, or method "exact" with ties → throws EPHYS_BAD_STATS_INPUT;
// every value tied (asymptotic σ = 0, where SciPy gives 1 or NaN) → p = 1.
export function mannWhitneyU(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  options: MannWhitneyOptions = {},
): MannWhitneyResult {
  const fn = "mannWhitneyU";
  requireFiniteVector(fn, "x", x, 1);
  requireFiniteVector(fn, "y", y, 1);
  const alternative = options.alternative ?? "two-sided";
  const method = options.method ?? "auto";
  const continuity = options.continuity ?? true;
  if (!ALTERNATIVES.includes(alternative)) {
    throw new StatsInputError(fn, "options.alternative", String(alternative), ALTERNATIVES.join(" | "));
  }
  if (!METHODS.includes(method)) {
    throw new StatsInputError(fn, "options.method", String(method), METHODS.join(" | "));
  }
  if (typeof continuity !== "boolean") {
    throw new StatsInputError(fn, "options.continuity", String(continuity), "a boolean");
  }

  const n1 = x.length;
  const n2 = y.length;
  const xy = new Float64Array(n1 + n2);
  for (let i = 0; i < n1; i++) xy[i] = x[i];
  for (let j = 0; j < n2; j++) xy[n1 + j] = y[j];
  const ranks = averageRanks(xy);
  let r1 = 0;
  for (let i = 0; i < n1; i++) r1 += ranks[i];
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const u2 = n1 * n2 - u1;
  const ties = tieTerm(xy);

  // The statistic whose upper tail is the p-value, and the factor for two sides (Mann & Whitney 1947).
  const [u, factor] =
    alternative === "greater" ? [u1, 1] : alternative === "less" ? [u2, 1] : [Math.max(u1, u2), 2];

  let chosen: "exact" | "asymptotic";
  if (method === "exact") {
    if (ties > 0) {
      throw new StatsInputError(
        fn,
        "options.method",
        '"exact" with tied values',
        '"auto" or "asymptotic" (the exact null distribution assumes no ties)',
      );
    }
    if (exactWork(n1, n2, u) > EXACT_WORK_LIMIT) {
      throw new StatsInputError(
        fn,
        "options.method",
        `"exact" for n=${n1}, m=${n2}`,
        `samples small enough for the exact distribution (work ≤ ${EXACT_WORK_LIMIT}) or "asymptotic"`,
      );
    }
    chosen = "exact";
  } else if (method === "asymptotic") {
    chosen = "asymptotic";
  } else {
    chosen =
      (n1 > 8 && n2 > 8) || ties > 0 || exactWork(n1, n2, u) > EXACT_WORK_LIMIT ? "asymptotic" : "exact";
  }

  let p: number;
  if (chosen === "exact") {
    p = exactUpperTail(u, n1, n2);
  } else {
    const n = n1 + n2;
    // σ of U with the tie correction: √(n1 n2 / 12 · ((n + 1) − Σ(t³ − t) / (n(n − 1)))).
    const variance = ((n1 * n2) / 12) * (n + 1 - (n > 1 ? ties / (n * (n - 1)) : 0));
    if (!(variance > 0)) return { u: u1, p: 1, method: chosen };
    const z = (u - (n1 * n2) / 2 - (continuity ? 0.5 : 0)) / Math.sqrt(variance);
    p = normalSf(z);
  }
  return { u: u1, p: Math.min(1, Math.max(0, p * factor)), method: chosen };
}

/** Additions the exact tail for statistic u costs: min(n1, n2)·(K + 1) with K the shorter tail's length. */
function exactWork(n1: number, n2: number, u: number): number {
  const k = Math.min(n1 * n2 - Math.ceil(u), Math.floor(u)); // both tails are summed from the short side
  return Math.min(n1, n2) * (Math.max(0, k) + 1);
}

/**
 * P(U ≥ u) under H0 without ties, exactly: the counts of U are the coefficients of the Gaussian binomial
 * [n1+n2 choose n1]_q = Π_{i=1..m} (1 − q^{n+i}) / (1 − q^i) (m = min, n = max), built in BigInt up to the
 * needed degree; P(U ≥ u) = P(U ≤ n1·n2 − u) by symmetry.
 */
export function exactUpperTail(u: number, n1: number, n2: number): number {
  const mn = n1 * n2;
  const uInt = Math.ceil(u - 1e-9); // U is an integer without ties
  if (uInt <= 0) return 1;
  if (uInt > mn) return 0;
  const k = mn - uInt; // P(U ≥ u) = P(U ≤ k)
  const shortSide = Math.min(k, uInt - 1); // P(U ≤ k) = 1 − P(U ≤ u − 1) by symmetry, pick the shorter sum
  const counts = gaussianBinomialCounts(n1, n2, shortSide);
  let partial = 0n;
  for (let j = 0; j <= shortSide; j++) partial += counts[j];
  const total = binomial(n1 + n2, Math.min(n1, n2));
  return shortSide === k ? ratio(partial, total) : ratio(total - partial, total);
}

/** Coefficients 0 … degree of [n1+n2 choose n1]_q: the number of arrangements with U = k. */
function gaussianBinomialCounts(n1: number, n2: number, degree: number): bigint[] {
  const m = Math.min(n1, n2);
  const n = Math.max(n1, n2);
  const c: bigint[] = new Array(degree + 1).fill(0n);
  c[0] = 1n;
  for (let i = 1; i <= m; i++) {
    for (let k = degree; k >= n + i; k--) c[k] -= c[k - n - i]; // × (1 − q^{n+i})
    for (let k = i; k <= degree; k++) c[k] += c[k - i]; // ÷ (1 − q^i)
  }
  return c;
}

function binomial(n: number, k: number): bigint {
  let result = 1n;
  for (let i = 1; i <= k; i++) result = (result * BigInt(n - k + i)) / BigInt(i);
  return result;
}

/** a / b for non-negative BigInts as a correctly scaled double (relative error ~1e-16). */
function ratio(a: bigint, b: bigint): number {
  if (a === 0n) return 0;
  let shift = b.toString(2).length - a.toString(2).length + 64;
  let value = shift >= 0 ? Number((a << BigInt(shift)) / b) : Number(a / b);
  if (shift < 0) shift = 0;
  while (shift > 1000) {
    value *= 2 ** -1000;
    shift -= 1000;
  }
  return value * 2 ** -shift;
}
