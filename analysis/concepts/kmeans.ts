// k-means (Lloyd's iterations from k-means++ seeds, Arthur & Vassilvitskii 2007) with a seeded generator.
import { mulberry32 } from "../random.ts";
import type { NodeMatrix } from "./affinity.ts";
import { checkAborted, checkInt } from "./errors.ts";

export interface KMeansResult {
  /** c × d, row-major. */
  centroids: Float64Array;
  labels: Int32Array;
  c: number;
  iterations: number;
  /** Σ_i ‖x_i − μ_{label(i)}‖². */
  inertia: number;
}

const sqDist = (a: Float64Array, i: number, b: Float64Array, j: number, d: number) => {
  let s = 0;
  for (let t = 0; t < d; t++) {
    const v = a[i * d + t] - b[j * d + t];
    s += v * v;
  }
  return s;
};

/** The nearest centroid of each row. */
export function assign(x: NodeMatrix, centroids: Float64Array, c: number): Int32Array {
  const labels = new Int32Array(x.n);
  for (let i = 0; i < x.n; i++) {
    let best = 0;
    let bestD = Number.POSITIVE_INFINITY;
    for (let j = 0; j < c; j++) {
      const dd = sqDist(x.data, i, centroids, j, x.d);
      if (dd < bestD) {
        bestD = dd;
        best = j;
      }
    }
    labels[i] = best;
  }
  return labels;
}

/** Minimize Σ_i ‖x_i − μ_{label(i)}‖² over c clusters; clusters are numbered by size, largest first. */
export function kmeans(
  x: NodeMatrix,
  c: number,
  seed = 1,
  maxIter = 100,
  signal?: AbortSignal,
): KMeansResult {
  const { n, d, data } = x;
  checkInt("concepts", c, 1, n);
  const random = mulberry32(seed);
  const centroids = new Float64Array(c * d);
  // k-means++: first uniformly, then each with probability ∝ squared distance to the nearest chosen centroid.
  const first = Math.floor(random() * n);
  for (let t = 0; t < d; t++) centroids[t] = data[first * d + t];
  const near = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  for (let j = 1; j < c; j++) {
    let total = 0;
    for (let i = 0; i < n; i++) {
      near[i] = Math.min(near[i], sqDist(data, i, centroids, j - 1, d));
      total += near[i];
    }
    let r = random() * total;
    let pick = n - 1;
    for (let i = 0; i < n; i++) {
      r -= near[i];
      if (r < 0) {
        pick = i;
        break;
      }
    }
    for (let t = 0; t < d; t++) centroids[j * d + t] = data[pick * d + t];
  }
  let labels = assign(x, centroids, c);
  let iterations = 0;
  for (; iterations < maxIter; iterations++) {
    checkAborted(signal, "k-means");
    const sums = new Float64Array(c * d);
    const counts = new Float64Array(c);
    for (let i = 0; i < n; i++) {
      counts[labels[i]]++;
      for (let t = 0; t < d; t++) sums[labels[i] * d + t] += data[i * d + t];
    }
    for (let j = 0; j < c; j++)
      if (counts[j] > 0) for (let t = 0; t < d; t++) centroids[j * d + t] = sums[j * d + t] / counts[j];
    const next = assign(x, centroids, c);
    let changed = 0;
    for (let i = 0; i < n; i++) if (next[i] !== labels[i]) changed++;
    labels = next;
    if (changed === 0) break;
  }
  // Renumber by size, largest first (ties: lower old index).
  const sizes = new Array<number>(c).fill(0);
  for (const l of labels) sizes[l]++;
  const order = sizes.map((s, j) => [s, j]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  const newOf = new Int32Array(c);
  const sorted = new Float64Array(c * d);
  order.forEach(([, old], j) => {
    newOf[old] = j;
    sorted.set(centroids.subarray(old * d, (old + 1) * d), j * d);
  });
  let inertia = 0;
  for (let i = 0; i < n; i++) inertia += sqDist(data, i, centroids, labels[i], d);
  return { centroids: sorted, labels: labels.map((l) => newOf[l]), c, iterations, inertia };
}
