// Shared-feature maps (eqs. 2–7) on the tfjs wasm backend against the PyTorch reference
// (test/reference/saliency_reference.py: autograd per feature + scipy smoothing, float64), and the bounds.
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GradientBackbone, tfjsGradientBackbone } from "../../analysis/backbone/gradient-engine.ts";
import { readoutCotangents } from "../../analysis/backbone/readout-cotangent.ts";
import { selectTfjsBackend } from "../../analysis/backbone/tfjs-backend.ts";
import type { TfjsBackbone } from "../../analysis/backbone/tfjs-executor.ts";
import { loadTfjsBackbone } from "../../analysis/saliency/load-backbone.ts";
import {
  type SaliencyReadout,
  sharedFeatureMaps,
  zeroInputImage,
} from "../../analysis/saliency/shared-features.ts";
import { l2Norm } from "../../analysis/saliency/smooth.ts";
import { correlation, loadSaliencyFixture, relativeL2 } from "./saliency-fixture.ts";

const fx = loadSaliencyFixture();
const readout: SaliencyReadout = { location: fx.location, weights: fx.weights };
let bb: TfjsBackbone;
/** The tfjs gradient engine over bb (the reference engine; saliency-engines.test.ts compares ONNX with it). */
let gb: GradientBackbone;

beforeAll(async () => {
  expect((await selectTfjsBackend("wasm")).name).toBe("wasm");
  bb = await loadTfjsBackbone({
    arch: fx.arch,
    variant: fx.variant,
    layer: fx.tap,
    weightsPath: fx.weightsPath,
  });
  gb = tfjsGradientBackbone(bb);
});
afterAll(() => bb.dispose());

describe("sharedFeatureMaps vs PyTorch", () => {
  it.each(fx.cases.map((c) => [c.name, c] as const))(
    "%s: same s, k, dropped; maps correlate > 0.99",
    async (_, c) => {
      const r = await sharedFeatureMaps({
        backbone: gb,
        tap: fx.tap,
        readout,
        xOut: fx.image(0),
        xIn: fx.image(1),
        sigma: c.sigma,
        epsilon: c.epsilon,
        method: c.method,
        igSteps: c.igSteps,
        chunkSize: 4,
      });
      expect(r.s).toBeCloseTo(fx.s, 4);
      expect(r.k).toBe(c.k);
      expect(r.topFeatures.map((f) => f.index)).toEqual(c.indices);
      expect(r.dropped).toBeCloseTo(c.dropped, 4);
      expect(r.outShape).toEqual([64, 64, 3]);
      for (const [got, name, norm, refNorm] of [
        [r.outMap, c.outMap, r.normOut, c.normOut],
        [r.inMap, c.inMap, r.normIn, c.normIn],
      ] as const) {
        const ref = fx.array(name).data;
        expect(correlation(got, ref), name).toBeGreaterThan(0.99);
        // float32 tfjs vs float64 PyTorch: measured ≈ 5e-7 relative L2 (asserted with margin).
        expect(relativeL2(got, ref), name).toBeLessThan(1e-5);
        expect(norm).toBeCloseTo(refNorm, 4);
      }
    },
  );
});

describe("bounds", () => {
  it("random pairs and readouts: ‖I_k − I_full‖ ≤ dropped mass, ‖I‖ ≤ s (eq. 7)", async () => {
    let seed = 3;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const pairs: Array<[number, number]> = [
      [0, 2],
      [3, 1],
      [2, 3],
    ];
    for (const [o, i] of pairs) {
      const r: SaliencyReadout = {
        location: [2 * rand() - 1, 2 * rand() - 1],
        weights: Array.from({ length: 32 }, () => 2 * rand() - 1),
      };
      const common = {
        backbone: gb,
        tap: fx.tap,
        readout: r,
        xOut: fx.image(o),
        xIn: fx.image(i),
        sigma: 1.5,
      };
      const full = await sharedFeatureMaps({ ...common, epsilon: 0 });
      const part = await sharedFeatureMaps({ ...common, epsilon: 0.2 });
      expect(full.dropped).toBe(0);
      expect(part.k).toBeLessThan(full.k);
      expect(part.dropped).toBeGreaterThan(0);
      expect(part.dropped).toBeLessThanOrEqual(0.2 * part.s + 1e-12);
      for (const [a, b] of [
        [part.outMap, full.outMap],
        [part.inMap, full.inMap],
      ]) {
        const diff = Float64Array.from(a, (v, j) => v - b[j]);
        expect(l2Norm(diff)).toBeLessThanOrEqual(part.dropped * (1 + 1e-5));
      }
      for (const m of [full, part]) {
        expect(m.normOut).toBeLessThanOrEqual(m.s + 1e-6);
        expect(m.normIn).toBeLessThanOrEqual(m.s + 1e-6);
      }
    }
  });

  it("identical images give s = 1 and the strongest maps; a dissimilar pair gives s ≈ 0 and faint maps", async () => {
    const xOut = fx.image(0);
    const xIn = fx.image(2);
    // Weights on the features that only one of the two images drives: the channel sees little in common.
    const aOut = fx.array("a0").data;
    const aIn = fx.array("a2").data;
    const w = Array.from(aOut, (v, i) => (v > 0 && aIn[i] > 0 ? 0.001 : 1));
    const r: SaliencyReadout = { location: fx.location, weights: w };
    const common = { backbone: gb, tap: fx.tap, readout: r, sigma: 2, epsilon: 0.01 };
    const same = await sharedFeatureMaps({ ...common, xOut, xIn: xOut });
    const apart = await sharedFeatureMaps({ ...common, xOut, xIn });
    expect(same.s).toBeCloseTo(1, 5);
    expect(apart.s).toBeLessThan(0.05);
    expect(Array.from(same.outMap)).toEqual(Array.from(same.inMap));
    expect(apart.normOut).toBeLessThanOrEqual(apart.s + 1e-6);
    expect(same.normOut).toBeGreaterThan(10 * apart.normOut);
    expect(same.normIn).toBeGreaterThan(10 * apart.normIn);
  });

  it("throws EPHYS_BOUND_VIOLATED when features are not ≥ 0 (one image's features negated)", async () => {
    let calls = 0;
    const negated: GradientBackbone = {
      ...gb,
      features: async (tap, images) => {
        const f = await gb.features(tap, images);
        if (calls++ > 0) return f;
        return { data: f.data.map((v) => -v), shape: f.shape };
      },
    };
    await expect(
      sharedFeatureMaps({
        backbone: negated,
        tap: fx.tap,
        readout,
        xOut: fx.image(0),
        xIn: fx.image(1),
        sigma: 2,
        epsilon: 0.01,
      }),
    ).rejects.toMatchObject({ code: "EPHYS_BOUND_VIOLATED" });
  });
});

describe("sharedFeatureMaps", () => {
  it("leaks no tensors", async () => {
    const run = () =>
      sharedFeatureMaps({
        backbone: gb,
        tap: fx.tap,
        readout,
        xOut: fx.image(0),
        xIn: fx.image(3),
        sigma: 1,
        epsilon: 0.05,
      });
    await run();
    const before = tf.memory().numTensors;
    await run();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("rejects bad input with EPHYS_BAD_SALIENCY naming the field", async () => {
    const base = {
      backbone: gb,
      tap: fx.tap,
      readout,
      xOut: fx.image(0),
      xIn: fx.image(1),
      sigma: 1,
      epsilon: 0.01,
    };
    await expect(
      sharedFeatureMaps({ ...base, readout: { location: [0, 0], weights: [1, 2] } }),
    ).rejects.toThrow(/readout\.weights: expected 32 weights/);
    await expect(sharedFeatureMaps({ ...base, sigma: -1 })).rejects.toMatchObject({
      code: "EPHYS_BAD_SALIENCY",
    });
    await expect(
      sharedFeatureMaps({ ...base, xIn: { width: 3, height: 3, data: new Float32Array(5) } }),
    ).rejects.toThrow(/xIn: expected an RGB image/);
    await expect(sharedFeatureMaps({ ...base, igSteps: 0, method: "ig" })).rejects.toThrow(/igSteps/);
  });

  it("zero-input baseline: the mean image preprocesses to zeros", () => {
    const rgb = zeroInputImage(bb);
    const x = tf.tensor4d(Array.from({ length: 4 }, () => rgb).flat(), [1, 2, 2, 3]);
    const pre = bb.preprocess(x);
    expect(Math.max(...Array.from(pre.dataSync()).map(Math.abs))).toBeLessThan(1e-5);
    tf.dispose([x, pre]);
  });

  it("one-hot cotangents sample a_i: ⟨features, cotangent_i⟩ equals the bilinear sample", () => {
    const feats = Float32Array.from({ length: 3 * 4 * 2 }, (_, i) => Math.sin(i));
    // one-hot readout rows: row 0 reads feature 1, row 1 feature 0
    const cot = readoutCotangents([0.3, -0.5], 3, 4, 2, [0, 1, 1, 0], 2);
    // x = 0.3 → px = 1.95 (cols 1, 2); y = −0.5 → py = 0.5 (rows 0, 1).
    const at = (r: number, c: number, i: number) => feats[(r * 4 + c) * 2 + i];
    const sample = (i: number) =>
      0.05 * 0.5 * at(0, 1, i) +
      0.95 * 0.5 * at(0, 2, i) +
      0.05 * 0.5 * at(1, 1, i) +
      0.95 * 0.5 * at(1, 2, i);
    const dot = (j: number) => feats.reduce((s, v, p) => s + v * cot[j * feats.length + p], 0);
    expect(dot(0)).toBeCloseTo(sample(1), 6);
    expect(dot(1)).toBeCloseTo(sample(0), 6);
  });
});
