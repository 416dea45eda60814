// A fitted Gaussian readout of one channel: a location on the feature map, the (training-time) sampling scale,
// linear weights over the C features at that location and a bias. Prediction is a pure function over arrays.
//
//   r̂(x) = Σ_i w_i · a_i(x) + b,  a(x) = bilinear sample of the feature map of x at μ    (Gaussian readout,
//   Lurz et al. 2021, as used by Lappe et al. 2024; during training the sample is taken at μ + σ·ε)

import { ReadoutError } from "./errors.ts";
import { bilinearTaps, checkFeatureMaps, type FeatureMaps, type Location } from "./feature-maps.ts";

export interface GaussianReadout {
  channelId: string;
  /** μ in [−1, 1]² (x along the width, y along the height; grid_sample align_corners=True). */
  location: Location;
  /** σ per axis, in the same grid units; used only while training (evaluation samples at μ). */
  sigma: [number, number];
  /** C weights, in response units per feature unit. */
  weights: Float32Array;
  bias: number;
  /** Epoch (0-based) whose parameters these are: the lowest validation loss. */
  bestEpoch: number;
  /** Validation MSE after each epoch, in units of the training-target variance (1 ≈ predicting the mean). */
  valLossCurve: number[];
  /** The validation loss at bestEpoch, and that of predicting the training mean (a model worse than it is flagged). */
  bestValLoss?: number;
  meanValLoss?: number;
  /** Pearson r of predictions with responses on the held-out test images (null when there were < 3). */
  testR: number | null;
}

/** The JSON form: Float32Array → number[]. */
export interface GaussianReadoutJSON extends Omit<GaussianReadout, "weights"> {
  weights: number[];
}

export function readoutToJSON(readout: GaussianReadout): GaussianReadoutJSON {
  return {
    channelId: readout.channelId,
    location: [readout.location[0], readout.location[1]],
    sigma: [readout.sigma[0], readout.sigma[1]],
    weights: Array.from(readout.weights),
    bias: readout.bias,
    bestEpoch: readout.bestEpoch,
    valLossCurve: [...readout.valLossCurve],
    ...(readout.bestValLoss !== undefined ? { bestValLoss: readout.bestValLoss } : {}),
    ...(readout.meanValLoss !== undefined ? { meanValLoss: readout.meanValLoss } : {}),
    testR: readout.testR,
  };
}

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isPair = (v: unknown): v is [number, number] => Array.isArray(v) && v.length === 2 && v.every(isNum);

/** Parses the JSON form back, checking every field (EPHYS_BAD_READOUT names the field and what was found). */
export function readoutFromJSON(json: unknown): GaussianReadout {
  const bad = (field: string, expected: string, found: unknown): never => {
    throw new ReadoutError(
      "EPHYS_BAD_READOUT",
      `readout.${field}: expected ${expected}; found ${JSON.stringify(found)?.slice(0, 80)}`,
    );
  };
  if (typeof json !== "object" || json === null) return bad("", "an object", json);
  const o = json as Record<string, unknown>;
  if (typeof o.channelId !== "string") bad("channelId", "a string", o.channelId);
  if (!isPair(o.location) || o.location.some((v) => Math.abs(v) > 1)) {
    bad("location", "[x, y] in [−1, 1]²", o.location);
  }
  if (!isPair(o.sigma) || o.sigma.some((v) => v < 0)) bad("sigma", "[sx, sy] ≥ 0", o.sigma);
  if (!Array.isArray(o.weights) || o.weights.length === 0 || !o.weights.every(isNum)) {
    bad("weights", "a non-empty array of finite numbers", o.weights);
  }
  if (!isNum(o.bias)) bad("bias", "a finite number", o.bias);
  if (!(Number.isInteger(o.bestEpoch) && (o.bestEpoch as number) >= 0)) {
    bad("bestEpoch", "an integer ≥ 0", o.bestEpoch);
  }
  if (!Array.isArray(o.valLossCurve) || !o.valLossCurve.every((v) => typeof v === "number")) {
    bad("valLossCurve", "an array of numbers", o.valLossCurve);
  }
  if (!(o.testR === null || (isNum(o.testR) && Math.abs(o.testR) <= 1))) {
    bad("testR", "null or a correlation in [−1, 1]", o.testR);
  }
  const location = o.location as [number, number];
  const sigma = o.sigma as [number, number];
  return {
    channelId: o.channelId as string,
    location: [location[0], location[1]],
    sigma: [sigma[0], sigma[1]],
    weights: Float32Array.from(o.weights as number[]),
    bias: o.bias as number,
    bestEpoch: o.bestEpoch as number,
    valLossCurve: [...(o.valLossCurve as number[])],
    testR: o.testR as number | null,
  };
}

/** Predicted responses of `readout` to every image of `features` (N values), without tfjs. */
export function predict(
  readout: Pick<GaussianReadout, "location" | "weights" | "bias">,
  features: FeatureMaps,
): Float32Array {
  checkFeatureMaps(features);
  const { n, h, w, c, data } = features;
  if (readout.weights.length !== c) {
    throw new ReadoutError(
      "EPHYS_BAD_READOUT",
      `readout.weights: expected ${c} weights (the feature channels); found ${readout.weights.length}`,
    );
  }
  const taps = bilinearTaps(readout.location[0], readout.location[1], h, w);
  const hw = h * w;
  const wts = readout.weights;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = 0; t < 4; t++) {
      const g = taps.weights[t];
      if (g === 0) continue;
      const base = (i * hw + taps.pixels[t]) * c;
      let d = 0;
      for (let j = 0; j < c; j++) d += data[base + j] * wts[j];
      s += g * d;
    }
    out[i] = s + readout.bias;
  }
  return out;
}
