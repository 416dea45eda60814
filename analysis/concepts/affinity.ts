// The graph of pixel nodes: cosine affinity A_ij = exp(−(1 − cos(x_i, x_j))/γ) (AlignedCut, Yang et al. 2024) and
// the normalized-cut operator M = D^-½ A D^-½ with D = diag(A·1) (Shi & Malik 2000, Ng et al. 2002), either
// materialized (float32 or float64) or applied matrix-free.
import type { SymmetricOperator } from "./eigen.ts";
import { ConceptError, checkAborted } from "./errors.ts";

/** n nodes × d dimensions, row-major. */
export interface NodeMatrix {
  n: number;
  d: number;
  data: Float32Array | Float64Array;
}

/** Rows scaled to unit length (cos(x_i, x_j) = x̂_i · x̂_j), in float64; an all-zero row stays zero. */
export function unitRows(x: NodeMatrix): NodeMatrix {
  const { n, d, data } = x;
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += data[i * d + c] * data[i * d + c];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let c = 0; c < d; c++) out[i * d + c] = data[i * d + c] * inv;
  }
  return { n, d, data: out };
}

export function checkGamma(gamma: number): number {
  if (!(Number.isFinite(gamma) && gamma > 0))
    throw new ConceptError("EPHYS_BAD_CONCEPTS", `gamma: expected a number > 0; found ${gamma}`);
  return gamma;
}

/** Dot product of rows i of `a` and j of `b` (both d wide). */
function rowDot(a: NodeMatrix["data"], i: number, b: NodeMatrix["data"], j: number, d: number): number {
  let s = 0;
  const ai = i * d;
  const bj = j * d;
  for (let c = 0; c < d; c++) s += a[ai + c] * b[bj + c];
  return s;
}

/** A_ij = exp(−(1 − x̂_i·x̂_j)/γ) for unit rows. */
export const affinityOf = (cos: number, gamma: number): number => Math.exp((cos - 1) / gamma);

/** Degrees d_i = Σ_j A_ij over every node (the diagonal A_ii = 1 included), matrix-free. */
export function degrees(unit: NodeMatrix, gamma: number, signal?: AbortSignal): Float64Array {
  const { n, d, data } = unit;
  const deg = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if ((i & 255) === 0) checkAborted(signal, "degrees");
    let s = deg[i] + affinityOf(rowDot(data, i, data, i, d), gamma);
    for (let j = i + 1; j < n; j++) {
      const a = affinityOf(rowDot(data, i, data, j, d), gamma);
      s += a;
      deg[j] += a;
    }
    deg[i] = s;
  }
  return deg;
}

export interface NormalizedAffinity {
  n: number;
  /** M = D^-½ A D^-½, row-major n × n. */
  matrix: Float32Array | Float64Array;
  degree: Float64Array;
}

/**
 * The normalized affinity M_ij = A_ij / √(d_i d_j) (eq. of the normalized cut's relaxed problem, M v = λ v),
 * materialized. float32 halves the memory (n² · 4 bytes); sums are taken in float64 either way.
 */
export function normalizedAffinity(
  unit: NodeMatrix,
  gamma: number,
  precision: 32 | 64 = 32,
  signal?: AbortSignal,
  onRow?: (done: number, total: number) => void,
): NormalizedAffinity {
  checkGamma(gamma);
  const { n, d, data } = unit;
  const m = precision === 32 ? new Float32Array(n * n) : new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    if ((i & 127) === 0) {
      checkAborted(signal, "affinity");
      onRow?.(i, n);
    }
    for (let j = i; j < n; j++) {
      const a = affinityOf(rowDot(data, i, data, j, d), gamma);
      m[i * n + j] = a;
      m[j * n + i] = a;
    }
  }
  const degree = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    const row = i * n;
    for (let j = 0; j < n; j++) s += m[row + j];
    degree[i] = s;
  }
  const scale = Float64Array.from(degree, (v) => 1 / Math.sqrt(v));
  for (let i = 0; i < n; i++) {
    const row = i * n;
    const si = scale[i];
    for (let j = 0; j < n; j++) m[row + j] *= si * scale[j];
  }
  onRow?.(n, n);
  return { n, matrix: m, degree };
}

/** y = M x for a materialized M. */
export function matrixOperator(na: NormalizedAffinity): SymmetricOperator {
  const { n, matrix } = na;
  return {
    n,
    apply(x, y) {
      for (let i = 0; i < n; i++) {
        const row = i * n;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        let j = 0;
        for (; j + 3 < n; j += 4) {
          s0 += matrix[row + j] * x[j];
          s1 += matrix[row + j + 1] * x[j + 1];
          s2 += matrix[row + j + 2] * x[j + 2];
          s3 += matrix[row + j + 3] * x[j + 3];
        }
        for (; j < n; j++) s0 += matrix[row + j] * x[j];
        y[i] = s0 + s1 + s2 + s3;
      }
    },
  };
}

/**
 * y = M x computed on the fly (n² affinities per application, O(n·d) memory): the exact operator for graphs too
 * large to hold. `degree` from degrees().
 */
export function matrixFreeOperator(unit: NodeMatrix, gamma: number, degree: Float64Array): SymmetricOperator {
  const { n, d, data } = unit;
  const scale = Float64Array.from(degree, (v) => 1 / Math.sqrt(v));
  const sx = new Float64Array(n);
  return {
    n,
    apply(x, y) {
      for (let j = 0; j < n; j++) sx[j] = scale[j] * x[j];
      y.fill(0);
      // Upper triangle once, used for both (i, j) and (j, i).
      for (let i = 0; i < n; i++) {
        let s = affinityOf(rowDot(data, i, data, i, d), gamma) * sx[i];
        const xi = sx[i];
        for (let j = i + 1; j < n; j++) {
          const a = affinityOf(rowDot(data, i, data, j, d), gamma);
          s += a * sx[j];
          y[j] += a * xi;
        }
        y[i] += s;
      }
      for (let i = 0; i < n; i++) y[i] *= scale[i];
    },
  };
}
