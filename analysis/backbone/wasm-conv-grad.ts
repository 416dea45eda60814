// Input gradient of a 'valid' strided conv as a forward conv (the stock Conv2DBackpropInput on wasm is ~10× slower
// than the forward conv; this runs at forward-conv speed through XNNPACK).
//
// 1-D derivation (each spatial axis alike): y[o] = Σ_i x[s·o + i]·w[i]  ⇒  dx[s·a + p] = Σ_j dy[a − j]·w[s·j + p].
// For each phase p ∈ [0, s) this is a full correlation of dy with the reversed sub-kernel w[s·j + p]; padding every
// sub-kernel to K = ⌈k/s⌉ taps (zeros in front) gives all s² phases one input padding (K−1 before), so the phases
// become the s²·C output channels of ONE forward conv, interleaved back into space by depthToSpace(s).
// For s = 1 this is the familiar conv with the 180°-rotated, in/out-transposed kernel.
import * as tf from "@tensorflow/tfjs-core";

/**
 * The kernel of the input-gradient conv: HWIO [K, K, O, s²·C] from a forward filter HWIO [k, k, C, O].
 * Channel block (py·s + px) holds phase (py, px): G[t, u, o, (py·s+px)·C + c] = w[s(K−1−t)+py, s(K−1−u)+px, c, o].
 */
export function inputGradFilter(filter: tf.Tensor4D, stride: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [k, , c, o] = filter.shape;
    const s = stride;
    const K = Math.ceil(k / s);
    const padded = tf.pad(filter, [
      [0, s * K - k],
      [0, s * K - k],
      [0, 0],
      [0, 0],
    ]);
    // h = s·J + p → [J, p]; reverse J (t = K−1−J); order [Jy, Jx, O, py, px, C].
    const split = tf.reshape(padded, [K, s, K, s, c, o]);
    const ordered = tf.transpose(tf.reverse(split, [0, 2]), [0, 2, 5, 1, 3, 4]);
    return tf.reshape(ordered, [K, K, o, s * s * c]) as tf.Tensor4D;
  });
}

/**
 * dx of y = conv2d(x, filter, stride, 'valid') for x of spatial size inH × inW, given dy (NHWC) and the
 * precomputed `gradFilter = inputGradFilter(filter, stride)`.
 */
export function conv2dInputGrad(
  dy: tf.Tensor4D,
  gradFilter: tf.Tensor4D,
  kernel: number,
  stride: number,
  inH: number,
  inW: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    const s = stride;
    const K = Math.ceil(kernel / s);
    const [n, ho, wo] = dy.shape;
    const ah = Math.ceil(inH / s);
    const aw = Math.ceil(inW / s);
    const dyPadded = tf.pad(dy, [
      [0, 0],
      [K - 1, ah - ho],
      [K - 1, aw - wo],
      [0, 0],
    ]);
    const phases = tf.conv2d(dyPadded, gradFilter, 1, "valid");
    if (s === 1) return phases;
    const c = gradFilter.shape[3] / (s * s);
    const spatial = tf.depthToSpace(phases, s, "NHWC");
    return tf.slice(spatial, [0, 0, 0, 0], [n, inH, inW, c]);
  });
}

export type InputGradKernel = "stock" | "forward-conv";

/** A 'valid' conv with fused bias (+ReLU) whose input gradient is computed by `kernel`. Weights are constants. */
export interface ConvWithInputGrad {
  apply(x: tf.Tensor4D): tf.Tensor4D;
  dispose(): void;
}

export function convWithInputGrad(
  filter: tf.Tensor4D,
  bias: tf.Tensor1D,
  stride: number,
  relu: boolean,
  kernel: InputGradKernel,
): ConvWithInputGrad {
  const k = filter.shape[0];
  const gradFilter = kernel === "forward-conv" ? inputGradFilter(filter, stride) : null;
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
        const [, inH, inW] = xs.shape;
        if (gradFilter) return conv2dInputGrad(dyMasked, gradFilter, k, stride, inH, inW);
        return tf.conv2dTranspose(dyMasked, filter, xs.shape, stride, "valid");
      },
    };
  });
  return {
    apply: (x) => op(x) as tf.Tensor4D,
    dispose: () => gradFilter?.dispose(),
  };
}
