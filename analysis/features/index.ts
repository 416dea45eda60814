// analysis/features: backbone features of stimuli, extracted by ONNX Runtime or tfjs and cached on disk (float16).
export { FeatureError, type FeatureErrorCode } from "./errors.ts";
export {
  createFeatureExtractor,
  type ExecutorChoice,
  type FeatureExtractor,
  type FeatureExtractorOptions,
  inferResNetShape,
  tapFeatureShape,
} from "./extract.ts";
export { decodeFloat16, encodeFloat16, FLOAT16_MAX, fromFloat16Bits, toFloat16Bits } from "./float16.ts";
export { decodeNpy, encodeNpy, type NpyArray, npyHeader, readNpy, writeNpy } from "./npy.ts";
export {
  type ComputedFeatures,
  type ComputeFeaturesOptions,
  cacheDir,
  computeFeatures,
  countMissing,
  decodeEntry,
  encodeEntry,
  entryPath,
  type FeatureCacheKey,
  type FeatureEntry,
  type FeatureProgress,
  readEntry,
  type StimulusImage,
  writeEntry,
} from "./store.ts";
