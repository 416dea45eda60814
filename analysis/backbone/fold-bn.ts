// Batch norm folded into the preceding convolution (inference form of BN).
import type { ConvParams } from "./description.ts";

export interface BatchNormParams {
  gamma: Float32Array;
  beta: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  eps: number;
}

/**
 * w' = w·γ/√(var+eps), b' = β + (b − mean)·γ/√(var+eps)  (BN(conv(x)+b) = conv'(x)+b'; b = 0 without a conv bias).
 * `weight` is OIHW with O = γ.length; computed in float64, stored float32.
 */
export function foldBatchNorm(
  weight: Float32Array,
  convBias: Float32Array | null,
  bn: BatchNormParams,
): ConvParams {
  const out = bn.gamma.length;
  const perOut = weight.length / out;
  const folded = new Float32Array(weight.length);
  const bias = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    const scale = bn.gamma[o] / Math.sqrt(bn.variance[o] + bn.eps);
    const base = o * perOut;
    for (let j = 0; j < perOut; j++) folded[base + j] = weight[base + j] * scale;
    const b = convBias ? convBias[o] : 0;
    bias[o] = bn.beta[o] + (b - bn.mean[o]) * scale;
  }
  return { weight: folded, bias };
}
