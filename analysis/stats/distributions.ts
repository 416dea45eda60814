// Tail probabilities and the normal quantile, on top of @stdlib's CDFs (no hand-written special functions).
import chisquareCdf from "@stdlib/stats-base-dists-chisquare-cdf";
import normalCdf from "@stdlib/stats-base-dists-normal-cdf";
import tCdf from "@stdlib/stats-base-dists-t-cdf";

/** Standard normal upper tail P(Z > z), computed as Φ(−z) so that small tails keep full relative precision. */
export function normalSf(z: number): number {
  return normalCdf(-z, 0, 1);
}

/** Two-sided p of Student's t with `df` degrees of freedom: 2·P(T > |t|), via the lower tail at −|t|. */
export function tTwoSidedP(t: number, df: number): number {
  return Math.min(1, 2 * tCdf(-Math.abs(t), df));
}

/** Chi-square upper tail P(X > x) = 1 − F(x); absolute accuracy ~1e-16 (tiny tails lose relative precision). */
export function chiSquareSf(x: number, df: number): number {
  return Math.max(0, 1 - chisquareCdf(x, df));
}

/**
 * Standard normal quantile Φ⁻¹(p) for 0 < p < 1: Acklam's rational approximation (relative error < 1.2e-9)
 * refined by two Halley steps on @stdlib's Φ, which brings it to double precision.
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) {
    if (p === 0) return Number.NEGATIVE_INFINITY;
    if (p === 1) return Number.POSITIVE_INFINITY;
    return Number.NaN; // callers validate p first
  }
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const pLow = 0.02425;
  let x: number;
  if (p < pLow) {
    const q = Math.sqrt(-2 * Math.log(p));
    x =
      (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - pLow) {
    const q = p - 0.5;
    const r = q * q;
    x =
      ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
      (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x =
      -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  for (let step = 0; step < 2; step++) {
    // Halley on f(x) = Φ(x) − p, using the tail that is small for accuracy far from the centre.
    const e = x < 0 ? normalCdf(x, 0, 1) - p : 1 - p - normalCdf(-x, 0, 1);
    const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
    x = x - u / (1 + (x * u) / 2);
  }
  return x;
}
