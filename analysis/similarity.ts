// Neuron-specific similarity of two images for one channel (Lappe et al. 2024, eq. 2):
//   s(x1, x2) = <a1⊙w, a2⊙w> / (‖a1⊙w‖ ‖a2⊙w‖)
// with a1, a2 the features of x1 and x2 at the channel's readout location and w its readout weights.
// By definition s = 0 when either weighted vector is zero (no shared drive to speak of).

import { ReadoutError } from "./readout/index.ts";

function checkLengths(a1: ArrayLike<number>, a2: ArrayLike<number>, w: ArrayLike<number>): void {
  if (a1.length !== w.length || a2.length !== w.length) {
    throw new ReadoutError(
      "EPHYS_BAD_FEATURES",
      `similarity: expected a1, a2 and w of equal length; found ${a1.length}, ${a2.length} and ${w.length}`,
    );
  }
}

/** s(x1, x2) for features a1, a2 (C values each) and weights w (C). */
export function neuronSimilarity(a1: ArrayLike<number>, a2: ArrayLike<number>, w: ArrayLike<number>): number {
  checkLengths(a1, a2, w);
  let dot = 0;
  let n1 = 0;
  let n2 = 0;
  for (let i = 0; i < w.length; i++) {
    const w2 = w[i] * w[i];
    dot += a1[i] * a2[i] * w2;
    n1 += a1[i] * a1[i] * w2;
    n2 += a2[i] * a2[i] * w2;
  }
  return n1 > 0 && n2 > 0 ? dot / Math.sqrt(n1 * n2) : 0;
}

/** s(x_n, x_ref) for every row n of `rows` (N×C row-major) against `reference` (C), with weights w (C). */
export function similarityToReference(
  rows: Float32Array,
  reference: ArrayLike<number>,
  w: ArrayLike<number>,
): Float64Array {
  const c = w.length;
  if (rows.length % c !== 0) {
    throw new ReadoutError(
      "EPHYS_BAD_FEATURES",
      `similarity: expected rows of ${c} values; found ${rows.length} values`,
    );
  }
  checkLengths(reference, reference, w);
  const ref = new Float64Array(c);
  let nRef = 0;
  for (let i = 0; i < c; i++) {
    ref[i] = reference[i] * w[i] * w[i];
    nRef += reference[i] * reference[i] * w[i] * w[i];
  }
  const n = rows.length / c;
  const out = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    let dot = 0;
    let nr = 0;
    for (let i = 0; i < c; i++) {
      const a = rows[r * c + i];
      dot += a * ref[i];
      nr += a * a * w[i] * w[i];
    }
    out[r] = nr > 0 && nRef > 0 ? dot / Math.sqrt(nr * nRef) : 0;
  }
  return out;
}
