// The forward-conv input gradient (wasm) equals the stock Conv2DBackpropInput (cpu backend) on every conv shape of
// ResNet-50 (torchvision and keras variants), at small spatial sizes, odd and even.
import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { convOps, describeResNet } from "../../analysis/backbone/describe.ts";
import { selectTfjsBackend } from "../../analysis/backbone/tfjs-backend.ts";
import "../../analysis/backbone/tfjs-gradients.ts";
import {
  type Crop,
  conv2dInputGrad,
  convWithInputGrad,
  inputGradFilter,
  oihwToHwio,
} from "../../analysis/backbone/wasm-conv-grad.ts";
import { relativeError } from "./backbone-fixtures.ts";

function seeded(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

interface Case {
  key: string;
  c: number;
  o: number;
  k: number;
  s: number;
  h: number;
  w: number;
  weight: Float32Array; // OIHW
  dy: Float32Array;
  ho: number;
  wo: number;
  stock: Float32Array;
}

const cases: Case[] = [];

beforeAll(async () => {
  const seen = new Set<string>();
  for (const variant of ["torchvision", "keras"] as const) {
    for (const op of convOps(describeResNet("resnet50", variant))) {
      const key = `${op.kernel}×${op.kernel}/${op.stride} ${op.inChannels}→${op.outChannels}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const { kernel: k, stride: s, inChannels: c, outChannels: o } = op;
      const [h, w] = [k + 4, k + 3]; // one odd and one even side
      const ho = Math.floor((h - k) / s) + 1;
      const wo = Math.floor((w - k) / s) + 1;
      const i = cases.length;
      cases.push({
        key,
        c,
        o,
        k,
        s,
        h,
        w,
        ho,
        wo,
        weight: seeded(o * c * k * k, 2 * i + 1),
        dy: seeded(ho * wo * o, 2 * i + 2),
        stock: new Float32Array(),
      });
    }
  }
  await selectTfjsBackend("cpu");
  for (const cs of cases) {
    const dx = tf.tidy(() =>
      tf.conv2dTranspose(
        tf.tensor4d(cs.dy, [1, cs.ho, cs.wo, cs.o]),
        tf.tensor4d(oihwToHwio(cs.weight, cs.o, cs.c, cs.k), [cs.k, cs.k, cs.c, cs.o]),
        [1, cs.h, cs.w, cs.c],
        cs.s,
        "valid",
      ),
    );
    cs.stock = (await dx.data()) as Float32Array;
    dx.dispose();
  }
  await selectTfjsBackend("wasm");
}, 60_000);

describe("conv2dInputGrad", () => {
  it("covers every distinct conv of ResNet-50 (both variants)", () => {
    expect(cases.map((c) => c.key)).toEqual(
      expect.arrayContaining([
        "7×7/2 3→64",
        "3×3/2 512→512",
        "1×1/2 1024→2048",
        "1×1/2 512→256",
        "3×3/1 64→64",
      ]),
    );
    expect(cases.length).toBeGreaterThanOrEqual(20);
  });

  it("equals the stock Conv2DBackpropInput (cpu backend) on each shape", async () => {
    for (const cs of cases) {
      const K = Math.ceil(cs.k / cs.s);
      const dx = tf.tidy(() =>
        conv2dInputGrad(
          tf.tensor4d(cs.dy, [1, cs.ho, cs.wo, cs.o]),
          tf.tensor4d(inputGradFilter(cs.weight, cs.o, cs.c, cs.k, cs.s), [K, K, cs.o, cs.s * cs.s * cs.c]),
          cs.k,
          cs.s,
          cs.h,
          cs.w,
        ),
      );
      expect(dx.shape).toEqual([1, cs.h, cs.w, cs.c]);
      expect(relativeError(await dx.data(), cs.stock), cs.key).toBeLessThan(1e-5);
      dx.dispose();
    }
  });
});

describe("conv2dInputGrad with a crop", () => {
  it("returns the window of dx under the padding (stride 1 via dy's padding, stride 2 by slicing)", async () => {
    for (const cs of cases.filter((c) => c.k === 3 || c.k === 7)) {
      const K = Math.ceil(cs.k / cs.s);
      const p = (cs.k - 1) / 2;
      const crop: Crop = [p, p, cs.h - 2 * p, cs.w - 2 * p];
      const dx = tf.tidy(() =>
        conv2dInputGrad(
          tf.tensor4d(cs.dy, [1, cs.ho, cs.wo, cs.o]),
          tf.tensor4d(inputGradFilter(cs.weight, cs.o, cs.c, cs.k, cs.s), [K, K, cs.o, cs.s * cs.s * cs.c]),
          cs.k,
          cs.s,
          cs.h,
          cs.w,
          crop,
        ),
      );
      const stock = tf.tidy(() =>
        tf.slice(tf.tensor4d(cs.stock, [1, cs.h, cs.w, cs.c]), [0, p, p, 0], [1, crop[2], crop[3], cs.c]),
      );
      expect(dx.shape).toEqual(stock.shape);
      expect(relativeError(await dx.data(), await stock.data()), cs.key).toBeLessThan(1e-5);
      tf.dispose([dx, stock]);
    }
  });
});

describe("convWithInputGrad", () => {
  it("gives the stock gradient through the fused conv + ReLU, and disposes its tensors", async () => {
    const before = tf.memory().numTensors;
    for (const cs of cases.filter((c) => c.s === 2)) {
      const geometry = { inChannels: cs.c, outChannels: cs.o, kernel: cs.k, stride: cs.s, relu: true };
      const params = { weight: cs.weight, bias: seeded(cs.o, 99) };
      const fast = convWithInputGrad(geometry, params, "forward-conv");
      const stock = convWithInputGrad(geometry, params, "stock");
      const x = tf.tensor4d(seeded(cs.h * cs.w * cs.c, 7), [1, cs.h, cs.w, cs.c]);
      const cot = tf.tensor4d(seeded(cs.ho * cs.wo * cs.o, 8), [1, cs.ho, cs.wo, cs.o]);
      const grad = (conv: typeof fast) =>
        tf.grad((v: tf.Tensor) => tf.sum(tf.mul(conv.apply(v as tf.Tensor4D), cot)))(x);
      const [gf, gs] = [grad(fast), grad(stock)];
      expect(relativeError(await gf.data(), await gs.data()), cs.key).toBeLessThan(1e-5);
      tf.dispose([gf, gs, x, cot]);
      fast.dispose();
      stock.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
