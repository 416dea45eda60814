// Symmetric eigensolvers: a dense one (Householder tridiagonalization + implicit QL, EISPACK tred2/tql2 as in
// JAMA) for small matrices, and a thick-restart Lanczos with full reorthogonalization for the top k eigenpairs of a
// large symmetric operator given only as y = M x.
// Over 400 lines: two eigensolvers that are each one algorithm (tred2/tql2; thick-restart Lanczos using the
// dense one for its small problem); splitting them would separate Lanczos from the solver it relies on.
import { mulberry32, type Random } from "../random.ts";
import { ConceptError, checkAborted, checkInt } from "./errors.ts";

/** Eigenpairs in descending order of eigenvalue; vectors[i·k + j] = component i of eigenvector j. */
export interface EigenPairs {
  values: Float64Array;
  /** n × k, row-major (node-major): row i holds the k eigenvector components of node i. */
  vectors: Float64Array;
  n: number;
  k: number;
}

/** A symmetric linear operator of size n: apply(x, y) sets y = M x. */
export interface SymmetricOperator {
  n: number;
  apply(x: Float64Array, y: Float64Array): void;
}

/**
 * Every eigenpair of the dense symmetric n × n matrix `a` (row-major; only read, the lower triangle is used),
 * descending. tred2: A = Q T Qᵀ (Householder), tql2: T = Z Λ Zᵀ (QL with implicit Wilkinson shifts).
 */
export function symmetricEigen(a: Float64Array, n: number): EigenPairs {
  checkInt("n", n, 1);
  if (a.length !== n * n)
    throw new ConceptError("EPHYS_BAD_CONCEPTS", `matrix: expected n² = ${n * n} values; found ${a.length}`);
  const v = Float64Array.from(a);
  // Symmetrize from the lower triangle so that a slightly asymmetric input is read consistently.
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) v[j * n + i] = v[i * n + j];
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tred2(v, d, e, n);
  tql2(v, d, e, n);
  // tql2 leaves them ascending: reverse into descending order.
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const src = n - 1 - j;
    values[j] = d[src];
    for (let i = 0; i < n; i++) vectors[i * n + j] = v[i * n + src];
  }
  return { values, vectors, n, k: n };
}

function tred2(V: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) d[j] = V[(n - 1) * n + j];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = V[(i - 1) * n + j];
        V[i * n + j] = 0;
        V[j * n + i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        V[j * n + i] = f;
        g = e[j] + V[j * n + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V[k * n + j] * d[k];
          e[k] += V[k * n + j] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) V[k * n + j] -= f * e[k] + g * d[k];
        d[j] = V[(i - 1) * n + j];
        V[i * n + j] = 0;
      }
    }
    d[i] = h;
  }
  // Accumulate the transformations.
  for (let i = 0; i < n - 1; i++) {
    V[(n - 1) * n + i] = V[i * n + i];
    V[i * n + i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V[k * n + i + 1] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V[k * n + i + 1] * V[k * n + j];
        for (let k = 0; k <= i; k++) V[k * n + j] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) V[k * n + i + 1] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = V[(n - 1) * n + j];
    V[(n - 1) * n + j] = 0;
  }
  V[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

function tql2(V: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]) > eps * tst1) m++;
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 60)
          throw new ConceptError(
            "EPHYS_NO_CONVERGENCE",
            `symmetricEigen: the QL iteration for eigenvalue ${l} did not converge in 60 sweeps`,
          );
        // Implicit shift from the leading 2 × 2 block.
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        // Implicit QL transformation.
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          for (let k = 0; k < n; k++) {
            const row = k * n;
            h = V[row + i + 1];
            V[row + i + 1] = s * V[row + i] + c * h;
            V[row + i] = c * V[row + i] - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
  // Sort ascending (selection sort: n is small here).
  for (let i = 0; i < n - 1; i++) {
    let k = i;
    let p = d[i];
    for (let j = i + 1; j < n; j++)
      if (d[j] < p) {
        k = j;
        p = d[j];
      }
    if (k !== i) {
      d[k] = d[i];
      d[i] = p;
      for (let j = 0; j < n; j++) {
        const t = V[j * n + i];
        V[j * n + i] = V[j * n + k];
        V[j * n + k] = t;
      }
    }
  }
}

export interface LanczosOptions {
  /** Largest Krylov basis before a thick restart (default max(3k + 30, 80), at most n). */
  maxBasis?: number;
  /** Ritz residual ‖M y − θ y‖ below which a pair has converged (default 1e-8; M has norm ≤ 1 here). */
  tol?: number;
  /** Operator applications allowed (default 5000). */
  maxApply?: number;
  /** Start vector (default: seeded uniform noise); it is normalized. */
  start?: Float64Array;
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (p: { applied: number; converged: number; maxResidual: number }) => void;
}

export interface LanczosResult extends EigenPairs {
  /** Operator applications used. */
  applied: number;
  restarts: number;
  /** Final Ritz residual norm of each returned pair. */
  residuals: Float64Array;
}

const dot = (a: Float64Array, b: Float64Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/**
 * The k largest eigenpairs of a symmetric operator: Lanczos with full (twice-repeated classical Gram–Schmidt)
 * reorthogonalization and thick restarts (Wu & Simon 2000). With full orthogonalization the projection
 * H = Vᵀ M V is accumulated column by column, M V = V H + r e_lastᵀ, so Ritz pairs (θ, V s) of H have residual
 * ‖r‖ · |s_last|; on restart the best Ritz vectors are kept and r continues the basis.
 */
export function lanczosTopK(op: SymmetricOperator, k: number, options: LanczosOptions = {}): LanczosResult {
  const n = op.n;
  checkInt("k", k, 1, n);
  const maxBasis = Math.min(n, checkInt("maxBasis", options.maxBasis ?? Math.max(3 * k + 30, 80), k + 1));
  const tol = options.tol ?? 1e-8;
  const maxApply = options.maxApply ?? 5000;
  if (n <= maxBasis) return denseFromOperator(op, k, options.signal);
  const random: Random = mulberry32(options.seed ?? 1);
  let v0 = options.start
    ? Float64Array.from(options.start)
    : Float64Array.from({ length: n }, () => random() - 0.5);
  let nrm = Math.sqrt(dot(v0, v0));
  if (!(nrm > 0)) {
    v0 = Float64Array.from({ length: n }, () => random() - 0.5);
    nrm = Math.sqrt(dot(v0, v0));
  }
  for (let i = 0; i < n; i++) v0[i] /= nrm;
  const V: Float64Array[] = [v0];
  const H = new Float64Array(maxBasis * maxBasis);
  const w = new Float64Array(n);
  const h = new Float64Array(maxBasis);
  let applied = 0;
  let restarts = 0;
  let beta = 0;
  // The number of basis vectors whose H columns are known (the first `known` of V).
  let known = 0;
  for (;;) {
    checkAborted(options.signal, "lanczos");
    // Extend to a full basis.
    while (V.length <= maxBasis && known < V.length) {
      const j = known;
      op.apply(V[j], w);
      applied++;
      // Two passes of classical Gram–Schmidt against the whole basis ("twice is enough").
      h.fill(0, 0, V.length);
      for (let pass = 0; pass < 2; pass++) {
        for (let i = 0; i < V.length; i++) {
          const c = dot(V[i], w);
          h[i] += c;
          const vi = V[i];
          for (let t = 0; t < n; t++) w[t] -= c * vi[t];
        }
      }
      // Column j of H = Vᵀ M v_j (the coefficient on the vector after j is the next step's β).
      for (let i = 0; i <= j; i++) {
        H[i * maxBasis + j] = h[i];
        H[j * maxBasis + i] = h[i];
      }
      known++;
      beta = Math.sqrt(dot(w, w));
      if (V.length < maxBasis) {
        if (beta < 1e-14) {
          // Invariant subspace found: continue with a fresh direction orthogonal to the basis.
          const r = Float64Array.from({ length: n }, () => random() - 0.5);
          for (let pass = 0; pass < 2; pass++)
            for (const vi of V) {
              const c = dot(vi, r);
              for (let t = 0; t < n; t++) r[t] -= c * vi[t];
            }
          const rn = Math.sqrt(dot(r, r));
          for (let t = 0; t < n; t++) r[t] /= rn;
          V.push(r);
          beta = 0;
        } else {
          const next = new Float64Array(n);
          for (let t = 0; t < n; t++) next[t] = w[t] / beta;
          V.push(next);
        }
      } else break;
      if (applied >= maxApply) break;
    }
    // Rayleigh–Ritz on the basis whose H is complete.
    const m = known;
    const Hm = new Float64Array(m * m);
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) Hm[i * m + j] = H[i * maxBasis + j];
    const ritz = symmetricEigen(Hm, m);
    const residuals = new Float64Array(k);
    let converged = 0;
    let maxResidual = 0;
    for (let j = 0; j < k; j++) {
      residuals[j] = Math.abs(beta * ritz.vectors[(m - 1) * m + j]);
      if (residuals[j] <= tol) converged++;
      maxResidual = Math.max(maxResidual, residuals[j]);
    }
    options.onProgress?.({ applied, converged, maxResidual });
    const done = converged === k;
    if (done || applied >= maxApply) {
      if (!done)
        throw new ConceptError(
          "EPHYS_NO_CONVERGENCE",
          `lanczos: ${converged} of ${k} eigenpairs converged after ${applied} operator applications ` +
            `(largest residual ${maxResidual.toExponential(2)}, tolerance ${tol}); raise maxApply or tol`,
        );
      return {
        values: ritz.values.slice(0, k),
        vectors: ritzVectors(V, ritz, m, k, n),
        n,
        k,
        applied,
        restarts,
        residuals,
      };
    }
    // Thick restart: keep p Ritz vectors (more than k, to keep the wanted ones converging), continue with r.
    const p = Math.min(m - 1, Math.max(k + Math.floor((maxBasis - k) / 2), k + 1));
    const kept = ritzVectors(V, ritz, m, p, n);
    V.length = 0;
    for (let j = 0; j < p; j++) {
      const vj = new Float64Array(n);
      for (let i = 0; i < n; i++) vj[i] = kept[i * p + j];
      V.push(vj);
    }
    H.fill(0);
    for (let j = 0; j < p; j++) H[j * maxBasis + j] = ritz.values[j];
    // The coupling of each kept vector with the residual direction, β·s_last,j, appears in the next column.
    const r = new Float64Array(n);
    for (let t = 0; t < n; t++) r[t] = w[t] / beta;
    V.push(r);
    known = p;
    restarts++;
  }
}

/** Columns 0..k−1 of V·S as an n × k node-major block. */
function ritzVectors(V: Float64Array[], ritz: EigenPairs, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(n * k);
  for (let i = 0; i < m; i++) {
    const vi = V[i];
    for (let j = 0; j < k; j++) {
      const s = ritz.vectors[i * m + j];
      if (s === 0) continue;
      for (let t = 0; t < n; t++) out[t * k + j] += s * vi[t];
    }
  }
  return out;
}

/** Small operators: materialize M (n applications to unit vectors) and solve densely. */
function denseFromOperator(op: SymmetricOperator, k: number, signal?: AbortSignal): LanczosResult {
  const n = op.n;
  const a = new Float64Array(n * n);
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    checkAborted(signal, "lanczos");
    x.fill(0);
    x[j] = 1;
    op.apply(x, y);
    for (let i = 0; i < n; i++) a[i * n + j] = y[i];
  }
  const all = symmetricEigen(a, n);
  const vectors = new Float64Array(n * k);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) vectors[i * k + j] = all.vectors[i * n + j];
  return {
    values: all.values.slice(0, k),
    vectors,
    n,
    k,
    applied: n,
    restarts: 0,
    residuals: new Float64Array(k),
  };
}

/**
 * Sign convention: each eigenvector is flipped so that most of its entries are positive (ties: so that their sum
 * is ≥ 0). Applied in place to an n × k node-major block.
 */
export function fixSigns(vectors: Float64Array, n: number, k: number): void {
  for (let j = 0; j < k; j++) {
    let positive = 0;
    let negative = 0;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const v = vectors[i * k + j];
      if (v > 0) positive++;
      else if (v < 0) negative++;
      sum += v;
    }
    if (negative > positive || (negative === positive && sum < 0))
      for (let i = 0; i < n; i++) vectors[i * k + j] = -vectors[i * k + j];
  }
}
