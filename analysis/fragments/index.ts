// Phase-3 fragments (issue #21): salient masks of a shared-feature map, random same-area controls on the object's
// silhouette, fragment images over the background gray, and the causal test of the recorded responses (pure).
export {
  acrossChannels,
  type CausalTest,
  type CausalVerdict,
  causalTest,
  type FragmentResponses,
  type RankComparison,
} from "./causal-test.ts";
export { type ComposedKind, composeFragment, type FragmentImage } from "./compose.ts";
export { FragmentError, type FragmentErrorCode } from "./errors.ts";
export {
  type MaskBasis,
  type SalientMask,
  type SalientMaskOptions,
  salientMask,
  softenMask,
} from "./masks.ts";
export { type RandomMaskOptions, randomMasks } from "./random-masks.ts";
