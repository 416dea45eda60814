// Channel alignment (AlignedCut's brain-aligned space): every pixel's backbone features f ∈ R^C are mapped into the
// space of the day's recorded channels by the fitted readouts, x = Wᵀ f + b with W = [w_1 … w_channels] (C ×
// channels): x_j is what channel j's readout would predict were its location at that pixel.
import type { FeatureMaps } from "../readout/index.ts";
import type { NodeMatrix } from "./affinity.ts";
import { badOption, ConceptError, checkAborted } from "./errors.ts";

/** A channel's fitted readout, as far as alignment needs it. */
export interface ChannelReadout {
  channelId: string;
  /** C weights over the backbone features at the readout's tap. */
  weights: ArrayLike<number>;
  bias?: number;
}

export type ChannelNormalization = "zscore" | "center" | "none";

export interface AlignedNodes {
  /** Nodes in image-major, then row-major pixel order: node = (image·h + row)·w + column. */
  images: number;
  h: number;
  w: number;
  channelIds: string[];
  /** The channel drive x_ij = w_j · f_i + b_j (N × channels). */
  drive: Float32Array;
  /** The drive normalized per channel (z-scored by default), the space the affinity is computed in. */
  nodes: NodeMatrix;
}

/** x = Wᵀ f + b for every pixel of every image, then per-channel normalization over all nodes. */
export function alignFeatures(
  features: FeatureMaps,
  readouts: ChannelReadout[],
  normalization: ChannelNormalization = "zscore",
  signal?: AbortSignal,
): AlignedNodes {
  const { n: images, h, w, c, data } = features;
  if (data.length !== images * h * w * c)
    throw new ConceptError(
      "EPHYS_BAD_CONCEPTS",
      `features.data: expected n·h·w·c = ${images * h * w * c} values; found ${data.length}`,
    );
  if (readouts.length === 0) badOption("readouts", [], "at least one channel's readout");
  if (!["zscore", "center", "none"].includes(normalization))
    badOption("normalization", normalization, "zscore, center or none");
  const q = readouts.length;
  // W as q × C rows (row j = channel j's weights).
  const W = new Float32Array(q * c);
  const bias = new Float64Array(q);
  for (const [j, r] of readouts.entries()) {
    if (r.weights.length !== c)
      throw new ConceptError(
        "EPHYS_BAD_CONCEPTS",
        `readouts[${j}] (${r.channelId}).weights: expected ${c} weights (the features at the tap); found ${r.weights.length}`,
      );
    for (let t = 0; t < c; t++) W[j * c + t] = r.weights[t];
    bias[j] = r.bias ?? 0;
  }
  const n = images * h * w;
  const drive = new Float32Array(n * q);
  for (let i = 0; i < n; i++) {
    if ((i & 1023) === 0) checkAborted(signal, "channel alignment");
    const base = i * c;
    for (let j = 0; j < q; j++) {
      const wb = j * c;
      let s0 = 0;
      let s1 = 0;
      let t = 0;
      for (; t + 1 < c; t += 2) {
        s0 += data[base + t] * W[wb + t];
        s1 += data[base + t + 1] * W[wb + t + 1];
      }
      if (t < c) s0 += data[base + t] * W[wb + t];
      drive[i * q + j] = s0 + s1 + bias[j];
    }
  }
  const out = new Float64Array(n * q);
  for (let j = 0; j < q; j++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += drive[i * q + j];
    mean /= n;
    let sd = 1;
    if (normalization === "zscore") {
      let v = 0;
      for (let i = 0; i < n; i++) v += (drive[i * q + j] - mean) ** 2;
      sd = Math.sqrt(v / n) || 1;
    }
    const shift = normalization === "none" ? 0 : mean;
    for (let i = 0; i < n; i++) out[i * q + j] = (drive[i * q + j] - shift) / sd;
  }
  return { images, h, w, channelIds: readouts.map((r) => r.channelId), drive, nodes: { n, d: q, data: out } };
}
