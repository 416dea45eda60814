// Image parameterizations (lucent's split): each returns its parameters (tf.Variables, the only thing Adam updates)
// and an image function giving the batch [n, H, W, 3] in [0, 1]:
//   pixels:  x = sigmoid(M · p)                                                  (lucent pixel_image + to_valid_rgb)
//   fourier: x = sigmoid(M · irfft2(s ⊙ F) / 4),  s = 1/max(|f|, 1/max(H, W))^decay   (lucent fft_image, Olah 2017)
// with M the decorrelated-colour matrix (color.ts; identity when decorrelate is off). Initial values are seeded
// Gaussians of standard deviation sd (0.01 as lucent), drawn with mulberry32.
import * as tf from "@tensorflow/tfjs-core";
import { mulberry32, type Random } from "../random.ts";
import { colorCorrelationNormalized } from "./color.ts";
import { check } from "./errors.ts";
import { constMatMul, disposeIrfft2, halfWidth, irfft2, irfft2Tensors, spectrumScale } from "./fourier.ts";

export type ParameterizationKind = "pixels" | "fourier";

export interface Parameterization {
  readonly kind: ParameterizationKind;
  /** Every setting that defines it (stored with the images). */
  readonly settings: Record<string, unknown>;
  readonly n: number;
  readonly height: number;
  readonly width: number;
  /** The parameters the optimizer updates. */
  readonly params: tf.Variable[];
  /** The image batch [n, H, W, 3] in [0, 1], differentiable in `params`. */
  image(): tf.Tensor4D;
  dispose(): void;
}

export interface ImageShape {
  /** Images in the batch. */
  n: number;
  height: number;
  width: number;
}

export interface ParamOptions extends ImageShape {
  /** Standard deviation of the initial parameters (default 0.01). */
  sd?: number;
  /** Map the three parameter channels through the decorrelated-colour matrix (default true). */
  decorrelate?: boolean;
  /** Seed of the initial parameters (default 0). */
  seed?: number;
}

export interface FourierOptions extends ParamOptions {
  /** Exponent of the 1/f spectrum scaling (default 1). */
  decayPower?: number;
  /** Initial half spectra, real and imaginary parts [n·3, H, ⌊W/2⌋+1] (channel-major); default seeded Gaussian. */
  initial?: { re: Float32Array; im: Float32Array };
}

export interface PixelOptions extends ParamOptions {
  /** Initial parameters [n, H, W, 3] (before the colour map and sigmoid); default seeded Gaussian. */
  initial?: Float32Array;
}

/** Standard normal draws from `random` (Box–Muller). */
export function gaussians(random: Random, count: number, sd = 1): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(Math.max(random(), 1e-12)));
    const a = 2 * Math.PI * random();
    out[i] = sd * r * Math.cos(a);
    if (i + 1 < count) out[i + 1] = sd * r * Math.sin(a);
  }
  return out;
}

function checkShape(o: ParamOptions): void {
  check(Number.isInteger(o.n) && o.n >= 1, "n", o.n, "a whole number of images ≥ 1");
  check(Number.isInteger(o.height) && o.height >= 2, "height", o.height, "a whole number of pixels ≥ 2");
  check(Number.isInteger(o.width) && o.width >= 2, "width", o.width, "a whole number of pixels ≥ 2");
  check(o.sd === undefined || (Number.isFinite(o.sd) && o.sd >= 0), "sd", o.sd, "a standard deviation ≥ 0");
  check(o.seed === undefined || Number.isInteger(o.seed), "seed", o.seed, "an integer");
}

/** The colour map as [Mᵀ, M] (pixel rows times Mᵀ, and its gradient's matrix), or null for the identity. */
type Colour = [tf.Tensor2D, tf.Tensor2D] | null;

/** sigmoid(M · t) over the last axis (t [n, H, W, 3]). */
function toValidRgb(t: tf.Tensor4D, colour: Colour): tf.Tensor4D {
  if (!colour) return tf.sigmoid(t);
  const [n, h, w] = t.shape;
  const mixed = constMatMul(tf.reshape(t, [n * h * w, 3]) as tf.Tensor2D, colour[0], colour[1]);
  return tf.sigmoid(tf.reshape(mixed, [n, h, w, 3])) as tf.Tensor4D;
}

/** A trainable variable holding `values` (the temporary initial tensor is released). */
function variableOf<T extends tf.Tensor>(values: T): tf.Variable {
  const v = tf.variable(values, true, undefined, "float32");
  values.dispose();
  return v;
}

function colourMatrix(decorrelate: boolean): Colour {
  if (!decorrelate) return null;
  const m = tf.tensor2d(colorCorrelationNormalized(), [3, 3]);
  return [tf.transpose(m), m];
}

/** Pixels: one parameter per pixel and channel. */
export function pixelImage(o: PixelOptions): Parameterization {
  checkShape(o);
  const { n, height, width } = o;
  const sd = o.sd ?? 0.01;
  const decorrelate = o.decorrelate ?? true;
  const seed = o.seed ?? 0;
  const size = n * height * width * 3;
  if (o.initial) check(o.initial.length === size, "initial", o.initial.length, `${size} values`);
  const init = o.initial ?? gaussians(mulberry32(seed), size, sd);
  const p = variableOf(tf.tensor4d(init, [n, height, width, 3]));
  const colour = colourMatrix(decorrelate);
  return {
    kind: "pixels",
    settings: { kind: "pixels", sd, decorrelate, seed, n, height, width },
    n,
    height,
    width,
    params: [p],
    image: () => tf.tidy(() => toValidRgb(p as tf.Tensor4D, colour)),
    dispose: () => tf.dispose(colour ? [p, ...colour] : [p]),
  };
}

/** Fourier: a scaled half spectrum per image and colour channel (natural-image statistics, Olah et al. 2017). */
export function fourierImage(o: FourierOptions): Parameterization {
  checkShape(o);
  const { n, height: h, width: w } = o;
  const sd = o.sd ?? 0.01;
  const decorrelate = o.decorrelate ?? true;
  const seed = o.seed ?? 0;
  const decayPower = o.decayPower ?? 1;
  check(Number.isFinite(decayPower) && decayPower >= 0, "decayPower", decayPower, "an exponent ≥ 0");
  const wf = halfWidth(w);
  const size = n * 3 * h * wf;
  let re: Float32Array;
  let im: Float32Array;
  if (o.initial) {
    check(o.initial.re.length === size, "initial.re", o.initial.re.length, `${size} values`);
    check(o.initial.im.length === size, "initial.im", o.initial.im.length, `${size} values`);
    ({ re, im } = o.initial);
  } else {
    // Interleaved (re, im) pairs as lucent's [..., 2] spectrum tensor.
    const both = gaussians(mulberry32(seed), 2 * size, sd);
    re = new Float32Array(size);
    im = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      re[i] = both[2 * i];
      im[i] = both[2 * i + 1];
    }
  }
  const vRe = variableOf(tf.tensor3d(re, [n * 3, h, wf]));
  const vIm = variableOf(tf.tensor3d(im, [n * 3, h, wf]));
  const scale = tf.tensor2d(spectrumScale(h, w, decayPower), [h, wf]);
  const dft = irfft2Tensors(h, w);
  const colour = colourMatrix(decorrelate);
  const image = () =>
    tf.tidy(() => {
      const planes = irfft2(tf.mul(vRe, scale) as tf.Tensor3D, tf.mul(vIm, scale) as tf.Tensor3D, dft);
      // lucent: image / 4 ("magic"), channels last.
      const nchw = tf.reshape(tf.div(planes, 4), [n, 3, h, w]);
      return toValidRgb(tf.transpose(nchw, [0, 2, 3, 1]) as tf.Tensor4D, colour);
    });
  return {
    kind: "fourier",
    settings: { kind: "fourier", sd, decorrelate, decayPower, seed, n, height: h, width: w },
    n,
    height: h,
    width: w,
    params: [vRe, vIm],
    image,
    dispose: () => {
      tf.dispose(colour ? [vRe, vIm, scale, ...colour] : [vRe, vIm, scale]);
      disposeIrfft2(dft);
    },
  };
}
