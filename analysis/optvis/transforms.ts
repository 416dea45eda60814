// Transformation robustness (Olah et al. 2017; lucent `standard_transforms`): small random geometric changes to
// the image batch before every step, so the optimized image drives the model wherever and however it lands.
// Each transform is a tiny factory; `compose` chains them. Randomness comes from the render loop's seeded generator.
//
// Every transform here is geometric: besides `apply`, it gives its source map (an affine map of pixel
// coordinates) for the random choices it draws. `compose` of geometric transforms composes the maps and resamples
// once (one bilinear interpolation instead of one per step, fill 0.5 outside the image: the pad's and the
// rotation's fill; the scale's clamped edge only ever meets that fill after a pad).
import * as tf from "@tensorflow/tfjs-core";
import { type Random, randomInt } from "../random.ts";
import { check } from "./errors.ts";
import {
  type Affine,
  affineResampling,
  composeAffine,
  IDENTITY,
  resample,
  resizeAffine,
  rotationAffine,
  scaledSize,
} from "./resample.ts";

/** A transform's geometry for an input of a given size: its output size and source map. */
export interface Geometry {
  outHeight: number;
  outWidth: number;
  source: Affine;
  /** The value it shows outside the input (null: the transform never looks outside). */
  fill: number | null;
}

export interface Transform {
  /** e.g. "pad 12 (fill 0.5)", "jitter 8", "compose(...)" — stored with the images. */
  readonly description: string;
  /** x [n, H, W, 3] in [0, 1] → transformed batch (size may change); differentiable in x. */
  apply(x: tf.Tensor4D, random: Random): tf.Tensor4D;
  /** The geometry for an input of height × width, drawing the same random choices as `apply`. */
  geometry?(height: number, width: number, random: Random): Geometry;
}

/** Constant padding by `pixels` on every side (the fill is mid-grey in [0, 1] units). */
export function pad(pixels: number, fill = 0.5): Transform {
  check(Number.isInteger(pixels) && pixels >= 0, "pad", pixels, "a whole number of pixels ≥ 0");
  return {
    description: `pad ${pixels} (fill ${fill})`,
    apply: (x) =>
      tf.pad(
        x,
        [
          [0, 0],
          [pixels, pixels],
          [pixels, pixels],
          [0, 0],
        ],
        fill,
      ),
    geometry: (h, w) => ({
      outHeight: h + 2 * pixels,
      outWidth: w + 2 * pixels,
      source: [1, 0, -pixels, 0, 1, -pixels],
      fill,
    }),
  };
}

/** Random crop that removes `d` pixels along each axis, at an offset drawn uniformly from 0..d (lucid jitter). */
export function jitter(d: number): Transform {
  check(Number.isInteger(d) && d >= 1, "jitter", d, "a whole number of pixels ≥ 1");
  const draw = (h: number, w: number, random: Random) => {
    check(h > d && w > d, "jitter", d, `fewer pixels than the image's ${h}×${w}`);
    return [randomInt(random, d + 1), randomInt(random, d + 1)];
  };
  return {
    description: `jitter ${d}`,
    apply: (x, random) => {
      const [n, h, w, c] = x.shape;
      const [dy, dx] = draw(h, w, random);
      return tf.slice(x, [0, dy, dx, 0], [n, h - d, w - d, c]);
    },
    geometry: (h, w, random) => {
      const [dy, dx] = draw(h, w, random);
      return { outHeight: h - d, outWidth: w - d, source: [1, 0, dy, 0, 1, dx], fill: null };
    },
  };
}

/** Scale by a factor drawn uniformly from `factors` (bilinear, pixel-centre convention, clamped edges). */
export function randomScale(factors: readonly number[]): Transform {
  check(
    factors.length > 0 && factors.every((f) => Number.isFinite(f) && f > 0),
    "scales",
    factors,
    "a non-empty list of positive factors",
  );
  const geometry = (h: number, w: number, random: Random): Geometry => {
    const [oh, ow] = scaledSize(h, w, factors[randomInt(random, factors.length)]);
    return { outHeight: oh, outWidth: ow, source: resizeAffine(h, w, oh, ow), fill: null };
  };
  return {
    description: `random scale {${factors.map((f) => f.toFixed(2)).join(", ")}}`,
    apply: (x, random) => {
      const [, h, w] = x.shape;
      const g = geometry(h, w, random);
      if (g.outHeight === h && g.outWidth === w) return x;
      return resample(x, affineResampling(h, w, g.outHeight, g.outWidth, g.source, "clamp"));
    },
    geometry,
  };
}

/** Rotate about the centre by an angle (degrees) drawn uniformly from `angles` (bilinear, corners filled). */
export function randomRotate(angles: readonly number[], fill = 0.5): Transform {
  check(
    angles.length > 0 && angles.every((a) => Number.isFinite(a)),
    "angles",
    angles,
    "a non-empty list of angles in degrees",
  );
  const distinct = [...new Set(angles)].sort((a, b) => a - b);
  const geometry = (h: number, w: number, random: Random): Geometry => {
    const a = angles[randomInt(random, angles.length)];
    return { outHeight: h, outWidth: w, source: a === 0 ? IDENTITY : rotationAffine(h, w, a), fill };
  };
  return {
    description: `random rotation ${distinct[0]}..${distinct[distinct.length - 1]}° (${angles.length} choices)`,
    apply: (x, random) => {
      const [, h, w] = x.shape;
      const g = geometry(h, w, random);
      if (g.source === IDENTITY) return x;
      return resample(x, affineResampling(h, w, h, w, g.source, fill));
    },
    geometry,
  };
}

/**
 * The geometry of a chain for an input of height × width: the composed source map, or null when a part is not
 * geometric or the parts fill with different values (then the chain is applied step by step).
 */
export function chainGeometry(
  transforms: readonly Transform[],
  height: number,
  width: number,
  random: Random,
): Geometry | null {
  if (!transforms.every((t) => t.geometry)) return null;
  let h = height;
  let w = width;
  let source: Affine = IDENTITY;
  let fill: number | null = null;
  for (const t of transforms) {
    const g = t.geometry!(h, w, random);
    if (g.fill !== null) {
      if (fill !== null && fill !== g.fill) return null;
      fill = g.fill;
    }
    source = composeAffine(source, g.source);
    h = g.outHeight;
    w = g.outWidth;
  }
  return { outHeight: h, outWidth: w, source, fill };
}

/**
 * The transforms applied in order: resampled once through the composed map when every part is geometric and
 * they agree on the fill (see chainGeometry), else step by step.
 */
export function compose(...transforms: Transform[]): Transform {
  const geometric = transforms.every((t) => t.geometry);
  return {
    description: transforms.map((t) => t.description).join(" → ") || "none",
    apply: (x, random) => {
      const [, h, w] = x.shape;
      if (geometric) {
        const g = chainGeometry(transforms, h, w, random);
        if (g) return applyGeometry(x, g);
      }
      let y = x;
      for (const t of transforms) y = t.apply(y, random);
      return y;
    },
    ...(geometric
      ? { geometry: (h: number, w: number, random: Random) => chainGeometry(transforms, h, w, random)! }
      : {}),
  };
}

/** Resample x once through a geometry (the identity map at the same size returns x itself). */
export function applyGeometry(x: tf.Tensor4D, g: Geometry): tf.Tensor4D {
  const [, h, w] = x.shape;
  const identity = g.source.every((v, i) => v === IDENTITY[i]);
  if (identity && g.outHeight === h && g.outWidth === w) return x;
  return resample(x, affineResampling(h, w, g.outHeight, g.outWidth, g.source, g.fill ?? "clamp"));
}

/** 0.90, 0.92, …, 1.10 (lucent: 1 + (i − 5)/50). */
export const STANDARD_SCALES: readonly number[] = Array.from({ length: 11 }, (_, i) => 1 + (i - 5) / 50);
/** −10..10° in steps of 1°, with 0 five more times (lucent). */
export const STANDARD_ANGLES: readonly number[] = [
  ...Array.from({ length: 21 }, (_, i) => i - 10),
  0,
  0,
  0,
  0,
  0,
];

/** pad 12, jitter 8, random scale 0.90–1.10, random rotation −10..10°, jitter 4 (lucent standard_transforms). */
export function standardTransforms(): Transform {
  return compose(pad(12), jitter(8), randomScale(STANDARD_SCALES), randomRotate(STANDARD_ANGLES), jitter(4));
}
