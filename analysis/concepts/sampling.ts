// Node sampling and neighbours for the Nyström-like approximation: PCA projection, farthest-point sampling
// (Eldar et al. 1997) and the K nearest sampled nodes of every node by cosine similarity.
import type { NodeMatrix } from "./affinity.ts";
import { symmetricEigen } from "./eigen.ts";
import { checkAborted, checkInt } from "./errors.ts";

/** The rows of `x` projected on its top-q principal axes (centred; q ≤ d). */
export function pcaProject(x: NodeMatrix, q: number): NodeMatrix {
  const { n, d, data } = x;
  checkInt("q", q, 1, d);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) mean[c] += data[i * d + c];
  for (let c = 0; c < d; c++) mean[c] /= Math.max(1, n);
  // Covariance C = (X − μ)ᵀ(X − μ) / n.
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < d; c++) row[c] = data[i * d + c] - mean[c];
    for (let a = 0; a < d; a++) {
      const ra = row[a];
      for (let b = a; b < d; b++) cov[a * d + b] += ra * row[b];
    }
  }
  for (let a = 0; a < d; a++) for (let b = a; b < d; b++) cov[b * d + a] = cov[a * d + b] /= Math.max(1, n);
  const eig = symmetricEigen(cov, d);
  const out = new Float64Array(n * q);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < d; c++) {
      const v = data[i * d + c] - mean[c];
      if (v === 0) continue;
      for (let p = 0; p < q; p++) out[i * q + p] += v * eig.vectors[c * d + p];
    }
  return { n, d: q, data: out };
}

/**
 * Farthest-point sampling of m rows: start at the row farthest from the mean, then repeatedly take the row whose
 * squared Euclidean distance to the nearest chosen row is largest (ties: lowest index). Any prefix of the order is
 * itself a farthest-point sample. Returns the chosen row indices in order.
 */
export function farthestPointSample(
  x: NodeMatrix,
  m: number,
  signal?: AbortSignal,
  onProgress?: (done: number, total: number) => void,
): Int32Array {
  const { n, d, data } = x;
  checkInt("m", m, 1, n);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) mean[c] += data[i * d + c];
  for (let c = 0; c < d; c++) mean[c] /= n;
  let pick = 0;
  let far = -1;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += (data[i * d + c] - mean[c]) ** 2;
    if (s > far) {
      far = s;
      pick = i;
    }
  }
  const chosen = new Int32Array(m);
  const minDist = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  const p = new Float64Array(d);
  for (let s = 0; s < m; s++) {
    if ((s & 63) === 0) {
      checkAborted(signal, "farthest-point sampling");
      onProgress?.(s, m);
    }
    chosen[s] = pick;
    for (let c = 0; c < d; c++) p[c] = data[pick * d + c];
    let next = 0;
    let best = -1;
    for (let i = 0; i < n; i++) {
      const base = i * d;
      let dist = 0;
      for (let c = 0; c < d; c++) {
        const t = data[base + c] - p[c];
        dist += t * t;
      }
      let md = minDist[i];
      if (dist < md) {
        md = dist;
        minDist[i] = dist;
      }
      if (md > best) {
        best = md;
        next = i;
      }
    }
    pick = next;
  }
  onProgress?.(m, m);
  return chosen;
}

export interface Neighbours {
  /** n × K indices into the sample (not node indices), nearest first. */
  index: Int32Array;
  /** n × K cosine similarities, descending. */
  cos: Float64Array;
  k: number;
}

/**
 * For every row of `unit` (unit rows), the K rows of `sample` (unit rows) with the largest cosine similarity
 * (brute force; ties: lower sample index first).
 */
export function nearestSampled(
  unit: NodeMatrix,
  sample: NodeMatrix,
  K: number,
  signal?: AbortSignal,
  onProgress?: (done: number, total: number) => void,
): Neighbours {
  const { n, d, data } = unit;
  const m = sample.n;
  checkInt("K", K, 1, m);
  const s = sample.data;
  const index = new Int32Array(n * K);
  const cos = new Float64Array(n * K);
  const topI = new Int32Array(K);
  const topC = new Float64Array(K);
  const x = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    if ((i & 1023) === 0) {
      checkAborted(signal, "nearest sampled nodes");
      onProgress?.(i, n);
    }
    for (let c = 0; c < d; c++) x[c] = data[i * d + c];
    topC.fill(Number.NEGATIVE_INFINITY);
    topI.fill(-1);
    let floor = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < m; j++) {
      const base = j * d;
      let v = 0;
      for (let c = 0; c < d; c++) v += x[c] * s[base + c];
      if (v <= floor) continue;
      // Insert into the sorted top-K list.
      let p = K - 1;
      while (p > 0 && topC[p - 1] < v) {
        topC[p] = topC[p - 1];
        topI[p] = topI[p - 1];
        p--;
      }
      topC[p] = v;
      topI[p] = j;
      floor = topC[K - 1];
    }
    index.set(topI, i * K);
    cos.set(topC, i * K);
  }
  onProgress?.(n, n);
  return { index, cos, k: K };
}

/** The rows listed in `rows`, as a new matrix. */
export function takeRows(x: NodeMatrix, rows: ArrayLike<number>): NodeMatrix {
  const { d, data } = x;
  const out = new Float64Array(rows.length * d);
  for (let r = 0; r < rows.length; r++) {
    const src = rows[r] * d;
    for (let c = 0; c < d; c++) out[r * d + c] = data[src + c];
  }
  return { n: rows.length, d, data: out };
}
