// Input gradient of a 'valid' strided conv as a forward conv (the stock Conv2DBackpropInput on wasm is ~10× slower
// than the forward conv; this runs at forward-conv speed through XNNPACK).
//
// 1-D derivation (each spatial axis alike): y[o] = Σ_i x[s·o + i]·w[i]  ⇒  dx[s·a + p] = Σ_j dy[a − j]·w[s·j + p].
// For each phase p ∈ [0, s) this is a full correlation of dy with the reversed sub-kernel w[s·j + p]; padding every
// sub-kernel to K = ⌈k/s⌉ taps (zeros in front) gives all s² phases one input padding (K−1 before), so the phases
// become the s²·C output channels of ONE forward conv, interleaved back into space by depthToSpace(s).
// For s = 1 this is the familiar conv with the 180°-rotated, in/out-transposed kernel.
import * as tf from "@tensorflow/tfjs-core";
import type { ConvParams } from "./description.ts";

/** OIHW float32 → HWIO float32 (tfjs filter layout). */
export function oihwToHwio(weight: Float32Array, o: number, c: number, k: number): Float32Array {
  const out = new Float32Array(weight.length);
  for (let co = 0; co < o; co++)
    for (let ci = 0; ci < c; ci++)
      for (let h = 0; h < k; h++)
        for (let w = 0; w < k; w++)
          out[((h * k + w) * c + ci) * o + co] = weight[((co * c + ci) * k + h) * k + w];
  return out;
}

/**
 * The kernel of the input-gradient conv, HWIO [K, K, O, s²·C], from a forward filter OIHW [O, C, k, k]:
 * channel block (py·s + px) holds phase (py, px): G[t, u, o, (py·s+px)·C + c] = w[o, c, s(K−1−t)+py, s(K−1−u)+px]
 * (zero where the tap index reaches k).
 */
export function inputGradFilter(
  weight: Float32Array,
  o: number,
  c: number,
  k: number,
  stride: number,
): Float32Array {
  const s = stride;
  const K = Math.ceil(k / s);
  const outC = s * s * c;
  const g = new Float32Array(K * K * o * outC);
  for (let t = 0; t < K; t++)
    for (let u = 0; u < K; u++)
      for (let py = 0; py < s; py++)
        for (let px = 0; px < s; px++) {
          const h = s * (K - 1 - t) + py;
          const w = s * (K - 1 - u) + px;
          if (h >= k || w >= k) continue;
          const block = (py * s + px) * c;
          for (let co = 0; co < o; co++) {
            const dst = ((t * K + u) * o + co) * outC + block;
            const src = co * c * k * k + h * k + w;
            for (let ci = 0; ci < c; ci++) g[dst + ci] = weight[src + ci * k * k];
          }
        }
  return g;
}

/** Rows/columns of dx to return: [top, left, height, width] within the conv's (padded) input. */
export type Crop = [number, number, number, number];

/**
 * dx of y = conv2d(x, filter, stride, 'valid') for x of spatial size inH × inW, given dy (NHWC) and the
 * precomputed `gradFilter` (see inputGradFilter). With `crop`, only that window of dx (e.g. the unpadded input of a
 * padded conv); at stride 1 the crop is folded into dy's padding, so no slice is needed.
 */
export function conv2dInputGrad(
  dy: tf.Tensor4D,
  gradFilter: tf.Tensor4D,
  kernel: number,
  stride: number,
  inH: number,
  inW: number,
  crop: Crop = [0, 0, inH, inW],
): tf.Tensor4D {
  return tf.tidy(() => {
    const s = stride;
    const K = Math.ceil(kernel / s);
    const [n, ho, wo] = dy.shape;
    const [top, left, outH, outW] = crop;
    if (s === 1) {
      // out[a] = Σ_t dy[a + top + t − (K−1)]·g[t] for a ∈ [0, outH): pad dy by K−1−top before, the rest after.
      const pads = [K - 1 - top, outH + top - ho, K - 1 - left, outW + left - wo];
      if (pads.every((p) => p >= 0)) {
        const dyPadded = tf.pad(dy, [
          [0, 0],
          [pads[0], pads[1]],
          [pads[2], pads[3]],
          [0, 0],
        ]);
        return tf.conv2d(dyPadded, gradFilter, 1, "valid");
      }
    }
    const ah = Math.ceil(inH / s);
    const aw = Math.ceil(inW / s);
    const dyPadded = tf.pad(dy, [
      [0, 0],
      [K - 1, ah - ho],
      [K - 1, aw - wo],
      [0, 0],
    ]);
    const phases = tf.conv2d(dyPadded, gradFilter, 1, "valid");
    const c = gradFilter.shape[3] / (s * s);
    const spatial = s === 1 ? phases : tf.depthToSpace(phases, s, "NHWC");
    if (top === 0 && left === 0 && outH === spatial.shape[1] && outW === spatial.shape[2]) return spatial;
    return tf.slice(spatial, [0, top, left, 0], [n, outH, outW, c]);
  });
}

export type InputGradKernel = "stock" | "forward-conv";

/** A 'valid' conv with fused bias (+ReLU) whose input gradient is computed by `kernel`. Weights are constants. */
export interface ConvWithInputGrad {
  apply(x: tf.Tensor4D): tf.Tensor4D;
  /** dx for dy (any batch) w.r.t. an input of spatial size inH × inW (window `crop` of it); dy already ReLU-masked. */
  inputGrad(dy: tf.Tensor4D, inH: number, inW: number, crop?: Crop): tf.Tensor4D;
  dispose(): void;
}

/** Shape of a conv for `convWithInputGrad` (a ConvOp satisfies it). */
export interface ConvGeometry {
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  relu: boolean;
}

/**
 * The conv of `geometry` with folded OIHW `params`; the input-gradient kernel is built on the first backward pass
 * (forward-only use costs no extra memory).
 */
export function convWithInputGrad(
  geometry: ConvGeometry,
  params: ConvParams,
  kernel: InputGradKernel,
): ConvWithInputGrad {
  const { inChannels: c, outChannels: o, kernel: k, stride, relu } = geometry;
  const filter = tf.tensor4d(oihwToHwio(params.weight, o, c, k), [k, k, c, o]);
  const bias = tf.tensor1d(params.bias);
  let gradFilter: tf.Tensor4D | null = null;
  const K = Math.ceil(k / stride);
  const ensureGradFilter = (): tf.Tensor4D => {
    gradFilter ??= tf.keep(
      tf.tensor4d(inputGradFilter(params.weight, o, c, k, stride), [K, K, o, stride * stride * c]),
    );
    return gradFilter;
  };
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const x4 = args[0] as tf.Tensor4D;
    const save = args[1] as tf.GradSaveFunc;
    const y = tf.fused.conv2d({
      x: x4,
      filter,
      strides: stride,
      pad: "valid",
      bias,
      activation: relu ? "relu" : "linear",
    });
    save(relu ? [x4, y] : [x4]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
        const xs = saved[0] as tf.Tensor4D;
        const dyMasked = (relu ? tf.mul(dy, tf.step(saved[1])) : dy) as tf.Tensor4D;
        return inputGrad(dyMasked, xs.shape[1], xs.shape[2]);
      },
    };
  });
  const inputGrad = (dy: tf.Tensor4D, inH: number, inW: number, crop?: Crop): tf.Tensor4D => {
    if (kernel === "forward-conv") return conv2dInputGrad(dy, ensureGradFilter(), k, stride, inH, inW, crop);
    const dx = tf.conv2dTranspose(dy, filter, [dy.shape[0], inH, inW, c], stride, "valid");
    if (!crop) return dx;
    return tf.tidy(() => tf.slice(dx, [0, crop[0], crop[1], 0], [dy.shape[0], crop[2], crop[3], c]));
  };
  return {
    apply: (x) => op(x) as tf.Tensor4D,
    inputGrad,
    dispose: () => {
      filter.dispose();
      bias.dispose();
      gradFilter?.dispose();
      gradFilter = null;
    },
  };
}
