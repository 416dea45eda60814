// A channel's preferred images (the inception-loop idea): Fourier-parameterized images optimized on the channel's
// model (backbone + Gaussian readout) under the standard transforms with L2 / TV penalties and, for a batch of
// several, a diversity term; the images are then ranked by the model's prediction alone for their 8-bit form (no
// penalties, no transforms). Every setting is returned for storage next to the images (settings.ts).

import * as tf from "@tensorflow/tfjs-core";
import {
  diversityObjective,
  l2Penalty,
  type ReadoutSpec,
  readoutObjective,
  tvPenalty,
} from "./objectives.ts";
import { fourierImage, type Parameterization, pixelImage } from "./param.ts";
import { evaluateObjective, type RenderProgress, type RenderResult, render, type TapMap } from "./render.ts";
import { type SynthesisSettings, synthesisSettings } from "./settings.ts";
import { compose, standardTransforms } from "./transforms.ts";

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
