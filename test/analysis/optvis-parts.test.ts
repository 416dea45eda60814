// analysis/optvis parts: exact adjoints of the resampling (dot-product test ⟨A x, y⟩ = ⟨x, Aᵀ y⟩ through tf.grad),
// the transforms (sizes, seeded determinism), objective values against independent formulas (the readout against
// analysis/readout predict(), the penalties and diversity by hand) and their composed descriptions; no leaks.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import "../../analysis/backbone/tfjs-gradients.ts";
import { selectTfjsBackend } from "../../analysis/backbone/tfjs-backend.ts";
import {
  affineResampling,
  chainGeometry,
  compose,
  diversityObjective,
  featureObjective,
  jitter,
  l2Penalty,
  type ObjectiveContext,
  pad,
  type Resampling,
  randomRotate,
  randomScale,
  readoutObjective,
  resample,
  resizeResampling,
  rotationResampling,
  STANDARD_ANGLES,
  STANDARD_SCALES,
  scaleResampling,
  standardTransforms,
  tvPenalty,
  unitObjective,
} from "../../analysis/optvis/index.ts";
import { gaussians } from "../../analysis/optvis/param.ts";
import { mulberry32 } from "../../analysis/random.ts";
import { predict } from "../../analysis/readout/gaussian-readout.ts";

beforeAll(async () => {
  expect((await selectTfjsBackend("wasm")).name).toBe("wasm");
});

const randomTensor = (shape: [number, number, number, number], seed: number) =>
  tf.tensor4d(gaussians(mulberry32(seed), shape[0] * shape[1] * shape[2] * shape[3]), shape);

describe("resample: exact adjoint", () => {
  it.each([
    ["rotation 7° (fill 0.5)", rotationResampling(9, 11, 7, 0.5)],
    ["rotation −10° (fill 0)", rotationResampling(10, 10, -10, 0)],
    ["scale 0.9", scaleResampling(12, 13, 0.9)],
    ["scale 1.1", scaleResampling(12, 13, 1.1)],
    ["resize 20×15 → 16×16", resizeResampling(20, 15, 16, 16)],
  ] as const)("%s: ⟨A x, y⟩ = ⟨x, Aᵀ y⟩ and no leak", async (_, r: Resampling) => {
    const before = tf.memory().numTensors;
    const x = randomTensor([2, r.inHeight, r.inWidth, 3], 1);
    const y = randomTensor([2, r.outHeight, r.outWidth, 3], 2);
    // The affine fill term does not depend on x: compare the linear part A x = resample(x) − resample(0).
    const [lhs, rhs] = tf.tidy(() => {
      const ax = tf.sub(resample(x, r), resample(tf.zerosLike(x), r));
      const aty = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(resample(v as tf.Tensor4D, r), y)))(x);
      return [tf.sum(tf.mul(ax, y)), tf.sum(tf.mul(x, aty))];
    });
    const [a, b] = [(await lhs.data())[0], (await rhs.data())[0]];
    expect(Math.abs(a - b)).toBeLessThan(1e-4 * Math.max(1, Math.abs(a)));
    tf.dispose([lhs, rhs, x, y]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("the native forward (tf.image.transform) equals the gather forward, batch of 2", async () => {
    const before = tf.memory().numTensors;
    const x = randomTensor([2, 30, 27, 3], 4);
    const fused = chainGeometry(
      [pad(12), jitter(8), randomScale([1.06]), randomRotate([-7]), jitter(4)],
      30,
      27,
      mulberry32(3),
    )!;
    for (const r of [
      rotationResampling(30, 27, 9, 0.5),
      resizeResampling(30, 27, 41, 19),
      affineResampling(30, 27, fused.outHeight, fused.outWidth, fused.source, 0.5),
    ]) {
      const [a, b] = [resample(x, r), resample(x, r, { forward: "gather" })];
      const [da, db] = [await a.data(), await b.data()];
      expect(a.shape).toEqual(b.shape);
      // N(0, 1) pixels: float32 rounding of the two summation orders (measured 1.3e-5).
      expect(Math.max(...da.map((v, i) => Math.abs(v - db[i])))).toBeLessThan(5e-5);
      tf.dispose([a, b]);
    }
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("a composed chain resamples once, close to applying its steps one by one", async () => {
    const before = tf.memory().numTensors;
    // A smooth image (low frequencies): one interpolation vs four differ only by interpolation blur.
    const x = tf.tidy(() => {
      const yy = tf.reshape(tf.linspace(0, 3, 40), [1, 40, 1, 1]);
      const xx = tf.reshape(tf.linspace(0, 2, 40), [1, 1, 40, 1]);
      return tf.sigmoid(tf.add(tf.sin(tf.add(yy, tf.zeros([1, 40, 40, 3]))), tf.cos(xx))) as tf.Tensor4D;
    });
    const steps = [pad(12), jitter(8), randomScale([0.94]), randomRotate([8]), jitter(4)];
    const fused = compose(...steps).apply(x, mulberry32(5));
    const random = mulberry32(5);
    const stepwise = tf.tidy(() => steps.reduce((y, t) => t.apply(y, random), x));
    expect(fused.shape).toEqual(stepwise.shape);
    const [a, b] = [await fused.data(), await stepwise.data()];
    const d = Array.from(a, (v, i) => Math.abs(v - b[i])).sort((p, q) => p - q);
    // Measured: median 6.7e-5, 95th percentile 0.019, max 0.089 — the differences sit on the seam between the image
    // and the pad's fill, which each interpolation of the stepwise chain blurs once more.
    expect(d[d.length >> 1]).toBeLessThan(1e-3);
    expect(d[Math.floor(0.95 * d.length)]).toBeLessThan(0.05);
    expect(d[d.length - 1]).toBeLessThan(0.15);
    tf.dispose([x, fused, stepwise]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("rotation by 0° and resize to the same size are the identity", async () => {
    const x = randomTensor([1, 8, 9, 3], 3);
    for (const r of [rotationResampling(8, 9, 0, 0.5), resizeResampling(8, 9, 8, 9)]) {
      const y = resample(x, r);
      const [a, b] = [await y.data(), await x.data()];
      expect(Math.max(...a.map((v, i) => Math.abs(v - b[i])))).toBeLessThan(1e-6);
      y.dispose();
    }
    x.dispose();
  });
});

describe("transforms", () => {
  it("pad, jitter, scale and rotation give the expected sizes and values", () => {
    const before = tf.memory().numTensors;
    const random = mulberry32(1);
    const x = tf.ones([1, 20, 20, 3]) as tf.Tensor4D;
    const padded = pad(12).apply(x, random);
    expect(padded.shape).toEqual([1, 44, 44, 3]);
    expect(padded.arraySync()[0][0][0]).toEqual([0.5, 0.5, 0.5]);
    const cropped = jitter(8).apply(padded, random);
    expect(cropped.shape).toEqual([1, 36, 36, 3]);
    const scaled = randomScale([1.1]).apply(x, random);
    expect(scaled.shape).toEqual([1, 22, 22, 3]);
    const rotated = randomRotate([10]).apply(padded, random);
    expect(rotated.shape).toEqual([1, 44, 44, 3]);
    // The centre stays (the ones), the corners turn into the fill.
    expect((rotated.arraySync() as number[][][][])[0][22][22][0]).toBeCloseTo(1, 5);
    expect((rotated.arraySync() as number[][][][])[0][0][0][0]).toBeCloseTo(0.5, 5);
    tf.dispose([x, padded, cropped, scaled, rotated]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("the standard transforms are lucent's, seeded: the same seed gives the same result", async () => {
    expect(STANDARD_SCALES.map((s) => Number(s.toFixed(2)))).toEqual([
      0.9, 0.92, 0.94, 0.96, 0.98, 1, 1.02, 1.04, 1.06, 1.08, 1.1,
    ]);
    expect(STANDARD_ANGLES.length).toBe(26);
    expect(STANDARD_ANGLES.filter((a) => a === 0).length).toBe(6);
    const t = standardTransforms();
    expect(t.description).toBe(
      "pad 12 (fill 0.5) → jitter 8 → random scale {0.90, 0.92, 0.94, 0.96, 0.98, 1.00, 1.02, 1.04, 1.06, 1.08, 1.10} → random rotation -10..10° (26 choices) → jitter 4",
    );
    const x = randomTensor([1, 32, 32, 3], 5);
    const run = async (seed: number) => {
      const y = t.apply(x, mulberry32(seed));
      const out = { shape: y.shape, data: await y.data() };
      y.dispose();
      return out;
    };
    const a = await run(7);
    const b = await run(7);
    expect(a.shape).toEqual(b.shape);
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    // 32 + 24 − 8, scaled by 0.9..1.1, − 4.
    const sizes = new Set<number>();
    for (let s = 0; s < 20; s++) sizes.add((await run(s)).shape[1]);
    for (const size of sizes) {
      expect(size).toBeGreaterThanOrEqual(Math.round(48 * 0.9) - 4);
      expect(size).toBeLessThanOrEqual(Math.round(48 * 1.1) - 4);
    }
    expect(sizes.size).toBeGreaterThan(2);
    x.dispose();
    expect(compose().description).toBe("none");
  });
});

describe("objectives", () => {
  /** A context whose tap "t" returns `maps` whatever the image. */
  const contextOf = (image: tf.Tensor4D, maps: tf.Tensor4D): ObjectiveContext => ({
    image,
    tap: () => maps,
  });

  it("readoutObjective equals analysis/readout predict() on the same feature maps", async () => {
    const before = tf.memory().numTensors;
    const [n, h, w, c] = [3, 5, 7, 6];
    const data = gaussians(mulberry32(11), n * h * w * c);
    const weights = gaussians(mulberry32(12), c);
    for (const location of [
      [0.3, -0.45],
      [-1, 1],
      [0.999, 0],
    ] as Array<[number, number]>) {
      const expected = predict({ location, weights, bias: 0.7 }, { n, h, w, c, data });
      const obj = readoutObjective("t", { channelId: "c1", location, weights, bias: 0.7 });
      const v = tf.tidy(() =>
        obj.value(contextOf(tf.zeros([n, 4, 4, 3]) as tf.Tensor4D, tf.tensor4d(data, [n, h, w, c]))),
      );
      const got = await v.data();
      v.dispose();
      for (let i = 0; i < n; i++) expect(got[i]).toBeCloseTo(expected[i], 4);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it("unit, feature, L2, TV and diversity values by hand", async () => {
    const before = tf.memory().numTensors;
    const maps = tf.tensor4d(
      Float32Array.from({ length: 2 * 3 * 3 * 2 }, (_, i) => i),
      [2, 3, 3, 2],
    );
    const image = tf.tensor4d(
      Float32Array.from({ length: 2 * 2 * 2 * 3 }, (_, i) => (i % 5) / 4),
      [2, 2, 2, 3],
    );
    const ctx = contextOf(image, maps);
    const values = async (o: { value: (c: ObjectiveContext) => tf.Tensor1D }) => {
      const v = tf.tidy(() => o.value(ctx));
      const d = Array.from(await v.data());
      v.dispose();
      return d;
    };
    // maps[i, y, x, k] = ((i·3 + y)·3 + x)·2 + k
    expect(await values(unitObjective("t", 1))).toEqual([9, 27]); // centre (1, 1), feature 1
    expect(await values(unitObjective("t", 0, { row: 2, column: 0 }))).toEqual([12, 30]);
    expect(await values(featureObjective("t", 0))).toEqual([8, 26]);
    const img = Array.from(await image.data());
    const per = (f: (i: number) => number) => [0, 1].map((i) => f(i));
    const at = (i: number, y: number, x: number, k: number) => img[((i * 2 + y) * 2 + x) * 3 + k];
    const l2 = per((i) => {
      let s = 0;
      for (let j = 0; j < 12; j++) s += (img[i * 12 + j] - 0.5) ** 2;
      return -0.1 * s;
    });
    const tv = per((i) => {
      let s = 0;
      for (let k = 0; k < 3; k++)
        for (let y = 0; y < 2; y++)
          for (let x = 0; x < 2; x++) {
            if (y + 1 < 2) s += Math.abs(at(i, y + 1, x, k) - at(i, y, x, k));
            if (x + 1 < 2) s += Math.abs(at(i, y, x + 1, k) - at(i, y, x, k));
          }
      return -0.2 * s;
    });
    for (const [i, v] of (await values(l2Penalty(0.1))).entries()) expect(v).toBeCloseTo(l2[i], 5);
    for (const [i, v] of (await values(tvPenalty(0.2))).entries()) expect(v).toBeCloseTo(tv[i], 5);
    // Two images: value_i = −λ·cos(G_0, G_1)/2, G = FᵀF over the 9 positions.
    const m = Array.from(await maps.data());
    const gram = (i: number) => {
      const g = [0, 0, 0, 0];
      for (let p = 0; p < 9; p++)
        for (let a = 0; a < 2; a++)
          for (let b = 0; b < 2; b++) g[a * 2 + b] += m[i * 18 + p * 2 + a] * m[i * 18 + p * 2 + b];
      return g;
    };
    const [g0, g1] = [gram(0), gram(1)];
    const cos =
      g0.reduce((s, v, j) => s + v * g1[j], 0) /
      Math.sqrt(g0.reduce((s, v) => s + v * v, 0) * g1.reduce((s, v) => s + v * v, 0));
    for (const v of await values(diversityObjective("t", 3))) expect(v).toBeCloseTo((-3 * cos) / 2, 5);
    tf.dispose([maps, image]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("compose with plus, minus and times into a readable description", async () => {
    const a = unitObjective("layer1.0", 2);
    const b = featureObjective("layer2.0", 1);
    expect(a.plus(b).description).toBe("layer1.0 unit 2 at the centre + layer2.0 feature 1 (spatial mean)");
    expect(a.minus(b).description).toBe("layer1.0 unit 2 at the centre − layer2.0 feature 1 (spatial mean)");
    expect(a.plus(l2Penalty(1e-4)).plus(tvPenalty(1e-5)).description).toBe(
      "layer1.0 unit 2 at the centre − 1e-4·L2(x − 0.5) − 1e-5·TV(x)",
    );
    expect(a.times(2).plus(b.times(0.5)).description).toBe(
      "2·layer1.0 unit 2 at the centre + 0.5·layer2.0 feature 1 (spatial mean)",
    );
    expect(a.plus(b).times(b).description).toBe(
      "(layer1.0 unit 2 at the centre + layer2.0 feature 1 (spatial mean)) × layer2.0 feature 1 (spatial mean)",
    );
    expect(a.plus(b).taps).toEqual(["layer1.0", "layer2.0"]);
    // Values compose too: (2a + 0.5b) and a×b on a fixed context.
    const maps = tf.tensor4d(
      Float32Array.from({ length: 3 * 3 * 3 }, (_, i) => i / 10),
      [1, 3, 3, 3],
    );
    const ctx = contextOf(tf.zeros([1, 2, 2, 3]) as tf.Tensor4D, maps);
    const v = tf.tidy(() =>
      tf.stack([a.value(ctx), b.value(ctx), a.times(2).plus(b.times(0.5)).value(ctx), a.times(b).value(ctx)]),
    );
    const [va, vb, vc, vd] = Array.from(await v.data());
    expect(vc).toBeCloseTo(2 * va + 0.5 * vb, 5);
    expect(vd).toBeCloseTo(va * vb, 5);
    tf.dispose([v, maps, ctx.image]);
  });
});

describe("resample on the cpu backend", () => {
  it("a batch of 2 is resampled image by image (its Transform kernel stops after the first image)", async () => {
    const x = randomTensor([2, 9, 11, 3], 8);
    const onWasm = resample(x, rotationResampling(9, 11, 7, 0.5));
    const [wasm, values] = [await onWasm.data(), await x.data()];
    tf.dispose([x, onWasm]);
    try {
      expect((await selectTfjsBackend("cpu")).name).toBe("cpu");
      const onCpu = tf.tensor4d(values, [2, 9, 11, 3]);
      const y = resample(onCpu, rotationResampling(9, 11, 7, 0.5));
      const got = await y.data();
      expect(Math.max(...got.map((v, i) => Math.abs(v - wasm[i])))).toBeLessThan(1e-5);
      tf.dispose([onCpu, y]);
    } finally {
      await selectTfjsBackend("wasm");
    }
  });
});
