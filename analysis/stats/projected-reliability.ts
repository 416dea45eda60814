// When the monitor calls a phase-1 channel unstable: the rule behind the channel-unstable alert (docs/monitor.md),
// beside the phase-end split-half estimator it projects to (reliability.ts).
//
// The phase-end check compares the split-half reliability of the R-trial mean (R = the protocol's repetitions,
// Spearman–Brown corrected) with checks.splitHalfMinR. Mid-phase, each image has been seen k < R times, and the
// reliability of a k-trial mean is lower than that of the R-trial mean even for a perfectly healthy channel.
// With few repeats the estimate is also very noisy. Comparing the running split-half r with the threshold
// therefore flagged most healthy channels early in the phase. The rule here asks instead whether the data show,
// with confidence, that the channel will miss the threshold at the end of the phase:
//
//  1. Only images with ≥ 2 trials so far count. At least `minStimuli` of them are needed (the caller's rule).
//  2. One-way random-effects ANOVA of the per-trial net rates by image (unbalanced: k0 = (N − Σkᵢ²/N)/(n − 1)):
//     F = MSB/MSW with (n − 1, N − n) degrees of freedom, and the single-trial reliability
//     ICC(1) = (F − 1)/(F + k0 − 1) (Shrout & Fleiss 1979).
//  3. Projected to R trials by Spearman–Brown: ρ_R = Rρ₁/(1 + (R − 1)ρ₁) = (F − 1)/(F − 1 + k0/R). This is
//     the quantity the phase-end split-half check estimates.
//  4. One-sided (1 − α) upper confidence bound from the F distribution (McGraw & Wong 1996, case 1):
//     F_U = F / F_α(n − 1, N − n), and ρ_R,upper = (F_U − 1)/(F_U − 1 + k0/R). The channel is unstable when
//     ρ_R,upper < threshold. Equivalently, H0 "ρ_R ≥ threshold" is rejected at level α: with ρ₁* the threshold
//     turned back into a single-trial reliability, p = P(F(n − 1, N − n) ≤ F(1 − ρ₁*)/(1 + (k0 − 1)ρ₁*)) < α.
//
// Once every counted image has all R trials, the caller compares the estimate itself with the threshold (the
// phase-end check's decision), and an alerted channel recovers when the estimate is back at the threshold
// (ChannelStats.unstable). The bound is exact for balanced, normally distributed data; net rates from Poisson
// counts are close to normal at the rates recorded here, and unequal repeats mid-block are handled through k0.
import fCdf from "@stdlib/stats-base-dists-f-cdf";
import fQuantile from "@stdlib/stats-base-dists-f-quantile";

export interface ProjectedReliability {
  /** Images with ≥ 2 trials (n) and their trials (N). */
  stimuli: number;
  trials: number;
  /** Effective trials per image (k0; the mean when every image has the same count). */
  k0: number;
  /** MSB / MSW; Infinity when every image's trials are identical but the images differ. */
  f: number;
  /** Single-trial reliability ICC(1). */
  icc1: number;
  /** Reliability of the mean of `repeats` trials: the point estimate and its one-sided (1 − α) upper bound. */
  projected: number;
  upper: number;
  /** One-sided p of H0 "projected ≥ threshold" (small: the channel is below the threshold). */
  p: number;
  repeats: number;
  alpha: number;
}

/** Spearman–Brown for `repeats` trials written through F, clipped to [−1, 1]. */
function fromF(f: number, k0: number, repeats: number): number {
  if (f === Number.POSITIVE_INFINITY) return 1;
  const d = f - 1 + k0 / repeats;
  if (d <= 0) return -1;
  return Math.max(-1, Math.min(1, (f - 1) / d));
}

/**
 * The projected reliability of a channel's image means at `repeats` trials, from per-image trial values (rows;
 * rows with fewer than 2 values are left out). Null when fewer than 3 images have 2 trials or when every
 * value is the same (no spread to judge).
 */
export function projectedReliability(
  rows: ArrayLike<ArrayLike<number>>,
  repeats: number,
  threshold: number,
  alpha: number,
): ProjectedReliability | null {
  let n = 0;
  let total = 0;
  let sumSq = 0;
  let grand = 0;
  for (let s = 0; s < rows.length; s++) {
    const row = rows[s];
    if (row.length < 2) continue;
    n++;
    total += row.length;
    sumSq += row.length * row.length;
    for (let j = 0; j < row.length; j++) grand += row[j];
  }
  if (n < 3) return null;
  grand /= total;
  let ssb = 0;
  let ssw = 0;
  for (let s = 0; s < rows.length; s++) {
    const row = rows[s];
    if (row.length < 2) continue;
    let m = 0;
    for (let j = 0; j < row.length; j++) m += row[j];
    m /= row.length;
    ssb += row.length * (m - grand) ** 2;
    for (let j = 0; j < row.length; j++) ssw += (row[j] - m) ** 2;
  }
  const dfb = n - 1;
  const dfw = total - n;
  const msb = ssb / dfb;
  const msw = ssw / dfw;
  if (msb === 0 && msw === 0) return null;
  const f = msw === 0 ? Number.POSITIVE_INFINITY : msb / msw;
  const k0 = (total - sumSq / total) / dfb;
  const icc1 = f === Number.POSITIVE_INFINITY ? 1 : (f - 1) / (f + k0 - 1);
  const fu = f / fQuantile(alpha, dfb, dfw);
  // H0 boundary: ρ_R = threshold ⟺ ρ₁* = t / (R − (R − 1)t); there F·(1 − ρ₁*)/(1 + (k0 − 1)ρ₁*) ~ F(dfb, dfw).
  const rho1 = threshold / (repeats - (repeats - 1) * threshold);
  const scale = 1 + (k0 - 1) * rho1;
  const p = scale <= 0 || f === Number.POSITIVE_INFINITY ? 1 : fCdf((f * (1 - rho1)) / scale, dfb, dfw);
  return {
    stimuli: n,
    trials: total,
    k0,
    f,
    icc1,
    projected: fromF(f, k0, repeats),
    upper: fromF(fu, k0, repeats),
    p,
    repeats,
    alpha,
  };
}
