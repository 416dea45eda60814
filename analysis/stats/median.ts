// The median: the middle value, or the mean of the two middle values of an even count (as numpy.median). The one
// median of the code base, so that a log line and the report give the same number for the same values.
import { requireFiniteVector } from "./validate.ts";

/** Median of finite values (at least one); throws EPHYS_BAD_STATS_INPUT on an empty list or a non-finite value. */
export function median(values: ArrayLike<number>): number {
  requireFiniteVector("median", "values", values, 1);
  const v = Float64Array.from(values).sort();
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}
