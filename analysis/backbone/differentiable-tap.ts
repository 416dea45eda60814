// The backbone as a differentiable tfjs function of the image: rgb 0..255 NHWC [n, H, W, 3] → activation at a tap
// [n, h, w, c]. Feature visualization (and anything else that puts tfjs ops before or after the backbone) calls it
// inside tf.grad / tf.variableGrads and never learns which engine computes the backward pass.
import type * as tf from "@tensorflow/tfjs-core";
import type { TfjsBackbone } from "./tfjs-executor.ts";

export type DifferentiableTap = (rgb: tf.Tensor4D) => tf.Tensor4D;

/** The tfjs engine: forward and backward both in tfjs (the fallback and the reference). */
export function tfjsDifferentiableTap(backbone: TfjsBackbone, tap: string): DifferentiableTap {
  return (rgb) => backbone.forward(backbone.preprocess(rgb), tap);
}
