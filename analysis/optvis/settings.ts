// Settings of a channel's synthesis (synthesize.ts) with their defaults and checks; no tfjs here, so the daemon
// and the protocol tooling can read them without loading a backend.
import { check } from "./errors.ts";

export interface SynthesisSettings {
  /** Adam steps (512 as lucent). */
  steps: number;
  learningRate: number;
  parameterization: "fourier" | "pixels";
  /** Decorrelated colour (color.ts). */
  decorrelate: boolean;
  /** Exponent of the Fourier spectrum's 1/f scaling. */
  decayPower: number;
  /** Standard deviation of the initial parameters. */
  sd: number;
  /** λ1 of the L2 penalty −λ1·Σ(x − ½)² (x in [0, 1]). */
  l2: number;
  /** λ2 of the total-variation penalty −λ2·TV(x) (0: off; the Fourier parameterization already damps noise). */
  tv: number;
  /** Images optimized together for the channel (a batch; > 1 adds the diversity term). */
  images: number;
  /** Weight of the Gram-similarity penalty between the batch's images, in the model's units (spikes/s). */
  diversity: number;
  /** "standard": pad 12, jitter 8, scale 0.90–1.10, rotation −10..10°, jitter 4; "none". */
  transforms: "standard" | "none";
  /** Side of the square images in pixels (the model's input size). */
  size: number;
  seed: number;
}

export const SYNTHESIS_DEFAULTS: SynthesisSettings = {
  steps: 512,
  learningRate: 0.05,
  parameterization: "fourier",
  decorrelate: true,
  decayPower: 1,
  sd: 0.01,
  l2: 1e-4,
  tv: 0,
  images: 1,
  diversity: 1,
  transforms: "standard",
  size: 224,
  seed: 0,
};

/** Settings with defaults filled in, each checked (EPHYS_BAD_OPTVIS names the field). */
export function synthesisSettings(partial: Partial<SynthesisSettings> = {}): SynthesisSettings {
  const s = { ...SYNTHESIS_DEFAULTS, ...partial };
  check(Number.isInteger(s.steps) && s.steps >= 1, "steps", s.steps, "a whole number of steps ≥ 1");
  check(
    s.learningRate > 0 && Number.isFinite(s.learningRate),
    "learningRate",
    s.learningRate,
    "a positive rate",
  );
  check(
    ["fourier", "pixels"].includes(s.parameterization),
    "parameterization",
    s.parameterization,
    "fourier or pixels",
  );
  check(typeof s.decorrelate === "boolean", "decorrelate", s.decorrelate, "true or false");
  check(s.decayPower >= 0, "decayPower", s.decayPower, "an exponent ≥ 0");
  check(s.sd >= 0, "sd", s.sd, "a standard deviation ≥ 0");
  check(s.l2 >= 0, "l2", s.l2, "a penalty weight ≥ 0");
  check(s.tv >= 0, "tv", s.tv, "a penalty weight ≥ 0");
  check(Number.isInteger(s.images) && s.images >= 1, "images", s.images, "a whole number of images ≥ 1");
  check(s.diversity >= 0, "diversity", s.diversity, "a weight ≥ 0");
  check(["standard", "none"].includes(s.transforms), "transforms", s.transforms, "standard or none");
  check(Number.isInteger(s.size) && s.size >= 16, "size", s.size, "a whole number of pixels ≥ 16");
  check(Number.isInteger(s.seed), "seed", s.seed, "an integer");
  return s;
}
