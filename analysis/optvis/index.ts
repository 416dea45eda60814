// Feature visualization by optimization (Olah et al. 2017, lucent's split): parameterizations, transforms,
// objectives, the render loop. Pure: arrays in, arrays out; drawing and saving belong to the caller.
export { COLOR_CORRELATION_SVD_SQRT, colorCorrelationNormalized } from "./color.ts";
export { OptvisError, type OptvisErrorCode } from "./errors.ts";
export {
  constMatMul,
  disposeIrfft2,
  fftfreq,
  irfft2,
  irfft2Matrices,
  irfft2Tensors,
  rfft2dFreqs,
  spectrumScale,
} from "./fourier.ts";
export {
  diversityObjective,
  featureObjective,
  l2Penalty,
  Objective,
  type ObjectiveContext,
  type ReadoutSpec,
  readoutObjective,
  sum,
  tvPenalty,
  unitObjective,
} from "./objectives.ts";
export {
  type FourierOptions,
  fourierImage,
  gaussians,
  type Parameterization,
  type ParameterizationKind,
  type PixelOptions,
  pixelImage,
} from "./param.ts";
export {
  evaluateObjective,
  RENDER_DEFAULTS,
  type RenderOptions,
  type RenderProgress,
  type RenderResult,
  render,
  type TapMap,
} from "./render.ts";
export {
  type Affine,
  affineResampling,
  bilinearResampling,
  composeAffine,
  IDENTITY,
  type ResampleOptions,
  type Resampling,
  resample,
  resizeAffine,
  resizeResampling,
  rotationAffine,
  rotationResampling,
  scaledSize,
  scaleResampling,
  type Taps,
} from "./resample.ts";
export { SYNTHESIS_DEFAULTS, type SynthesisSettings, synthesisSettings } from "./settings.ts";
export { type ChannelSynthesis, type SynthesizeOptions, synthesizeChannel } from "./synthesize.ts";
export {
  applyGeometry,
  chainGeometry,
  compose,
  type Geometry,
  jitter,
  pad,
  randomRotate,
  randomScale,
  STANDARD_ANGLES,
  STANDARD_SCALES,
  standardTransforms,
  type Transform,
} from "./transforms.ts";
