// Choosing the affinity scale γ: the γ at which the mean affinity between distinct nodes,
// mean_{i≠j} exp(−(1 − cos_ij)/γ), equals a target (default 0.03; ncut-pytorch likewise picks γ by a target degree), estimated on a
// seeded random subset of nodes and found by bisection on log γ (the mean is increasing in γ).
import { mulberry32, shuffleInPlace } from "../random.ts";
import type { NodeMatrix } from "./affinity.ts";
import { badOption } from "./errors.ts";

export const GAMMA_DEFAULTS = { targetDegree: 0.03, subset: 800 } as const;

/** γ giving mean off-diagonal affinity `target` ∈ (0, 1) over a seeded subset of ≤ `subset` unit rows. */
export function gammaForDegree(
  unit: NodeMatrix,
  target: number = GAMMA_DEFAULTS.targetDegree,
  subset: number = GAMMA_DEFAULTS.subset,
  seed = 1,
): number {
  if (!(target > 0 && target < 1)) badOption("targetDegree", target, "a mean affinity in (0, 1)");
  const { n, d, data } = unit;
  const rows = shuffleInPlace(
    Array.from({ length: n }, (_, i) => i),
    mulberry32(seed),
  ).slice(0, Math.min(n, subset));
  // 1 − cos for every pair of the subset.
  const gaps: number[] = [];
  for (let a = 0; a < rows.length; a++)
    for (let b = a + 1; b < rows.length; b++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += data[rows[a] * d + c] * data[rows[b] * d + c];
      gaps.push(Math.max(0, 1 - s));
    }
  if (gaps.length === 0) return 1;
  const meanAt = (gamma: number) => {
    let s = 0;
    for (const g of gaps) s += Math.exp(-g / gamma);
    return s / gaps.length;
  };
  let lo = Math.log(1e-4);
  let hi = Math.log(1e3);
  if (meanAt(Math.exp(lo)) >= target) return Math.exp(lo);
  if (meanAt(Math.exp(hi)) <= target) return Math.exp(hi);
  for (let it = 0; it < 50; it++) {
    const mid = (lo + hi) / 2;
    if (meanAt(Math.exp(mid)) < target) lo = mid;
    else hi = mid;
  }
  return Math.exp((lo + hi) / 2);
}
