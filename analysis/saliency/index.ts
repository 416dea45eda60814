// Shared-feature visualization (Lappe et al. 2024): β reweighting, mass selection, smoothing, maps, pair choice.
export { beta, type MassSelection, massSelection } from "./beta.ts";
export { SaliencyError, type SaliencyErrorCode } from "./errors.ts";
export {
  type BackboneSource,
  loadBackboneWeights,
  loadGradientBackbone,
  loadTfjsBackbone,
} from "./load-backbone.ts";
export { dilateMask, massOnMask } from "./mask-mass.ts";
export {
  mapIntensity,
  overlayHeatMap,
  pairOverlay,
  type RGBBytes,
  sideBySide,
} from "./overlay.ts";
export { type BestPair, bestPair, type PairCandidates } from "./pair.ts";
export {
  SALIENCY_METHODS,
  type SaliencyImage,
  type SaliencyMethod,
  type SaliencyReadout,
  type SharedFeatureOptions,
  type SharedFeatureResult,
  sharedFeatureMaps,
  zeroInputImage,
} from "./shared-features.ts";
export { gaussianKernel, gaussianSmooth, l2Norm, unitNorm } from "./smooth.ts";
