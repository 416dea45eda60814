// In-place selection (Hoare partition quickselect, median-of-3 pivot) and the median that numpy.median computes:
// the middle value for an odd count, the mean (a + b) / 2 of the two middle values for an even count.

/** Reorders xs[lo..hi] so that xs[k] holds the k-th smallest (0-based), smaller ones before and larger after. */
export function selectInPlace(
  xs: Float64Array | Float32Array,
  k: number,
  lo = 0,
  hi = xs.length - 1,
): number {
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // median of three: xs[lo] ≤ xs[mid] ≤ xs[hi]
    if (xs[mid] < xs[lo]) swap(xs, mid, lo);
    if (xs[hi] < xs[lo]) swap(xs, hi, lo);
    if (xs[hi] < xs[mid]) swap(xs, hi, mid);
    const pivot = xs[mid];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (xs[i] < pivot) i++;
      while (xs[j] > pivot) j--;
      if (i <= j) {
        const t = xs[i];
        xs[i] = xs[j];
        xs[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return xs[k];
  }
  return xs[k];
}

/** numpy.median of the first n values of xs (reorders them); NaN for n = 0. */
export function medianInPlace(xs: Float64Array | Float32Array, n: number): number {
  if (n === 0) return Number.NaN;
  const k = n >>> 1;
  const upper = selectInPlace(xs, k, 0, n - 1);
  if (n & 1) return upper;
  // the lower middle: the largest value left of k (all ≤ xs[k] after the selection)
  let lower = xs[0];
  for (let i = 1; i < k; i++) if (xs[i] > lower) lower = xs[i];
  return (lower + upper) / 2;
}

function swap(xs: Float64Array | Float32Array, a: number, b: number): void {
  const t = xs[a];
  xs[a] = xs[b];
  xs[b] = t;
}
