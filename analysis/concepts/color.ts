// Colouring the spectral embedding: the k eigenvector coordinates of each node reduced to 3-D (UMAP, umap-js, on a
// farthest-point subset of anchors with every other node placed at the mean of its K nearest anchors; or PCA on all
// nodes), each axis mapped to a colour channel over its 1st–99th percentile range.
import { UMAP } from "umap-js";
import { mulberry32 } from "../random.ts";
import { type NodeMatrix, unitRows } from "./affinity.ts";
import { badOption, checkAborted, checkInt } from "./errors.ts";
import { nearestSampled, pcaProject, takeRows } from "./sampling.ts";

export type Reduction = "umap" | "pca";

export interface EmbedOptions {
  method?: Reduction;
  /** Anchor nodes for UMAP, e.g. the farthest-point order; the first `anchors` are used (default 1000). */
  anchorOrder?: ArrayLike<number>;
  anchors?: number;
  /** Anchors averaged per node (default 10). */
  knn?: number;
  /** UMAP neighbours (default 15) and epochs (default 200). */
  nNeighbors?: number;
  nEpochs?: number;
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** n × 3 coordinates of the rows of `vectors` (n × k node-major). */
export function embed3d(
  vectors: Float64Array,
  n: number,
  k: number,
  options: EmbedOptions = {},
): Float64Array {
  const method = options.method ?? "umap";
  if (method !== "umap" && method !== "pca") badOption("reduce", method, "umap or pca");
  const x: NodeMatrix = { n, d: k, data: vectors };
  if (method === "pca" || n < 4) {
    if (k >= 3) return pcaProject(x, 3).data as Float64Array;
    const out = new Float64Array(n * 3);
    for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) out[i * 3 + j] = vectors[i * k + j];
    return out;
  }
  const order = options.anchorOrder ?? Int32Array.from({ length: n }, (_, i) => i);
  const count = Math.min(checkInt("anchors", options.anchors ?? 1000, 4), order.length);
  const anchorRows = Array.from({ length: count }, (_, i) => order[i]);
  const anchors = takeRows(x, anchorRows);
  const umap = new UMAP({
    nComponents: 3,
    nNeighbors: Math.min(options.nNeighbors ?? 15, count - 1),
    nEpochs: options.nEpochs ?? 200,
    random: mulberry32(options.seed ?? 1),
  });
  const rows: number[][] = [];
  for (let i = 0; i < count; i++) rows.push(Array.from(anchors.data.subarray(i * k, (i + 1) * k)));
  const epochs = umap.initializeFit(rows);
  for (let e = 0; e < epochs; e++) {
    if ((e & 15) === 0) {
      checkAborted(options.signal, "umap");
      options.onProgress?.(e, epochs);
    }
    umap.step();
  }
  options.onProgress?.(epochs, epochs);
  const anchorXYZ = umap.getEmbedding();
  // Every node: the mean of its K nearest anchors (cosine in the eigenvector space) — anchors keep their own.
  const K = Math.min(options.knn ?? 10, count);
  const nn = nearestSampled(unitRows(x), unitRows(anchors), K, options.signal);
  const out = new Float64Array(n * 3);
  const isAnchor = new Int32Array(n).fill(-1);
  for (let a = 0; a < count; a++) isAnchor[anchorRows[a]] = a;
  for (let i = 0; i < n; i++) {
    if (isAnchor[i] >= 0) {
      for (let c = 0; c < 3; c++) out[i * 3 + c] = anchorXYZ[isAnchor[i]][c];
      continue;
    }
    for (let t = 0; t < K; t++) {
      const p = anchorXYZ[nn.index[i * K + t]];
      for (let c = 0; c < 3; c++) out[i * 3 + c] += p[c] / K;
    }
  }
  return out;
}

/** RGB bytes per node: each coordinate mapped linearly from its [1st, 99th] percentile to [0, 255], clipped. */
export function toRGB(coords: Float64Array, n: number): Uint8Array {
  const rgb = new Uint8Array(n * 3);
  for (let c = 0; c < 3; c++) {
    const v = Float64Array.from({ length: n }, (_, i) => coords[i * 3 + c]).sort();
    const lo = v[Math.floor(0.01 * (n - 1))];
    const hi = v[Math.ceil(0.99 * (n - 1))];
    const span = hi - lo || 1;
    for (let i = 0; i < n; i++)
      rgb[i * 3 + c] = Math.round(255 * Math.min(1, Math.max(0, (coords[i * 3 + c] - lo) / span)));
  }
  return rgb;
}
