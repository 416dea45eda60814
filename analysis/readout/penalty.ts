// Sparsity penalties on readout weights, value and gradient, with the smoothing δ that keeps them
// differentiable at 0:
//   "l1/2": λ · Σ_i (w_i² + δ)^{1/4}    (smoothed Σ|w_i|^{1/2}; Lappe et al. 2024, readout penalty)
//   "l1":   λ · Σ_i (w_i² + δ)^{1/2}    (smoothed Σ|w_i|)

export type PenaltyKind = "l1/2" | "l1";

export interface Penalty {
  kind: PenaltyKind;
  /** λ ≥ 0. */
  weight: number;
  /** δ > 0. */
  smoothing: number;
}

/** λ · Σ (w_i² + δ)^{p/2} with p = 1/2 ("l1/2") or 1 ("l1"), over w[offset .. offset+length). */
export function penaltyValue(pen: Penalty, w: ArrayLike<number>, offset = 0, length = w.length): number {
  const e = pen.kind === "l1/2" ? 0.25 : 0.5;
  let s = 0;
  for (let i = offset; i < offset + length; i++) s += (w[i] * w[i] + pen.smoothing) ** e;
  return pen.weight * s;
}

/** Adds ∂/∂w_i of the penalty, λ · p · w_i (w_i² + δ)^{p/2 − 1}, into grad[offset + i]. */
export function addPenaltyGradient(
  pen: Penalty,
  w: ArrayLike<number>,
  grad: Float32Array,
  offset = 0,
  length = w.length,
): void {
  if (pen.weight === 0) return;
  const { smoothing } = pen;
  if (pen.kind === "l1/2") {
    // (w² + δ)^{−3/4} = 1/(q·√q) with q = √(w² + δ): two square roots instead of a pow (hot loop).
    const k = 0.5 * pen.weight;
    for (let i = offset; i < offset + length; i++) {
      const v = w[i];
      const q = Math.sqrt(v * v + smoothing);
      grad[i] += (k * v) / (q * Math.sqrt(q));
    }
  } else {
    for (let i = offset; i < offset + length; i++) {
      const v = w[i];
      grad[i] += (pen.weight * v) / Math.sqrt(v * v + smoothing);
    }
  }
}
