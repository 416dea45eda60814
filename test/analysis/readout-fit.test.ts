// The batched Gaussian-readout fit (tfjs, cpu backend): recovery of known readouts from simulated channels,
// sparsity under the L1/2 penalty, early stopping at the best validation epoch, extra training rows,
// cancellation, and no leaked tensors.
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { mulberry32 } from "../../analysis/random.ts";
import {
  type ChannelTargets,
  type FeatureMaps,
  fitGaussianReadouts,
  type GaussianReadout,
  predict,
  type ReadoutFitOptions,
  selectImages,
} from "../../analysis/readout/index.ts";
import { pearson } from "../../analysis/stats/index.ts";
import { sparseGroundTruthReadout, syntheticFeatureMaps } from "../../analysis/synthetic-neurons.ts";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const N = 200;
const C = 256;
const features = syntheticFeatureMaps(N, 7, 7, C, 1);
const rows = Array.from({ length: N }, (_, i) => i);
const split = { train: rows.slice(0, 140), validation: rows.slice(140, 170), test: rows.slice(170) };
const testMaps = selectImages(features, split.test);

function sd(v: ArrayLike<number>): number {
  const a = Array.from(v);
  const m = a.reduce((s, x) => s + x, 0) / a.length;
  return Math.sqrt(a.reduce((s, x) => s + (x - m) ** 2, 0) / a.length);
}

/** Channels = known sparse readouts over the features + Gaussian noise of `noise` × the signal's sd. */
function simulate(truths: GaussianReadout[], noise: number, seed: number): ChannelTargets[] {
  const random = mulberry32(seed);
  return truths.map((gt) => {
    const clean = predict(gt, features);
    const s = sd(clean);
    return {
      channelId: gt.channelId,
      responses: Float32Array.from(clean, (v) => {
        const g = Math.sqrt(-2 * Math.log(Math.max(random(), 1e-12))) * Math.cos(2 * Math.PI * random());
        return 20 + v + noise * s * g; // a rate-like offset: the fit standardizes targets
      }),
    };
  });
}

const truths = [0, 1, 2, 3].map((k) => sparseGroundTruthReadout(C, 10, 100 + k, `ch${k}`));
const channels = simulate(truths, 0.3, 5);
const options: ReadoutFitOptions = {
  penalty: { kind: "l1/2", weight: 0.01 * 140 }, // λ against the summed error = 0.01 per training image,
  learningRate: 0.01,
  epochs: 1000,
  patience: 100,
};

describe("fitGaussianReadouts: recovery of simulated channels", () => {
  let fitted: GaussianReadout[];
  beforeAll(async () => {
    fitted = await fitGaussianReadouts({ features, channels, split }, options);
  }, 60_000);

  it("finds each channel's location within 0.1 grid units (a third of a pixel step on 7×7)", () => {
    // Measured: errors 0.02–0.04.
    fitted.forEach((r, k) => {
      const err = Math.hypot(r.location[0] - truths[k].location[0], r.location[1] - truths[k].location[1]);
      expect(err, r.channelId).toBeLessThan(0.1);
    });
  });

  it("predicts the noise-free responses of held-out images with Pearson r > 0.85", () => {
    // Measured: 0.91–0.975 (test responses carry noise 0.3 sd; testR against them is reported too).
    fitted.forEach((r, k) => {
      const rTrue = pearson(predict(r, testMaps), predict(truths[k], testMaps)).r;
      expect(rTrue, r.channelId).toBeGreaterThan(0.85);
      expect(r.testR).not.toBeNull();
      expect(r.testR!).toBeGreaterThan(0.8);
    });
  });

  it("drives most weights of a sparse truth near zero under L1/2 (> 80 % below 5 % of max |w|)", () => {
    for (const r of fitted) {
      const max = Math.max(...Array.from(r.weights, Math.abs));
      const small = Array.from(r.weights).filter((v) => Math.abs(v) < 0.05 * max).length / C;
      expect(small, r.channelId).toBeGreaterThan(0.8);
    }
  });

  it("keeps the parameters of the lowest validation loss", () => {
    for (const [k, r] of fitted.entries()) {
      const min = Math.min(...r.valLossCurve);
      expect(r.valLossCurve[r.bestEpoch]).toBe(min);
      // Re-evaluate the returned readout on the validation images, in training-target variance units.
      const train = Array.from(split.train, (i) => channels[k].responses[i]);
      const pred = predict(r, selectImages(features, split.validation));
      const s = sd(train);
      const mse =
        Array.from(split.validation, (row, i) => (pred[i] - channels[k].responses[row]) ** 2).reduce(
          (a, b) => a + b,
          0,
        ) / split.validation.length;
      expect(mse / (s * s)).toBeCloseTo(min, 4);
    }
  });
});

describe("fitGaussianReadouts: penalty and early stopping", () => {
  it("the L1/2 penalty is what makes the weights sparse (λ = 0 leaves most weights above 5 % of max)", async () => {
    const one = [channels[0]];
    const [free] = await fitGaussianReadouts(
      { features, channels: one, split },
      { ...options, epochs: 400, penalty: { kind: "l1/2", weight: 0 } },
    );
    const [sparse] = await fitGaussianReadouts(
      { features, channels: one, split },
      { ...options, epochs: 400 },
    );
    const fraction = (w: Float32Array) => {
      const max = Math.max(...Array.from(w, Math.abs));
      return Array.from(w).filter((v) => Math.abs(v) < 0.05 * max).length / w.length;
    };
    expect(fraction(sparse.weights)).toBeGreaterThan(0.8);
    expect(fraction(free.weights)).toBeLessThan(0.5);
  }, 60_000);

  it("stops `patience` epochs after the best validation epoch when the model starts to overfit", async () => {
    // 30 training images for 256 weights, noisy targets, no penalty: validation loss falls, then rises.
    const small = { train: rows.slice(0, 30), validation: rows.slice(140, 170), test: rows.slice(170) };
    const noisy = simulate([truths[1]], 1.0, 9);
    const [r] = await fitGaussianReadouts(
      { features, channels: noisy, split: small },
      {
        ...options,
        penalty: { kind: "l1", weight: 0 },
        learningRate: 0.02,
        epochs: 2000,
        patience: 40,
        warmupEpochs: 0,
      },
    );
    const curve = r.valLossCurve;
    expect(curve.length).toBeLessThan(2000);
    expect(curve.length).toBe(r.bestEpoch + 40 + 1);
    expect(curve[r.bestEpoch]).toBe(Math.min(...curve));
    expect(curve.at(-1)!).toBeGreaterThan(curve[r.bestEpoch]);
  }, 60_000);

  it("trains every channel through the warm-up before it chooses or stops, and flags a model worse than the mean", async () => {
    // Pure noise targets: validation loss is lowest at the start, which a bare patience rule would keep.
    const small = { train: rows.slice(0, 30), validation: rows.slice(140, 170), test: rows.slice(170) };
    const random = mulberry32(31);
    const noise = simulate([truths[1]], 1.0, 9).map((ch) => ({
      ...ch,
      responses: Float32Array.from(ch.responses, () => random()),
    }));
    const [r] = await fitGaussianReadouts(
      { features, channels: noise, split: small },
      {
        ...options,
        penalty: { kind: "l1", weight: 0 },
        learningRate: 0.02,
        epochs: 400,
        patience: 20,
        warmupEpochs: 60,
      },
    );
    expect(r.bestEpoch).toBeGreaterThanOrEqual(60);
    expect(r.valLossCurve.length).toBeGreaterThanOrEqual(60 + 20);
    expect(r.bestValLoss).toBe(r.valLossCurve[r.bestEpoch]);
    // The mean predictor's loss, computed here from the responses: standardized by the training rows' mean and sd.
    const y = noise[0].responses;
    const train = small.train.map((i) => y[i]);
    const mean = train.reduce((a, b) => a + b, 0) / train.length;
    const sd = Math.sqrt(train.reduce((a, b) => a + (b - mean) ** 2, 0) / train.length);
    const meanLoss =
      small.validation.reduce((a, i) => a + ((y[i] - mean) / sd) ** 2, 0) / small.validation.length;
    expect(r.meanValLoss).toBeCloseTo(meanLoss, 4);
    // Noise is not predicted: the best validation loss after the warm-up is no better than the mean's.
    expect(r.bestValLoss!).toBeGreaterThan(r.meanValLoss!);
  }, 60_000);
});

describe("fitGaussianReadouts: data path, cancellation, hygiene", () => {
  const quick: ReadoutFitOptions = { ...options, epochs: 30 };

  it("extra training rows enter the fit exactly like training images (silhouette hook)", async () => {
    const half = split.train.slice(0, 70);
    const rest = split.train.slice(70);
    const extra: FeatureMaps = selectImages(features, rest);
    const [withExtra] = await fitGaussianReadouts(
      {
        features,
        channels: [channels[2]],
        split: { ...split, train: half },
        extraTraining: { features: extra, targetRows: rest },
      },
      quick,
    );
    const [plain] = await fitGaussianReadouts({ features, channels: [channels[2]], split }, quick);
    expect(withExtra.valLossCurve).toEqual(plain.valLossCurve);
    expect(Array.from(withExtra.weights)).toEqual(Array.from(plain.weights));
    await expect(
      fitGaussianReadouts(
        { features, channels: [channels[2]], split, extraTraining: { features: extra, targetRows: [1, 2] } },
        quick,
      ),
    ).rejects.toMatchObject({
      code: "EPHYS_BAD_READOUT",
      message: expect.stringMatching(/extraTraining\.targetRows/),
    });
  }, 60_000);

  it("reports progress, stops on abort with EPHYS_FIT_ABORTED and leaks no tensors", async () => {
    const before = tf.memory().numTensors;
    const seen: number[] = [];
    const controller = new AbortController();
    const run = fitGaussianReadouts(
      { features, channels, split },
      {
        ...quick,
        epochs: 500,
        progressEvery: 5,
        signal: controller.signal,
        onProgress: (p) => {
          seen.push(p.epoch);
          expect(p.bestValLoss).toHaveLength(channels.length);
          if (p.epoch >= 9) controller.abort();
        },
      },
    );
    await expect(run).rejects.toMatchObject({ code: "EPHYS_FIT_ABORTED" });
    expect(seen).toEqual([4, 9]);
    expect(tf.memory().numTensors).toBe(before);
    await fitGaussianReadouts({ features, channels, split }, quick);
    expect(tf.memory().numTensors).toBe(before);
  }, 60_000);

  it("splitting the image rows with a worker thread gives the same fit (to float32 summation order)", async () => {
    const [one] = await fitGaussianReadouts({ features, channels: [channels[3]], split }, quick);
    const [two] = await fitGaussianReadouts(
      { features, channels: [channels[3]], split },
      { ...quick, workers: 2 },
    );
    expect(two.bestEpoch).toBe(one.bestEpoch);
    for (const [i, v] of two.valLossCurve.entries()) expect(v).toBeCloseTo(one.valLossCurve[i], 4);
    expect(two.location[0]).toBeCloseTo(one.location[0], 4);
    // Adam amplifies float32 summation-order differences on near-zero weights; predictions stay the same.
    const p1 = predict(one, testMaps);
    const p2 = predict(two, testMaps);
    for (let i = 0; i < p1.length; i++) expect(Math.abs(p2[i] - p1[i])).toBeLessThan(1e-2 * sd(p1));
  }, 60_000);

  it("rejects bad options and inputs with the field named", async () => {
    await expect(
      fitGaussianReadouts({ features, channels, split }, { ...quick, learningRate: 0 }),
    ).rejects.toThrow(/learningRate/);
    await expect(
      fitGaussianReadouts({ features, channels: [{ channelId: "x", responses: [1, 2] }], split }, quick),
    ).rejects.toThrow(/channels\[0\]\.responses: expected 200 values/);
    await expect(
      fitGaussianReadouts({ features, channels, split: { ...split, validation: [500] } }, quick),
    ).rejects.toMatchObject({ code: "EPHYS_BAD_READOUT" });
  });
});
