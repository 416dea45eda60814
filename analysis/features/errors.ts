// Errors of the feature extractor, cache and .npy files; `code` is public API.
import { EphysError } from "../errors.ts";

export type FeatureErrorCode =
  | "EPHYS_BAD_FEATURE_REQUEST" // an option or argument out of its range
  | "EPHYS_BAD_NPY" // a .npy file this reader cannot take
  | "EPHYS_FEATURE_RANGE" // a feature value outside float16's finite range (cannot be cached)
  | "EPHYS_ABORTED"; // computeFeatures was cancelled through its signal

export class FeatureError extends EphysError<FeatureErrorCode> {}
