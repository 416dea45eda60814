// Bilinear resampling of an image batch with an exact adjoint: the geometric transforms (scale, rotation) as
//   out[p] = Σ_k w[p, k] · in[i(p, k)] + fill · (1 − Σ_k w[p, k]),   k = the 4 bilinear neighbours
// of the source point of output pixel p. Edges: "fill" gives neighbours outside the image weight 0, so the border
// fades to `fill` (scipy.ndimage mode "grid-constant"); "clamp" moves the source point onto the image (PyTorch
// interpolate, align_corners=False).
// Forward: a gather; backward: the same weights scattered back (scatterND sums repeated indices) — every tfjs
// backend has both kernels (wasm has no UnsortedSegmentSum, which tf.gather's own gradient needs).
import * as tf from "@tensorflow/tfjs-core";
import { check } from "./errors.ts";

/** Which input pixels (row-major index) and weights make each output pixel (4 per output pixel). */
export interface Resampling {
  inHeight: number;
  inWidth: number;
  outHeight: number;
  outWidth: number;
  index: Int32Array;
  weight: Float32Array;
  fill: number;
}

/**
 * The bilinear resampling whose output pixel (y, x) (pixel centres at integers) reads the input at
 * source(y, x) = [ys, xs] in input pixel coordinates.
 */
export function bilinearResampling(
  inHeight: number,
  inWidth: number,
  outHeight: number,
  outWidth: number,
  source: (y: number, x: number) => [number, number],
  fill: number | "clamp",
): Resampling {
  const clamp = fill === "clamp";
  const p = outHeight * outWidth;
  const index = new Int32Array(4 * p);
  const weight = new Float32Array(4 * p);
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      let [ys, xs] = source(y, x);
      if (clamp) {
        ys = Math.min(inHeight - 1, Math.max(0, ys));
        xs = Math.min(inWidth - 1, Math.max(0, xs));
      }
      const y0 = Math.floor(ys);
      const x0 = Math.floor(xs);
      const fy = ys - y0;
      const fx = xs - x0;
      const o = 4 * (y * outWidth + x);
      const taps: Array<[number, number, number]> = [
        [y0, x0, (1 - fy) * (1 - fx)],
        [y0, x0 + 1, (1 - fy) * fx],
        [y0 + 1, x0, fy * (1 - fx)],
        [y0 + 1, x0 + 1, fy * fx],
      ];
      for (const [k, [ty, tx, wt]] of taps.entries()) {
        const inside = ty >= 0 && ty < inHeight && tx >= 0 && tx < inWidth;
        index[o + k] = inside ? ty * inWidth + tx : 0;
        weight[o + k] = inside ? wt : 0;
      }
    }
  }
  return { inHeight, inWidth, outHeight, outWidth, index, weight, fill: clamp ? 0 : fill };
}

/**
 * Resize to outHeight × outWidth: bilinear at half-pixel centres with clamped edges (PyTorch interpolate,
 * mode bilinear, align_corners=False, no antialiasing).
 */
export function resizeResampling(
  height: number,
  width: number,
  outHeight: number,
  outWidth: number,
): Resampling {
  check(Number.isInteger(outHeight) && outHeight >= 1, "height", outHeight, "a whole number of pixels ≥ 1");
  check(Number.isInteger(outWidth) && outWidth >= 1, "width", outWidth, "a whole number of pixels ≥ 1");
  const sy = height / outHeight;
  const sx = width / outWidth;
  return bilinearResampling(
    height,
    width,
    outHeight,
    outWidth,
    (y, x) => [(y + 0.5) * sy - 0.5, (x + 0.5) * sx - 0.5],
    "clamp",
  );
}

/** Scale by `factor` (the output has round(factor·size) pixels per side). */
export function scaleResampling(height: number, width: number, factor: number): Resampling {
  check(Number.isFinite(factor) && factor > 0, "scale", factor, "a positive factor");
  const oh = Math.max(1, Math.round(height * factor));
  const ow = Math.max(1, Math.round(width * factor));
  return resizeResampling(height, width, oh, ow);
}

/** Rotate by `degrees` (counter-clockwise as displayed) about the image centre; same size. */
export function rotationResampling(height: number, width: number, degrees: number, fill: number): Resampling {
  check(Number.isFinite(degrees), "rotation", degrees, "a finite angle in degrees");
  const a = (degrees * Math.PI) / 180;
  const cos = Math.cos(a);
  const sin = Math.sin(a);
  const cy = (height - 1) / 2;
  const cx = (width - 1) / 2;
  // y points down: a counter-clockwise turn maps (dx, dy) to (cos·dx + sin·dy, −sin·dx + cos·dy) about the
  // centre; each output point reads the input at its inverse image.
  return bilinearResampling(
    height,
    width,
    height,
    width,
    (y, x) => {
      const dy = y - cy;
      const dx = x - cx;
      return [cy + sin * dx + cos * dy, cx + cos * dx - sin * dy];
    },
    fill,
  );
}

/** Apply `r` to every image and channel of x [n, H, W, c] → [n, outH, outW, c], differentiable (exact adjoint). */
export function resample(x: tf.Tensor4D, r: Resampling): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  check(h === r.inHeight && w === r.inWidth, "image", x.shape, `[n, ${r.inHeight}, ${r.inWidth}, c]`);
  const p = r.outHeight * r.outWidth;
  const rows = n * c;
  // The gather indices and weights are saved for the backward pass (the engine keeps them until the tape ends).
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const index = tf.tensor1d(r.index, "int32");
    const weight = tf.tensor3d(r.weight, [p, 4, 1]);
    save([index, weight]);
    const flat = tf.reshape(tf.transpose(input, [1, 2, 0, 3]), [h * w, rows]);
    const taps = tf.reshape(tf.gather(flat, index), [p, 4, rows]);
    let out = tf.sum(tf.mul(taps, weight), 1);
    if (r.fill !== 0) out = tf.add(out, tf.mul(tf.sub(1, tf.sum(weight, 1)), r.fill));
    const value = tf.transpose(tf.reshape(out, [r.outHeight, r.outWidth, n, c]), [2, 0, 1, 3]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [savedIndex, savedWeight] = saved;
      const dyFlat = tf.reshape(tf.transpose(dy, [1, 2, 0, 3]), [p, 1, rows]);
      const updates = tf.reshape(tf.mul(dyFlat, savedWeight), [4 * p, rows]);
      const dx = tf.scatterND(tf.reshape(savedIndex, [4 * p, 1]), updates, [h * w, rows]);
      return tf.transpose(tf.reshape(dx, [h, w, n, c]), [2, 0, 1, 3]);
    };
    return { value, gradFunc };
  });
  return op(x) as tf.Tensor4D;
}
