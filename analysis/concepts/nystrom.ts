// The Nyström-like normalized cut of AlignedCut (Yang et al. 2024): solve exactly on m nodes chosen by
// farthest-point sampling, then give every other node the affinity-weighted average of the eigenvectors of its K
// nearest sampled nodes: v_i = Σ_{j∈KNN(i)} A_ij v_j / Σ_{j∈KNN(i)} A_ij.
import { affinityOf, checkGamma, type NodeMatrix } from "./affinity.ts";
import { fixSigns } from "./eigen.ts";
import { checkAborted, checkInt } from "./errors.ts";
import { NCUT_DEFAULTS, type NcutOptions, type NcutResult, normalizedCut } from "./ncut.ts";
import { farthestPointSample, nearestSampled, pcaProject, takeRows } from "./sampling.ts";

export const NYSTROM_DEFAULTS = { m: 10_000, knn: 10, fpsDims: 8 } as const;

export type NystromStage = "sample" | "affinity" | "eigen" | "propagate";

export interface NystromOptions extends Omit<NcutOptions, "onProgress"> {
  /** Sampled nodes (default 10000, or every node when there are fewer). */
  m?: number;
  /** Sampled neighbours averaged per node (default 10). */
  knn?: number;
  /** Farthest-point sampling runs on the top principal axes of the unit rows (default 8). */
  fpsDims?: number;
  /**
   * Weight each sampled node by the nodes it stands for (default true): c_j = Σ_i P_ij with P the propagation
   * weights, and the sampled graph is cut as the full graph coarsened onto the sample (AffinityOptions.mass).
   * false: the sampled graph is cut as it is (farthest-point sampling then under-weights dense regions).
   */
  weighted?: boolean;
  onProgress?: (p: { stage: NystromStage; done: number; total: number }) => void;
}

export interface NystromResult {
  n: number;
  k: number;
  /** Eigenvalues of the sampled graph's M, descending. */
  values: Float64Array;
  /** n × k node-major; columns of unit length, signs by fixSigns. */
  vectors: Float64Array;
  /** Sampled node indices in farthest-point order (every node, in order, when m = n). */
  sample: Int32Array;
  /** The exact solve on the sampled graph. */
  sampled: NcutResult;
  /** True when m = n: the result is the exact normalized cut. */
  exact: boolean;
}

/** Normalized-cut embedding of every node of `unit` (unit rows) through an m-node sample. */
export function nystromNcut(unit: NodeMatrix, options: NystromOptions = {}): NystromResult {
  const n = unit.n;
  const m = checkInt("m", Math.min(options.m ?? NYSTROM_DEFAULTS.m, n), 1);
  const K = checkInt("knn", Math.min(options.knn ?? NYSTROM_DEFAULTS.knn, m), 1);
  const fpsDims = checkInt("fpsDims", options.fpsDims ?? NYSTROM_DEFAULTS.fpsDims, 1);
  const gamma = checkGamma(options.gamma ?? NCUT_DEFAULTS.gamma);
  const progress = options.onProgress;
  const ncutOptions: NcutOptions = {
    ...options,
    gamma,
    onProgress: (p) => progress?.(p),
  };
  if (m === n) {
    const sampled = normalizedCut(unit, ncutOptions);
    return {
      n,
      k: sampled.k,
      values: sampled.values,
      vectors: sampled.vectors,
      sample: Int32Array.from({ length: n }, (_, i) => i),
      sampled,
      exact: true,
    };
  }
  const space = unit.d > fpsDims ? pcaProject(unit, fpsDims) : unit;
  const sample = farthestPointSample(space, m, options.signal, (done, total) =>
    progress?.({ stage: "sample", done, total }),
  );
  const sub = takeRows(unit, sample);
  checkAborted(options.signal, "nyström");
  const nn = nearestSampled(unit, sub, K, options.signal, (done, total) =>
    progress?.({ stage: "propagate", done, total }),
  );
  // Propagation weights P_it ∝ A(i, KNN_t(i)), rows summing to 1; a sampled node is its own only neighbour.
  const own = new Int32Array(n).fill(-1);
  for (let s = 0; s < m; s++) own[sample[s]] = s;
  const weights = new Float64Array(n * K);
  for (let i = 0; i < n; i++) {
    if (own[i] >= 0) continue;
    let wsum = 0;
    for (let t = 0; t < K; t++) wsum += weights[i * K + t] = affinityOf(nn.cos[i * K + t], gamma);
    for (let t = 0; t < K; t++) weights[i * K + t] /= wsum;
  }
  let mass: Float64Array | undefined;
  if (options.weighted ?? true) {
    // c_j = Σ_i P_ij: the share of the graph that sampled node j stands for.
    mass = new Float64Array(m);
    for (let i = 0; i < n; i++) {
      if (own[i] >= 0) mass[own[i]] += 1;
      else for (let t = 0; t < K; t++) mass[nn.index[i * K + t]] += weights[i * K + t];
    }
  }
  const sampled = normalizedCut(sub, { ...ncutOptions, mass });
  const k = sampled.k;
  // With masses the sampled solution z relates to the full graph's v by v = z / √c on each sampled node's group.
  const z = Float64Array.from(sampled.vectors);
  if (mass) for (let s = 0; s < m; s++) for (let j = 0; j < k; j++) z[s * k + j] /= Math.sqrt(mass[s]);
  const vectors = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    const dst = i * k;
    if (own[i] >= 0) {
      for (let j = 0; j < k; j++) vectors[dst + j] = z[own[i] * k + j];
      continue;
    }
    // v_i = Σ_t P_it v_{KNN_t(i)}.
    for (let t = 0; t < K; t++) {
      const w = weights[i * K + t];
      const src = nn.index[i * K + t] * k;
      for (let j = 0; j < k; j++) vectors[dst + j] += w * z[src + j];
    }
  }
  // Columns back to unit length (the sampled solution had unit length over m nodes).
  for (let j = 0; j < k; j++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += vectors[i * k + j] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let i = 0; i < n; i++) vectors[i * k + j] *= inv;
  }
  fixSigns(vectors, n, k);
  return { n, k, values: sampled.values, vectors, sample, sampled, exact: false };
}
