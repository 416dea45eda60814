// Public API of the readout: feature maps and bilinear sampling, the Gaussian readout and its batched fit, splits.
export { adamState, adamStep } from "./adam.ts";
export { ReadoutError, type ReadoutErrorCode } from "./errors.ts";
export {
  type BilinearTaps,
  bilinearTaps,
  checkFeatureMaps,
  extractAtLocation,
  type FeatureMaps,
  type Location,
  pixelLocation,
  selectImages,
} from "./feature-maps.ts";
export {
  type ChannelTargets,
  type ExtraTrainingRows,
  type FitProgress,
  fitGaussianReadouts,
  type ReadoutFitInput,
  type ReadoutFitOptions,
  type RowSplit,
  type TapGradients,
  tapGradients,
} from "./fit-readouts.ts";
export {
  type GaussianReadout,
  type GaussianReadoutJSON,
  predict,
  readoutFromJSON,
  readoutToJSON,
} from "./gaussian-readout.ts";
export { addPenaltyGradient, type Penalty, type PenaltyKind, penaltyValue } from "./penalty.ts";
export { type SplitCounts, type StimulusSplit, splitStimuli } from "./splits.ts";
