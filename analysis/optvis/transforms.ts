// Transformation robustness (Olah et al. 2017; lucent `standard_transforms`): small random geometric changes to
// the image batch before every step, so the optimized image drives the model wherever and however it lands.
// Each transform is a tiny factory; `compose` chains them. Randomness comes from the render loop's seeded generator.
import * as tf from "@tensorflow/tfjs-core";
import { type Random, randomInt } from "../random.ts";
import { check } from "./errors.ts";
import { resample, rotationResampling, scaleResampling } from "./resample.ts";

export interface Transform {
  /** e.g. "pad 12 (fill 0.5)", "jitter 8", "compose(...)" — stored with the images. */
  readonly description: string;
  /** x [n, H, W, 3] in [0, 1] → transformed batch (size may change); differentiable in x. */
  apply(x: tf.Tensor4D, random: Random): tf.Tensor4D;
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
  };
}

/** Random crop that removes `d` pixels along each axis, at an offset drawn uniformly from 0..d (lucid jitter). */
export function jitter(d: number): Transform {
  check(Number.isInteger(d) && d >= 1, "jitter", d, "a whole number of pixels ≥ 1");
  return {
    description: `jitter ${d}`,
    apply: (x, random) => {
      const [n, h, w, c] = x.shape;
      check(h > d && w > d, "jitter", d, `fewer pixels than the image's ${h}×${w}`);
      const dy = randomInt(random, d + 1);
      const dx = randomInt(random, d + 1);
      return tf.slice(x, [0, dy, dx, 0], [n, h - d, w - d, c]);
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
  return {
    description: `random scale {${factors.map((f) => f.toFixed(2)).join(", ")}}`,
    apply: (x, random) => {
      const f = factors[randomInt(random, factors.length)];
      if (f === 1) return x;
      const [, h, w] = x.shape;
      return resample(x, scaleResampling(h, w, f));
    },
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
  return {
    description: `random rotation ${distinct[0]}..${distinct[distinct.length - 1]}° (${angles.length} choices)`,
    apply: (x, random) => {
      const a = angles[randomInt(random, angles.length)];
      if (a === 0) return x;
      const [, h, w] = x.shape;
      return resample(x, rotationResampling(h, w, a, fill));
    },
  };
}

/** The transforms applied in order. */
export function compose(...transforms: Transform[]): Transform {
  return {
    description: transforms.map((t) => t.description).join(" → ") || "none",
    apply: (x, random) => {
      let y = x;
      for (const t of transforms) y = t.apply(y, random);
      return y;
    },
  };
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
