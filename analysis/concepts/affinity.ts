// The graph of pixel nodes: cosine affinity A_ij = exp(−(1 − cos(x_i, x_j))/γ) (AlignedCut, Yang et al. 2024) and
// the normalized-cut operator M = D^-½ A D^-½ with D = diag(A·1) (Shi & Malik 2000, Ng et al. 2002), either
// materialized (float32 or float64) or applied matrix-free.
import type { SymmetricOperator } from "./eigen.ts";
import { ConceptError, checkAborted } from "./errors.ts";

/** n nodes × d dimensions, row-major float64 (one element type keeps the inner loops monomorphic). */
export interface NodeMatrix {
  n: number;
  d: number;
  data: Float64Array;
}

/** Rows scaled to unit length (cos(x_i, x_j) = x̂_i · x̂_j), in float64; an all-zero row stays zero. */
export function unitRows(x: { n: number; d: number; data: ArrayLike<number> }): NodeMatrix {
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

/** A_ij = exp(−(1 − x̂_i·x̂_j)/γ) for unit rows. */
export const affinityOf = (cos: number, gamma: number): number => Math.exp((cos - 1) / gamma);

/**
 * Degrees d_i = Σ_j A_ij c_j over every node (the diagonal A_ii = 1 included), matrix-free; c = node masses
 * (default 1: the plain graph).
 */
export function degrees(
  unit: NodeMatrix,
  gamma: number,
  mass?: Float64Array,
  signal?: AbortSignal,
): Float64Array {
  const { n, d, data } = unit;
  const c = mass ?? new Float64Array(n).fill(1);
  const deg = new Float64Array(n);
  const buf = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if ((i & 255) === 0) checkAborted(signal, "degrees");
    // Upper triangle from the diagonal: A_ii (= 1 for a unit row) and every j > i, used for both (i, j) and (j, i).
    affinityRun(buf, i, i, data, n, d, gamma);
    const ci = c[i];
    let s = deg[i] + buf[0] * ci;
    for (let j = i + 1; j < n; j++) {
      const a = buf[j - i];
      s += a * c[j];
      deg[j] += a * ci;
    }
    deg[i] = s;
  }
  return deg;
}

/** The symmetric scaling s_i = √(c_i / d_i) of M = S A S (c = 1: D^-½). */
export function cutScale(degree: Float64Array, mass?: Float64Array): Float64Array {
  return Float64Array.from(degree, (v, i) => Math.sqrt((mass ? mass[i] : 1) / v));
}

export interface NormalizedAffinity {
  n: number;
  /** M = D^-½ A D^-½ (with masses: C^½ D̃^-½ A D̃^-½ C^½), row-major n × n. */
  matrix: Float32Array | Float64Array;
  /** d_i = Σ_j A_ij c_j. */
  degree: Float64Array;
}

export interface AffinityOptions {
  /** float32 halves the memory (n² · 4 bytes); sums are taken in float64 either way (default 32). */
  precision?: 32 | 64;
  /**
   * Node masses c (default 1): node i stands for c_i nodes of a larger graph whose affinities it shares. The cut of
   * that graph restricted to vectors constant on each node's group is M = C^½ D̃^-½ A D̃^-½ C^½, D̃ = diag(A c).
   */
  mass?: Float64Array;
  signal?: AbortSignal;
  onRow?: (done: number, total: number) => void;
}

/** The normalized affinity M_ij = A_ij / √(d_i d_j) (the normalized cut's relaxed problem M v = λ v), materialized. */
export function normalizedAffinity(
  unit: NodeMatrix,
  gamma: number,
  options: AffinityOptions = {},
): NormalizedAffinity {
  checkGamma(gamma);
  const { signal, onRow, mass } = options;
  const { n, d, data } = unit;
  const m = options.precision === 64 ? new Float64Array(n * n) : new Float32Array(n * n);
  const buf = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if ((i & 127) === 0) {
      checkAborted(signal, "affinity");
      onRow?.(i, n);
    }
    // Row by row (sequential writes; computing both triangles costs less than scattered mirror writes).
    if (m instanceof Float32Array) affinityRow32(m, i, data, n, d, gamma, buf);
    else affinityRow64(m, i, data, n, d, gamma, buf);
  }
  const degree = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    const row = i * n;
    if (mass) for (let j = 0; j < n; j++) s += m[row + j] * mass[j];
    else for (let j = 0; j < n; j++) s += m[row + j];
    degree[i] = s;
  }
  const scale = cutScale(degree, mass);
  for (let i = 0; i < n; i++) {
    const row = i * n;
    const si = scale[i];
    for (let j = 0; j < n; j++) m[row + j] *= si * scale[j];
  }
  onRow?.(n, n);
  return { n, matrix: m, degree };
}

/** out[j − from] = exp((x̂_i · x̂_j − 1)/γ) for j in [from, n): the pair kernel every affinity loop uses. */
function affinityRun(
  out: Float64Array,
  i: number,
  from: number,
  x: Float64Array,
  n: number,
  d: number,
  gamma: number,
) {
  const inv = 1 / gamma;
  const xi = x.subarray(i * d, (i + 1) * d);
  for (let j = from; j < n; j++) {
    const base = j * d;
    let s = 0;
    for (let c = 0; c < d; c++) s += xi[c] * x[base + c];
    out[j - from] = Math.exp((s - 1) * inv);
  }
}

function affinityRow32(
  m: Float32Array,
  i: number,
  x: Float64Array,
  n: number,
  d: number,
  gamma: number,
  buf: Float64Array,
) {
  affinityRun(buf, i, 0, x, n, d, gamma);
  m.set(buf, i * n);
}

function affinityRow64(
  m: Float64Array,
  i: number,
  x: Float64Array,
  n: number,
  d: number,
  gamma: number,
  buf: Float64Array,
) {
  affinityRun(buf, i, 0, x, n, d, gamma);
  m.set(buf, i * n);
}

/** y = M x for a materialized M (one loop per element type, each monomorphic). */
export function matrixOperator(na: NormalizedAffinity): SymmetricOperator {
  const { n, matrix } = na;
  return {
    n,
    apply:
      matrix instanceof Float32Array
        ? (x, y) => {
            for (let i = 0; i < n; i++) y[i] = rowTimes32(matrix, i * n, x, n);
          }
        : (x, y) => {
            for (let i = 0; i < n; i++) y[i] = rowTimes64(matrix, i * n, x, n);
          },
  };
}

function rowTimes32(m: Float32Array, row: number, x: Float64Array, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let j = 0;
  for (; j + 3 < n; j += 4) {
    s0 += m[row + j] * x[j];
    s1 += m[row + j + 1] * x[j + 1];
    s2 += m[row + j + 2] * x[j + 2];
    s3 += m[row + j + 3] * x[j + 3];
  }
  for (; j < n; j++) s0 += m[row + j] * x[j];
  return s0 + s1 + s2 + s3;
}

function rowTimes64(m: Float64Array, row: number, x: Float64Array, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let j = 0;
  for (; j + 3 < n; j += 4) {
    s0 += m[row + j] * x[j];
    s1 += m[row + j + 1] * x[j + 1];
    s2 += m[row + j + 2] * x[j + 2];
    s3 += m[row + j + 3] * x[j + 3];
  }
  for (; j < n; j++) s0 += m[row + j] * x[j];
  return s0 + s1 + s2 + s3;
}

/**
 * y = M x computed on the fly (n² affinities per application, O(n·d) memory): the exact operator for graphs too
 * large to hold. `degree` from degrees() with the same masses.
 */
export function matrixFreeOperator(
  unit: NodeMatrix,
  gamma: number,
  degree: Float64Array,
  mass?: Float64Array,
): SymmetricOperator {
  const { n, d, data } = unit;
  const scale = cutScale(degree, mass);
  const sx = new Float64Array(n);
  const buf = new Float64Array(n);
  return {
    n,
    apply(x, y) {
      for (let j = 0; j < n; j++) sx[j] = scale[j] * x[j];
      y.fill(0);
      // Upper triangle once, used for both (i, j) and (j, i).
      for (let i = 0; i < n; i++) {
        affinityRun(buf, i, i, data, n, d, gamma);
        const xi = sx[i];
        let s = buf[0] * xi;
        for (let j = i + 1; j < n; j++) {
          const a = buf[j - i];
          s += a * sx[j];
          y[j] += a * xi;
        }
        y[i] += s;
      }
      for (let i = 0; i < n; i++) y[i] *= scale[i];
    },
  };
}
