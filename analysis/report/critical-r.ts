// The significance threshold of a correlation (the dashed line of Fig. 3a, Lappe et al. 2024): the smallest |r|
// whose two-sided p from t = r·√((n−2)/(1−r²)) is below α, i.e. r_c = t_c / √(n − 2 + t_c²), t_c = t_{1−α/2, n−2}.
import { tTwoSidedP } from "../stats/index.ts";
import { ReportError } from "./errors.ts";

/** Student-t quantile t_{1−α/2, df} by bisection on the two-sided p (monotone in t); 1e-13 relative. */
function tCritical(alpha: number, df: number): number {
  let lo = 0;
  let hi = 1;
  while (tTwoSidedP(hi, df) > alpha) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-13 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (tTwoSidedP(mid, df) > alpha) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Critical Pearson r for n pairs at two-sided level α (default 0.05); n ≥ 3. */
export function criticalR(n: number, alpha = 0.05): number {
  if (!(Number.isInteger(n) && n >= 3)) {
    throw new ReportError(
      "EPHYS_BAD_REPORT_DATA",
      `criticalR: n: expected an integer number of pairs ≥ 3; found ${n}`,
    );
  }
  if (!(alpha > 0 && alpha < 1)) {
    throw new ReportError(
      "EPHYS_BAD_REPORT_DATA",
      `criticalR: alpha: expected a level in (0, 1); found ${alpha}`,
    );
  }
  const t = tCritical(alpha, n - 2);
  return t / Math.sqrt(n - 2 + t * t);
}
