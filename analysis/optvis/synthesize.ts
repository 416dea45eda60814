// A channel's preferred images (the inception-loop idea): Fourier-parameterized images optimized on the channel's
// model (backbone + Gaussian readout) under the standard transforms with L2 / TV penalties and, for a batch of
// several, a diversity term; the images are then ranked by the model's prediction alone (no penalties, no
// transforms). Every setting is returned for storage next to the images.

import * as tf from "@tensorflow/tfjs-core";
import { check } from "./errors.ts";
import {
  diversityObjective,
  l2Penalty,
  type ReadoutSpec,
  readoutObjective,
  tvPenalty,
} from "./objectives.ts";
import { fourierImage, type Parameterization, pixelImage } from "./param.ts";
import { evaluateObjective, type RenderProgress, type RenderResult, render, type TapMap } from "./render.ts";
import { compose, standardTransforms } from "./transforms.ts";

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

export interface ChannelSynthesis {
  channelId: string;
  /** The batch [n, size, size, 3] in [0, 1], in optimization order. */
  result: RenderResult;
  /** The images as 8-bit RGB (round(255·x)), [n, size, size, 3]: what a PNG of them holds. */
  bytes: Uint8Array;
  /**
   * The model's prediction for each image in its 8-bit form (what is saved and shown), without penalties or
   * transforms, in the channel's response units.
   */
  predicted: Float32Array;
  /** Image indices by predicted response, highest first. */
  ranking: number[];
  /** The channel model alone, as a description (the optimized objective is result.settings.objective). */
  model: string;
  settings: SynthesisSettings;
}

export interface SynthesizeOptions {
  /** The differentiable backbone at `tap` (analysis/backbone/differentiable-tap.ts). */
  taps: TapMap;
  tap: string;
  readout: ReadoutSpec;
  settings?: Partial<SynthesisSettings>;
  signal?: AbortSignal;
  onProgress?: (p: RenderProgress) => void;
}

/** Optimize settings.images images for one channel's model and rank them by its prediction. */
export async function synthesizeChannel(o: SynthesizeOptions): Promise<ChannelSynthesis> {
  const s = synthesisSettings(o.settings);
  const shape = { n: s.images, height: s.size, width: s.size };
  const common = { ...shape, sd: s.sd, decorrelate: s.decorrelate, seed: s.seed };
  const model = readoutObjective(o.tap, o.readout);
  let objective = model.plus(l2Penalty(s.l2));
  if (s.tv > 0) objective = objective.plus(tvPenalty(s.tv));
  if (s.images > 1 && s.diversity > 0) objective = objective.plus(diversityObjective(o.tap, s.diversity));
  const param: Parameterization =
    s.parameterization === "fourier"
      ? fourierImage({ ...common, decayPower: s.decayPower })
      : pixelImage(common);
  let result: RenderResult;
  try {
    result = await render({
      param,
      objective,
      taps: o.taps,
      transforms: s.transforms === "standard" ? standardTransforms() : compose(),
      steps: s.steps,
      learningRate: s.learningRate,
      // The transforms' stream differs from the parameters' (both from the one seed).
      seed: s.seed + 1,
      signal: o.signal,
      onProgress: o.onProgress,
    });
  } finally {
    param.dispose();
  }
  // What is saved and shown is 8-bit: predict for that.
  const bytes = Uint8Array.from(result.images, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
  const images = tf.tensor4d(
    Float32Array.from(bytes, (v) => v / 255),
    [s.images, s.size, s.size, 3],
  );
  let predicted: Float32Array;
  try {
    predicted = await evaluateObjective(model, o.taps, images);
  } finally {
    images.dispose();
  }
  const ranking = Array.from(predicted.keys()).sort((a, b) => predicted[b] - predicted[a] || a - b);
  return {
    channelId: o.readout.channelId,
    result,
    bytes,
    predicted,
    ranking,
    model: model.description,
    settings: s,
  };
}
