// Ranks with ties averaged (scipy.stats.rankdata, method="average") and the tie term Σ(t³ − t).

/** 1-based ranks of `values`; tied values share the mean of the ranks they span. */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => values[i] - values[j]);
  const ranks = new Float64Array(n);
  let start = 0;
  while (start < n) {
    let end = start + 1;
    while (end < n && values[order[end]] === values[order[start]]) end++;
    const rank = (start + 1 + end) / 2; // mean of ranks start+1 … end
    for (let k = start; k < end; k++) ranks[order[k]] = rank;
    start = end;
  }
  return ranks;
}

/** Σ over groups of tied values of (t³ − t), t the group size; 0 when all values are distinct. */
export function tieTerm(values: ArrayLike<number>): number {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  let start = 0;
  while (start < sorted.length) {
    let end = start + 1;
    while (end < sorted.length && sorted[end] === sorted[start]) end++;
    const t = end - start;
    sum += t * t * t - t;
    start = end;
  }
  return sum;
}
