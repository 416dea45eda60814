// The normalized cut's spectral embedding: the top-k eigenvectors of M = D^-½ A D^-½ (Shi & Malik 2000; the
// relaxed problem D^-½ A D^-½ v = λ v, v = D^½ y), solved exactly on the whole graph, with the sign convention of
// fixSigns (most entries of each eigenvector positive).
import {
  matrixFreeOperator,
  matrixOperator,
  type NodeMatrix,
  degrees as nodeDegrees,
  normalizedAffinity,
} from "./affinity.ts";
import { type EigenPairs, fixSigns, lanczosTopK, symmetricEigen } from "./eigen.ts";
import { badOption, checkAborted, checkInt } from "./errors.ts";

export type NcutSolver = "auto" | "dense" | "lanczos" | "matrix-free";

export interface NcutOptions {
  /** Eigenvectors to keep (default 10, at most n). */
  k?: number;
  /** Affinity scale γ in exp(−(1 − cos)/γ) (default 0.1). */
  gamma?: number;
  /**
   * dense: float64 matrix + tred2/tql2 (every eigenpair, O(n³)); lanczos: float32 matrix + thick-restart Lanczos;
   * matrix-free: Lanczos recomputing the affinities at each step (O(n) memory). auto: dense up to 500 nodes, then
   * lanczos while the float32 matrix fits in maxMatrixBytes, else matrix-free.
   */
  solver?: NcutSolver;
  /** Memory allowed for a materialized matrix (default 1.5 GiB). */
  maxMatrixBytes?: number;
  /** Lanczos residual tolerance (default 1e-8). */
  tol?: number;
  seed?: number;
  /** Node masses (see AffinityOptions.mass); default 1. */
  mass?: Float64Array;
  signal?: AbortSignal;
  onProgress?: (p: { stage: "affinity" | "eigen"; done: number; total: number }) => void;
}

export interface NcutResult extends EigenPairs {
  /** d_i = Σ_j A_ij c_j. */
  degree: Float64Array;
  solver: Exclude<NcutSolver, "auto">;
  /** Operator applications (dense: 0). */
  applied: number;
}

export const NCUT_DEFAULTS = { k: 10, gamma: 0.1, maxMatrixBytes: 1.5 * 2 ** 30, denseUpTo: 500 } as const;

/** Exact normalized-cut embedding of every node of `unit` (rows of unit length, see unitRows). */
export function normalizedCut(unit: NodeMatrix, options: NcutOptions = {}): NcutResult {
  const n = unit.n;
  const k = checkInt("k", options.k ?? NCUT_DEFAULTS.k, 1, n);
  const gamma = options.gamma ?? NCUT_DEFAULTS.gamma;
  const maxBytes = options.maxMatrixBytes ?? NCUT_DEFAULTS.maxMatrixBytes;
  const requested = options.solver ?? "auto";
  if (!["auto", "dense", "lanczos", "matrix-free"].includes(requested))
    badOption("solver", requested, "auto, dense, lanczos or matrix-free");
  const solver: NcutResult["solver"] =
    requested !== "auto"
      ? requested
      : n <= NCUT_DEFAULTS.denseUpTo
        ? "dense"
        : n * n * 4 <= maxBytes
          ? "lanczos"
          : "matrix-free";
  const progress = options.onProgress;
  const affinity = (precision: 32 | 64) =>
    normalizedAffinity(unit, gamma, {
      precision,
      mass: options.mass,
      signal: options.signal,
      onRow: (d, t) => progress?.({ stage: "affinity", done: d, total: t }),
    });
  const lanczosOptions = {
    tol: options.tol,
    seed: options.seed,
    signal: options.signal,
    onProgress: (p: { converged: number }) => progress?.({ stage: "eigen", done: p.converged, total: k }),
  };
  let pairs: EigenPairs;
  let degree: Float64Array;
  let applied = 0;
  if (solver === "dense") {
    const na = affinity(64);
    degree = na.degree;
    checkAborted(options.signal, "normalized cut");
    const all = symmetricEigen(na.matrix as Float64Array, n);
    const vectors = new Float64Array(n * k);
    for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) vectors[i * k + j] = all.vectors[i * n + j];
    pairs = { values: all.values.slice(0, k), vectors, n, k };
  } else if (solver === "lanczos") {
    if (n * n * 4 > maxBytes)
      badOption("solver", solver, `matrix-free for ${n} nodes (the float32 matrix needs ${n * n * 4} bytes)`);
    const na = affinity(32);
    degree = na.degree;
    const r = lanczosTopK(matrixOperator(na), k, lanczosOptions);
    applied = r.applied;
    pairs = r;
  } else {
    progress?.({ stage: "affinity", done: 0, total: n });
    degree = nodeDegrees(unit, gamma, options.mass, options.signal);
    progress?.({ stage: "affinity", done: n, total: n });
    const r = lanczosTopK(matrixFreeOperator(unit, gamma, degree, options.mass), k, lanczosOptions);
    applied = r.applied;
    pairs = r;
  }
  fixSigns(pairs.vectors, n, k);
  return { ...pairs, degree, solver, applied };
}
