// Concept discovery across channels (AlignedCut, Yang et al. 2024) as one pure function: pixel features → channel
// space (align.ts) → normalized cut with the Nyström-like approximation (nystrom.ts) → 3-D colours per node
// (color.ts) → concepts by k-means on the embedding and the channels they drive (channel-clusters.ts).
import { mulberry32, shuffleInPlace } from "../random.ts";
import type { FeatureMaps } from "../readout/index.ts";
import { unitRows } from "./affinity.ts";
import { alignFeatures, type ChannelNormalization, type ChannelReadout } from "./align.ts";
import { type ChannelClusterTable, channelClusterTable, embeddingRows } from "./channel-clusters.ts";
import { embed3d, type Reduction, toRGB } from "./color.ts";
import { badOption, checkInt } from "./errors.ts";
import { GAMMA_DEFAULTS, gammaForDegree } from "./gamma.ts";
import { assign, kmeans } from "./kmeans.ts";
import type { NcutSolver } from "./ncut.ts";
import { NYSTROM_DEFAULTS, nystromNcut } from "./nystrom.ts";
import { takeRows } from "./sampling.ts";

export type ConceptStage =
  | "align"
  | "gamma"
  | "sample"
  | "affinity"
  | "eigen"
  | "propagate"
  | "color"
  | "cluster";

export interface ConceptProgress {
  stage: ConceptStage;
  done: number;
  total: number;
}

export interface ConceptOptions {
  /** Eigenvectors (default 10). */
  k?: number;
  /** Affinity scale γ, or "auto" (default): the γ giving mean affinity `targetDegree` (see gamma.ts). */
  gamma?: number | "auto";
  targetDegree?: number;
  /** Nyström sample size (default 10000, or every node) and neighbours (default 10). */
  m?: number;
  knn?: number;
  /** Sampled nodes weighted by the nodes they stand for (default true; see NystromOptions.weighted). */
  weighted?: boolean;
  solver?: NcutSolver;
  /** Colouring: UMAP (default) or PCA. */
  reduce?: Reduction;
  /** UMAP anchors (default 1000). */
  anchors?: number;
  /** Concept clusters (default 6). */
  concepts?: number;
  /** Channel normalization before the cosine (default zscore: every channel counts equally). */
  normalization?: ChannelNormalization;
  /** Share of nodes counted as a channel's top nodes (default 0.02). */
  topFraction?: number;
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (p: ConceptProgress) => void;
}

export interface ConceptResult {
  images: number;
  h: number;
  w: number;
  nodes: number;
  channelIds: string[];
  settings: {
    k: number;
    gamma: number;
    m: number;
    knn: number;
    weighted: boolean;
    exact: boolean;
    solver: string;
    reduce: Reduction;
    concepts: number;
    normalization: ChannelNormalization;
    topFraction: number;
  };
  eigenvalues: number[];
  /** N × k node-major eigenvectors of D^-½ A D^-½ (signs by fixSigns). */
  vectors: Float64Array;
  /** N × 3 colour bytes. */
  rgb: Uint8Array;
  /** Concept of each node. */
  labels: Int32Array;
  table: ChannelClusterTable;
  /** Seconds per stage. */
  seconds: Partial<Record<ConceptStage, number>>;
}

/** Concept maps and channel clusters of `features` (n images × h × w × C) in the space of `readouts`. */
export async function discoverConcepts(
  features: FeatureMaps,
  readouts: ChannelReadout[],
  options: ConceptOptions = {},
): Promise<ConceptResult> {
  const seconds: ConceptResult["seconds"] = {};
  const progress = options.onProgress;
  let t0 = performance.now();
  const lap = (stage: ConceptStage) => {
    const t = performance.now();
    seconds[stage] = (seconds[stage] ?? 0) + (t - t0) / 1000;
    t0 = t;
  };
  const seed = options.seed ?? 1;
  progress?.({ stage: "align", done: 0, total: 1 });
  const aligned = alignFeatures(features, readouts, options.normalization ?? "zscore", options.signal);
  const unit = unitRows(aligned.nodes);
  const n = unit.n;
  lap("align");
  const k = checkInt("k", options.k ?? 10, 1, n);
  let gamma: number;
  if (options.gamma === undefined || options.gamma === "auto") {
    progress?.({ stage: "gamma", done: 0, total: 1 });
    gamma = gammaForDegree(
      unit,
      options.targetDegree ?? GAMMA_DEFAULTS.targetDegree,
      GAMMA_DEFAULTS.subset,
      seed,
    );
  } else gamma = options.gamma;
  if (!(Number.isFinite(gamma) && gamma > 0)) badOption("gamma", options.gamma, "a number > 0 or auto");
  lap("gamma");
  let stage: ConceptStage = "sample";
  const ny = nystromNcut(unit, {
    k,
    gamma,
    m: options.m ?? NYSTROM_DEFAULTS.m,
    knn: options.knn ?? NYSTROM_DEFAULTS.knn,
    weighted: options.weighted,
    solver: options.solver,
    seed,
    signal: options.signal,
    onProgress: (p) => {
      if (p.stage !== stage) {
        lap(stage);
        stage = p.stage;
      }
      progress?.(p);
    },
  });
  lap(stage);
  const reduce = options.reduce ?? "umap";
  const coords = embed3d(ny.vectors, n, k, {
    method: reduce,
    anchorOrder: ny.sample,
    anchors: options.anchors,
    seed,
    signal: options.signal,
    onProgress: (done, total) => progress?.({ stage: "color", done, total }),
  });
  const rgb = toRGB(coords, n);
  lap("color");
  const c = checkInt("concepts", options.concepts ?? 6, 1, n);
  progress?.({ stage: "cluster", done: 0, total: 1 });
  const rows = embeddingRows(ny.vectors, ny.values, n, k);
  // Fit on a seeded random subset of ≤ 20000 nodes (density as in the data), then label every node.
  const fitRows = shuffleInPlace(
    Array.from({ length: n }, (_, i) => i),
    mulberry32(seed),
  ).slice(0, Math.min(n, 20_000));
  const km = kmeans(takeRows(rows, fitRows), c, seed, 100, options.signal);
  const labels = assign(rows, km.centroids, c);
  const topFraction = options.topFraction ?? 0.02;
  const table = channelClusterTable({
    labels,
    concepts: c,
    drive: aligned.drive,
    channelIds: aligned.channelIds,
    rgb,
    pixelsPerImage: aligned.h * aligned.w,
    topFraction,
  });
  lap("cluster");
  progress?.({ stage: "cluster", done: 1, total: 1 });
  return {
    images: aligned.images,
    h: aligned.h,
    w: aligned.w,
    nodes: n,
    channelIds: aligned.channelIds,
    settings: {
      k,
      gamma,
      m: ny.sample.length,
      knn: options.knn ?? NYSTROM_DEFAULTS.knn,
      weighted: ny.exact ? false : (options.weighted ?? true),
      exact: ny.exact,
      solver: ny.sampled.solver,
      reduce,
      concepts: c,
      normalization: options.normalization ?? "zscore",
      topFraction,
    },
    eigenvalues: Array.from(ny.values),
    vectors: ny.vectors,
    rgb,
    labels,
    table,
    seconds,
  };
}

/** The h × w × 3 concept map of image `image` (bytes, row-major). */
export function conceptMap(result: Pick<ConceptResult, "rgb" | "h" | "w">, image: number): Uint8Array {
  const size = result.h * result.w * 3;
  return result.rgb.slice(image * size, (image + 1) * size);
}
