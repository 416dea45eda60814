// Adam (Kingma & Ba 2015) on flat Float32Array parameters, updated in place:
//   m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;  θ ← θ − lr · m̂ / (√v̂ + ε),  m̂ = m/(1−β1^t), v̂ = v/(1−β2^t)

export interface AdamState {
  m: Float32Array;
  v: Float32Array;
}

export function adamState(size: number): AdamState {
  return { m: new Float32Array(size), v: new Float32Array(size) };
}

export interface AdamHyper {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/** One Adam step on theta[offset .. offset+length) at step t (1-based) with gradient grad (same indexing). */
export function adamStep(
  theta: Float32Array,
  grad: Float32Array,
  state: AdamState,
  t: number,
  hyper: AdamHyper,
  offset = 0,
  length = theta.length,
): void {
  const b1 = hyper.beta1 ?? 0.9;
  const b2 = hyper.beta2 ?? 0.999;
  const eps = hyper.eps ?? 1e-8;
  const c1 = 1 - b1 ** t;
  const c2 = 1 - b2 ** t;
  const { m, v } = state;
  for (let i = offset; i < offset + length; i++) {
    const g = grad[i];
    m[i] = b1 * m[i] + (1 - b1) * g;
    v[i] = b2 * v[i] + (1 - b2) * g * g;
    theta[i] -= (hyper.lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + eps);
  }
}
