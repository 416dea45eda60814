// Bilinear resampling of an image batch with an exact adjoint: the geometric transforms (scale, rotation, crops,
// resizing, and all of them fused into one map) as
//   out[p] = Σ_k w[p, k] · in[i(p, k)] + fill · (1 − Σ_k w[p, k]),   k = the 4 bilinear neighbours
// of the source point of output pixel p. Edges: a number `fill` gives neighbours outside the image weight 0, so the
// border fades to the fill (scipy.ndimage mode "grid-constant"); "clamp" moves the source point onto the image
// (PyTorch interpolate, align_corners=False).
// Forward: tf.image.transform for affine maps (a native kernel of the same semantics), else a gather. Backward: the
// same weights scattered back (scatterND sums repeated indices) — every tfjs backend has these kernels (wasm lacks
// UnsortedSegmentSum, which tf.gather's own gradient needs), and tf.image.transform has no gradient at all.
import * as tf from "@tensorflow/tfjs-core";
import { check } from "./errors.ts";

/** An affine map of pixel coordinates (pixel centres at integers): ys = m0·y + m1·x + m2, xs = m3·y + m4·x + m5. */
export type Affine = readonly [number, number, number, number, number, number];

export const IDENTITY: Affine = [1, 0, 0, 0, 1, 0];

/** a ∘ b: first b, then a (the source map of a chain whose later step is b). */
export function composeAffine(a: Affine, b: Affine): Affine {
  return [
    a[0] * b[0] + a[1] * b[3],
    a[0] * b[1] + a[1] * b[4],
    a[0] * b[2] + a[1] * b[5] + a[2],
    a[3] * b[0] + a[4] * b[3],
    a[3] * b[1] + a[4] * b[4],
    a[3] * b[2] + a[4] * b[5] + a[5],
  ];
}

/** The 4 bilinear taps of every output pixel: input pixel indices (row-major) and weights. */
export interface Taps {
  index: Int32Array;
  weight: Float32Array;
}

export interface Resampling {
  inHeight: number;
  inWidth: number;
  outHeight: number;
  outWidth: number;
  fill: number | "clamp";
  /** Output pixel (y, x) → source point (ys, xs) in input pixel coordinates. */
  source: (y: number, x: number) => [number, number];
  /** Present when the source map is affine (the forward pass then runs tf.image.transform). */
  affine?: Affine;
  /** The taps, built on first use (the backward pass and the gather forward need them). */
  taps(): Taps;
}

function buildTaps(r: Omit<Resampling, "taps">): Taps {
  const { inHeight, inWidth, outHeight, outWidth } = r;
  const clamp = r.fill === "clamp";
  const p = outHeight * outWidth;
  const index = new Int32Array(4 * p);
  const weight = new Float32Array(4 * p);
  const put = (o: number, ty: number, tx: number, wt: number) => {
    const inside = ty >= 0 && ty < inHeight && tx >= 0 && tx < inWidth;
    index[o] = inside ? ty * inWidth + tx : 0;
    weight[o] = inside ? wt : 0;
  };
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      let [ys, xs] = r.source(y, x);
      if (clamp) {
        ys = Math.min(inHeight - 1, Math.max(0, ys));
        xs = Math.min(inWidth - 1, Math.max(0, xs));
      }
      const y0 = Math.floor(ys);
      const x0 = Math.floor(xs);
      const fy = ys - y0;
      const fx = xs - x0;
      const o = 4 * (y * outWidth + x);
      put(o, y0, x0, (1 - fy) * (1 - fx));
      put(o + 1, y0, x0 + 1, (1 - fy) * fx);
      put(o + 2, y0 + 1, x0, fy * (1 - fx));
      put(o + 3, y0 + 1, x0 + 1, fy * fx);
    }
  }
  return { index, weight };
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
  affine?: Affine,
): Resampling {
  check(Number.isInteger(outHeight) && outHeight >= 1, "height", outHeight, "a whole number of pixels ≥ 1");
  check(Number.isInteger(outWidth) && outWidth >= 1, "width", outWidth, "a whole number of pixels ≥ 1");
  let taps: Taps | null = null;
  const r: Resampling = {
    inHeight,
    inWidth,
    outHeight,
    outWidth,
    fill,
    source,
    affine,
    taps: () => {
      taps ??= buildTaps(r);
      return taps;
    },
  };
  return r;
}

/** The resampling of an affine source map. */
export function affineResampling(
  inHeight: number,
  inWidth: number,
  outHeight: number,
  outWidth: number,
  m: Affine,
  fill: number | "clamp",
): Resampling {
  check(m.length === 6 && m.every(Number.isFinite), "affine", m, "six finite coefficients");
  return bilinearResampling(
    inHeight,
    inWidth,
    outHeight,
    outWidth,
    (y, x) => [m[0] * y + m[1] * x + m[2], m[3] * y + m[4] * x + m[5]],
    fill,
    m,
  );
}

/** The source map of a resize from height × width to outHeight × outWidth (half-pixel centres). */
export function resizeAffine(height: number, width: number, outHeight: number, outWidth: number): Affine {
  const sy = height / outHeight;
  const sx = width / outWidth;
  return [sy, 0, 0.5 * sy - 0.5, 0, sx, 0.5 * sx - 0.5];
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
  return affineResampling(
    height,
    width,
    outHeight,
    outWidth,
    resizeAffine(height, width, outHeight, outWidth),
    "clamp",
  );
}

/** The output size of a scale by `factor`: round(factor·size) pixels per side. */
export function scaledSize(height: number, width: number, factor: number): [number, number] {
  check(Number.isFinite(factor) && factor > 0, "scale", factor, "a positive factor");
  return [Math.max(1, Math.round(height * factor)), Math.max(1, Math.round(width * factor))];
}

/** Scale by `factor` (the output has round(factor·size) pixels per side). */
export function scaleResampling(height: number, width: number, factor: number): Resampling {
  const [oh, ow] = scaledSize(height, width, factor);
  return resizeResampling(height, width, oh, ow);
}

/**
 * The source map of a rotation by `degrees` (counter-clockwise as displayed) about the centre of a height × width
 * image. y points down: a counter-clockwise turn maps (dx, dy) to (cos·dx + sin·dy, −sin·dx + cos·dy) about the
 * centre; each output point reads the input at its inverse image.
 */
export function rotationAffine(height: number, width: number, degrees: number): Affine {
  check(Number.isFinite(degrees), "rotation", degrees, "a finite angle in degrees");
  const a = (degrees * Math.PI) / 180;
  const cos = Math.cos(a);
  const sin = Math.sin(a);
  const cy = (height - 1) / 2;
  const cx = (width - 1) / 2;
  // ys = cy + sin·(x − cx) + cos·(y − cy),  xs = cx + cos·(x − cx) − sin·(y − cy)
  return [cos, sin, cy - cos * cy - sin * cx, -sin, cos, cx - cos * cx + sin * cy];
}

/** Rotate by `degrees` (counter-clockwise as displayed) about the image centre; same size. */
export function rotationResampling(height: number, width: number, degrees: number, fill: number): Resampling {
  return affineResampling(height, width, height, width, rotationAffine(height, width, degrees), fill);
}

export interface ResampleOptions {
  /** "auto": tf.image.transform for affine maps, else gather; "gather": always gather (the reference path). */
  forward?: "auto" | "gather";
}

/** Apply `r` to every image and channel of x [n, H, W, c] → [n, outH, outW, c], differentiable (exact adjoint). */
export function resample(x: tf.Tensor4D, r: Resampling, options: ResampleOptions = {}): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  check(h === r.inHeight && w === r.inWidth, "image", x.shape, `[n, ${r.inHeight}, ${r.inWidth}, c]`);
  const p = r.outHeight * r.outWidth;
  const rows = n * c;
  const fill = r.fill === "clamp" ? 0 : r.fill;
  // tfjs-backend-cpu 4.22's Transform kernel returns after the first image of a batch: gather there for n > 1.
  const native = options.forward !== "gather" && !(n > 1 && tf.getBackend() === "cpu");
  const m = native ? r.affine : undefined;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor4D;
    let value: tf.Tensor;
    if (m) {
      // tf.image.transform maps output (x, y) to input (a0·x + a1·y + a2, b0·x + b1·y + b2).
      const t = tf.tensor2d([m[4], m[3], m[5], m[1], m[0], m[2], 0, 0], [1, 8]);
      value = tf.image.transform(input, t, "bilinear", r.fill === "clamp" ? "nearest" : "constant", fill, [
        r.outHeight,
        r.outWidth,
      ]);
    } else {
      const { index, weight } = r.taps();
      const flat = tf.reshape(tf.transpose(input, [1, 2, 0, 3]), [h * w, rows]);
      const wt = tf.tensor3d(weight, [p, 4, 1]);
      let out = tf.sum(tf.mul(tf.reshape(tf.gather(flat, tf.tensor1d(index, "int32")), [p, 4, rows]), wt), 1);
      if (fill !== 0) out = tf.add(out, tf.mul(tf.sub(1, tf.sum(wt, 1)), fill));
      value = tf.transpose(tf.reshape(out, [r.outHeight, r.outWidth, n, c]), [2, 0, 1, 3]);
    }
    const gradFunc = (dy: tf.Tensor) => {
      const { index, weight } = r.taps();
      const dyFlat = tf.reshape(tf.transpose(dy, [1, 2, 0, 3]), [p, 1, rows]);
      const updates = tf.reshape(tf.mul(dyFlat, tf.tensor3d(weight, [p, 4, 1])), [4 * p, rows]);
      const dx = tf.scatterND(tf.tensor2d(index, [4 * p, 1], "int32"), updates, [h * w, rows]);
      return tf.transpose(tf.reshape(dx, [h, w, n, c]), [2, 0, 1, 3]);
    };
    return { value, gradFunc };
  });
  return op(x) as tf.Tensor4D;
}
