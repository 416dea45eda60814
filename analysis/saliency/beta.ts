// Reweighting of the shared features (Lappe et al. 2024) and the choice of the features that carry its mass.
import { SaliencyError } from "./errors.ts";

/** β_i = a_in,i w_i · a_out,i w_i / (‖a_in⊙w‖ ‖a_out⊙w‖), so Σ_i β_i = s(x_in, x_out) (eq. 5); all zeros if a norm is 0. */
export function beta(aIn: ArrayLike<number>, aOut: ArrayLike<number>, w: ArrayLike<number>): Float64Array {
  if (aIn.length !== w.length || aOut.length !== w.length) {
    throw new SaliencyError(
      "EPHYS_BAD_SALIENCY",
      `beta: expected aIn, aOut and w of equal length; found ${aIn.length}, ${aOut.length} and ${w.length}`,
    );
  }
  let nIn = 0;
  let nOut = 0;
  for (let i = 0; i < w.length; i++) {
    nIn += (aIn[i] * w[i]) ** 2;
    nOut += (aOut[i] * w[i]) ** 2;
  }
  const out = new Float64Array(w.length);
  if (!(nIn > 0 && nOut > 0)) return out;
  const scale = 1 / Math.sqrt(nIn * nOut);
  for (let i = 0; i < w.length; i++) out[i] = aIn[i] * w[i] * aOut[i] * w[i] * scale;
  return out;
}

export interface MassSelection {
  /** Kept feature indices, by |β| descending (ties: lower index first). */
  indices: number[];
  /** Σ over the dropped features of |β_i|: an exact bound on ‖I_k − I_full‖ (each term has unit norm). */
  dropped: number;
  /** The allowed dropped mass, max(0, ε·s). */
  threshold: number;
}

/**
 * The smallest set of features, taken by |β| descending, whose dropped mass Σ_dropped |β_i| ≤ ε·s.
 * With post-ReLU features (a ≥ 0) every β_i ≥ 0, so |β| = β and Σ|β| = s; |β| keeps the bound exact otherwise.
 * ε = 0 keeps every feature with β ≠ 0 (the full map).
 */
export function massSelection(betas: ArrayLike<number>, s: number, epsilon: number): MassSelection {
  if (!(Number.isFinite(epsilon) && epsilon >= 0 && epsilon < 1)) {
    throw new SaliencyError("EPHYS_BAD_SALIENCY", `epsilon: expected a number in [0, 1); found ${epsilon}`);
  }
  if (!Number.isFinite(s))
    throw new SaliencyError("EPHYS_BAD_SALIENCY", `s: expected a finite number; found ${s}`);
  const order = Array.from({ length: betas.length }, (_, i) => i).sort(
    (a, b) => Math.abs(betas[b]) - Math.abs(betas[a]) || a - b,
  );
  // suffix[j] = Σ_{m ≥ j} |β_order[m]|, summed from the small end (exact enough to compare with the threshold).
  const suffix = new Float64Array(order.length + 1);
  for (let j = order.length - 1; j >= 0; j--) suffix[j] = suffix[j + 1] + Math.abs(betas[order[j]]);
  const threshold = Math.max(0, epsilon * s);
  let k = 0;
  while (k < order.length && suffix[k] > threshold) k++;
  return { indices: order.slice(0, k), dropped: suffix[k], threshold };
}
