// Pearson and Spearman correlation with two-sided t-test p-values and Fisher-z confidence intervals.
import { normalQuantile, tTwoSidedP } from "./distributions.ts";
import { StatsInputError } from "./errors.ts";
import { averageRanks } from "./ranks.ts";
import { isConstant, requireFiniteVector, requireSameLength } from "./validate.ts";

export interface Correlation {
  /** The correlation coefficient, in [−1, 1]. */
  r: number;
  /** Two-sided p for H0: ρ = 0 from t = r·√((n−2)/(1−r²)) with n−2 df (scipy.stats.pearsonr / spearmanr). */
  p: number;
  /** Number of pairs. */
  n: number;
  /** Fisher-z 95 % interval for ρ: tanh(atanh r ± 1.959964/√(n−3)); [−1, 1] when n ≤ 3. */
  ci95: [number, number];
  /** True when x or y was constant: then r = 0, p = 1, ci95 = [−1, 1] by definition (SciPy gives NaN). */
  constantInput: boolean;
}

/**
 * Fisher-z confidence interval for a correlation r from n pairs at confidence `level` (0 < level < 1):
 * [tanh(z − h/√(n−3)), tanh(z + h/√(n−3))], z = atanh r, h = Φ⁻¹((1+level)/2); [−1, 1] when n ≤ 3
 * (as SciPy's PearsonRResult.confidence_interval). r = ±1 gives the degenerate interval [r, r].
 */
export function fisherZInterval(r: number, n: number, level = 0.95): [number, number] {
  if (!(Number.isFinite(r) && r >= -1 && r <= 1)) {
    throw new StatsInputError("fisherZInterval", "r", String(r), "a correlation in [-1, 1]");
  }
  if (!(Number.isInteger(n) && n >= 2)) {
    throw new StatsInputError("fisherZInterval", "n", String(n), "an integer number of pairs ≥ 2");
  }
  if (!(level > 0 && level < 1)) {
    throw new StatsInputError("fisherZInterval", "level", String(level), "a confidence level in (0, 1)");
  }
  if (n <= 3) return [-1, 1];
  const z = Math.atanh(r);
  const h = normalQuantile(0.5 + level / 2) / Math.sqrt(n - 3);
  return [Math.tanh(z - h), Math.tanh(z + h)];
}

// Degenerate input: n < 3 or NaN/±Infinity or unequal lengths → throws EPHYS_BAD_STATS_INPUT; a constant x or y → r=0, p=1.
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): Correlation {
  return correlate("pearson", x, y, false);
}

// Same degenerate-input policy as pearson; ties get average ranks; all values tied = constant → r=0, p=1.
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): Correlation {
  return correlate("spearman", x, y, true);
}

function correlate(fn: string, x: ArrayLike<number>, y: ArrayLike<number>, ranked: boolean): Correlation {
  requireFiniteVector(fn, "x", x, 3);
  requireFiniteVector(fn, "y", y, 3);
  requireSameLength(fn, x, y);
  const n = x.length;
  if (isConstant(x) || isConstant(y)) return { r: 0, p: 1, n, ci95: [-1, 1], constantInput: true };
  const r = ranked ? pearsonR(fn, averageRanks(x), averageRanks(y)) : pearsonR(fn, x, y);
  if (Number.isNaN(r)) return { r: 0, p: 1, n, ci95: [-1, 1], constantInput: true };
  const p = Math.abs(r) === 1 ? 0 : tTwoSidedP(r * Math.sqrt((n - 2) / ((1 - r) * (1 + r))), n - 2);
  return { r, p, n, ci95: fisherZInterval(r, n, 0.95), constantInput: false };
}

/**
 * r = Σ(x − x̄)(y − ȳ) / √(Σ(x − x̄)² · Σ(y − ȳ)²), clipped to [−1, 1]; identical (or mirrored) rank vectors give
 * exactly ±1 (as SciPy's spearmanr). NaN when a centred sum of squares is 0 (constant up to rounding); throws on overflow.
 */
function pearsonR(fn: string, x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    sxx += dx * dx;
    syy += dy * dy;
    sxy += dx * dy;
  }
  if (!Number.isFinite(sxx))
    throw new StatsInputError(fn, "x", "values whose squared deviations overflow", "finite sums");
  if (!Number.isFinite(syy))
    throw new StatsInputError(fn, "y", "values whose squared deviations overflow", "finite sums");
  if (sxx === 0 || syy === 0) return Number.NaN;
  const product = sxx * syy;
  const r =
    Number.isFinite(product) && product > 0
      ? sxy / Math.sqrt(product)
      : sxy / Math.sqrt(sxx) / Math.sqrt(syy);
  return Math.max(-1, Math.min(1, r));
}
