// The readout fit's location scan (analysis/readout/location-scan.ts) against NumPy's brute-force leave-one-out
// ridge (test/reference/location_scan_reference.py): each row left out and the ridge refitted, at every pixel.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { pixelSlab } from "../../analysis/readout/feature-maps.ts";
import { fitGaussianReadouts } from "../../analysis/readout/fit-readouts.ts";
import { scanLocationsRidge } from "../../analysis/readout/location-scan.ts";
import { TapSlabs } from "../../analysis/readout/tap-slabs.ts";

const ref = JSON.parse(
  readFileSync(resolve("test/fixtures/readout/location_scan_reference.json"), "utf8"),
) as {
  n: number;
  h: number;
  w: number;
  c: number;
  features: number[];
  targets: number[][];
  ridges: number[];
  errors: number[][];
  best: Array<{ pixel: number; location: [number, number]; lambda: number; weights: number[]; bias: number }>;
};
const features = { n: ref.n, h: ref.h, w: ref.w, c: ref.c, data: Float32Array.from(ref.features) };
const rows = Array.from({ length: ref.n }, (_, i) => i);

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("scanLocationsRidge", () => {
  it("gives NumPy's brute-force LOO errors at every pixel, its best pixel and its ridge readout there", async () => {
    const slabs = new TapSlabs([{ features, rows }]);
    try {
      const scan = await scanLocationsRidge(
        slabs,
        (p) => pixelSlab(features, p, rows),
        ref.targets.map((t) => Float32Array.from(t)),
        ref.h,
        ref.w,
        ref.ridges,
      );
      ref.targets.forEach((_, k) => {
        for (let p = 0; p < ref.h * ref.w; p++)
          expect(scan.errors[k][p] / ref.errors[k][p], `target ${k} pixel ${p}`).toBeCloseTo(1, 3);
        const best = ref.best[k];
        expect(scan.locations[k]).toEqual(best.location);
        expect(scan.lambdas[k] / best.lambda).toBeCloseTo(1, 4);
        const scale = Math.max(...best.weights.map(Math.abs));
        for (let j = 0; j < ref.c; j++)
          expect(scan.weights[k][j] / scale).toBeCloseTo(best.weights[j] / scale, 3);
        expect(scan.bias[k]).toBeCloseTo(best.bias, 3);
      });
    } finally {
      slabs.disposeSync();
    }
  });

  it("starts the fit at the ridge readout, kept as epoch 0 while Adam does not beat it", async () => {
    // Train on the fixture's rows, validate on the same rows (only the bookkeeping is under test here).
    const y = ref.targets[0];
    const [r] = await fitGaussianReadouts(
      {
        features,
        channels: [{ channelId: "a", responses: y }],
        split: { train: rows, validation: rows, test: [] },
      },
      {
        penalty: { kind: "l1/2", weight: 0 },
        learningRate: 1e-12,
        epochs: 2,
        warmupEpochs: 1,
        initLocation: "ridge",
      },
    );
    // The targets are standardized (mean 0, sd 1), so the fit's units are the reference's.
    expect(r.bestEpoch).toBe(0);
    expect(r.valLossCurve).toHaveLength(3); // the start, then Adam's two steps
    expect(r.bestValLoss).toBe(r.valLossCurve[0]);
    expect(r.location[0]).toBeCloseTo(ref.best[0].location[0], 6); // μ is float32
    expect(r.location[1]).toBeCloseTo(ref.best[0].location[1], 6);
    const scale = Math.max(...ref.best[0].weights.map(Math.abs));
    for (let j = 0; j < ref.c; j++)
      expect(r.weights[j] / scale).toBeCloseTo(ref.best[0].weights[j] / scale, 3);
    expect(r.bias).toBeCloseTo(ref.best[0].bias, 3);
  });
});
