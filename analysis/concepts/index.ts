// Concept discovery across channels (AlignedCut, Yang et al. 2024): channel alignment by the fitted readouts,
// normalized-cut spectral embedding with a Nyström-like approximation, colour concept maps and channel clusters.
export {
  type AffinityOptions,
  affinityOf,
  degrees,
  matrixFreeOperator,
  matrixOperator,
  type NodeMatrix,
  type NormalizedAffinity,
  normalizedAffinity,
  unitRows,
} from "./affinity.ts";
export {
  type AlignedNodes,
  alignFeatures,
  type ChannelNormalization,
  type ChannelReadout,
} from "./align.ts";
export {
  type ChannelClusterTable,
  type ChannelConcepts,
  type ConceptCluster,
  channelClusterTable,
} from "./channel-clusters.ts";
export { embed3d, type Reduction, toRGB } from "./color.ts";
export {
  type ConceptOptions,
  type ConceptProgress,
  type ConceptResult,
  type ConceptStage,
  conceptMap,
  discoverConcepts,
} from "./discover.ts";
export {
  type EigenPairs,
  fixSigns,
  type LanczosOptions,
  lanczosTopK,
  type SymmetricOperator,
  symmetricEigen,
} from "./eigen.ts";
export { ConceptError, type ConceptErrorCode } from "./errors.ts";
export { GAMMA_DEFAULTS, gammaForDegree } from "./gamma.ts";
export { assign, type KMeansResult, kmeans } from "./kmeans.ts";
export {
  adjustedRand,
  bestThresholdAccuracy,
  principalCosines,
  subspaceAgreement,
} from "./metrics.ts";
export { NCUT_DEFAULTS, type NcutOptions, type NcutResult, type NcutSolver, normalizedCut } from "./ncut.ts";
export { NYSTROM_DEFAULTS, type NystromOptions, type NystromResult, nystromNcut } from "./nystrom.ts";
export { farthestPointSample, nearestSampled, pcaProject } from "./sampling.ts";
