// tfjs executor (wasm backend) against PyTorch/torchvision references (test/reference/backbone_reference.py).
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { describeResNet } from "../../analysis/backbone/describe.ts";
import { selectTfjsBackend } from "../../analysis/backbone/tfjs-backend.ts";
import { createTfjsBackbone, type TfjsBackbone } from "../../analysis/backbone/tfjs-executor.ts";
import { readSafetensorsWeights } from "../../analysis/backbone/weights-safetensors.ts";
import { loadReference, relativeError } from "./backbone-fixtures.ts";

beforeAll(async () => {
  expect((await selectTfjsBackend("wasm")).name).toBe("wasm");
});

async function backboneFor(name: string, inputGrad?: "stock" | "forward-conv") {
  const ref = loadReference(name);
  const desc = describeResNet(ref.arch, ref.variant, undefined, ref.shape);
  return {
    ref,
    bb: createTfjsBackbone(desc, await readSafetensorsWeights(ref.weightsPath, desc), { inputGrad }),
  };
}

function gradientOf(bb: TfjsBackbone, rgb: tf.Tensor4D, tap: string, cotangent: tf.Tensor4D): tf.Tensor4D {
  return tf.grad((x: tf.Tensor) =>
    tf.sum(tf.mul(bb.forward(bb.preprocess(x as tf.Tensor4D), tap), cotangent)),
  )(rgb) as tf.Tensor4D;
}

describe.each([
  ["resnet18-w8", "torchvision basic blocks"],
  ["resnet50-w8", "torchvision bottlenecks"],
  ["resnet50caffe-w8", "keras variant: Caffe bottlenecks with conv biases, BGR preprocessing"],
])("%s (%s)", (name) => {
  it("matches PyTorch features (1e-4 of max) and input gradients (1e-3 of max)", async () => {
    const { ref, bb } = await backboneFor(name);
    for (const c of ref.cases) {
      const img = ref.array(c.image);
      const rgb = tf.tensor4d(img.data, img.shape);
      const taps = Object.keys(c.features);
      const outs = bb.forwardTaps(bb.preprocess(rgb), taps);
      for (const [i, tap] of taps.entries()) {
        const expected = ref.array(c.features[tap]);
        expect(outs[i].shape).toEqual(expected.shape);
        expect(relativeError(await outs[i].data(), expected.data), `${c.image} ${tap}`).toBeLessThan(1e-4);
      }
      if (c.gradient) {
        const cot = ref.array(c.gradient.cotangent);
        const g = gradientOf(bb, rgb, c.gradient.tap, tf.tensor4d(cot.data, cot.shape));
        const expected = ref.array(c.gradient.gradient);
        expect(g.shape).toEqual(expected.shape);
        expect(relativeError(await g.data(), expected.data), `${c.image} gradient`).toBeLessThan(1e-3);
      }
    }
    bb.dispose();
  });

  it("inputGradients: one forward + one backward batched over k cotangents equals PyTorch and tf.grad", async () => {
    const { ref, bb } = await backboneFor(name);
    for (const c of ref.cases.filter((x) => x.gradient)) {
      const img = ref.array(c.image);
      const rgb = tf.tensor4d(img.data, img.shape);
      const cot = ref.array(c.gradient!.cotangent);
      const fixtureCot = tf.tensor4d(cot.data, cot.shape);
      const randomCot = tf.randomNormal(cot.shape, 0, 1, "float32", 5) as tf.Tensor4D;
      const cotangents = tf.concat([fixtureCot, randomCot, fixtureCot]) as tf.Tensor4D;
      bb.inputGradients(rgb, c.gradient!.tap, cotangents).dispose(); // builds the lazy gradient kernels once
      const before = tf.memory().numTensors;
      const g = bb.inputGradients(rgb, c.gradient!.tap, cotangents);
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(g.shape).toEqual([3, img.shape[1], img.shape[2], 3]);
      const rows = tf.split(g, 3);
      const expected = ref.array(c.gradient!.gradient).data;
      expect(relativeError(await rows[0].data(), expected), `${c.image} vs PyTorch`).toBeLessThan(1e-3);
      expect(relativeError(await rows[2].data(), expected), `${c.image} vs PyTorch`).toBeLessThan(1e-3);
      const viaTape = gradientOf(bb, rgb, c.gradient!.tap, randomCot);
      expect(relativeError(await rows[1].data(), await viaTape.data()), `${c.image} vs tf.grad`).toBeLessThan(
        1e-5,
      );
      tf.dispose([rgb, fixtureCot, randomCot, cotangents, g, viaTape, ...rows]);
    }
    bb.dispose();
  });
});

describe("createTfjsBackbone", () => {
  it("gives the same gradient with the stock Conv2DBackpropInput kernel", async () => {
    const { ref, bb } = await backboneFor("resnet50-w8", "stock");
    const c = ref.cases[1];
    const img = ref.array(c.image);
    const cot = ref.array(c.gradient!.cotangent);
    const g = gradientOf(bb, tf.tensor4d(img.data, img.shape), "layer4.1", tf.tensor4d(cot.data, cot.shape));
    expect(relativeError(await g.data(), ref.array(c.gradient!.gradient).data)).toBeLessThan(1e-3);
    bb.dispose();
  });

  it("leaks no tensors: forward and gradient leave only their outputs; dispose frees the weights", async () => {
    const before = tf.memory().numTensors;
    const { ref, bb } = await backboneFor("resnet18-w8");
    const img = ref.array(ref.cases[0].image);
    const rgb = tf.tensor4d(img.data, img.shape);
    const cot = tf.ones([1, 2, 2, 64]) as tf.Tensor4D;
    const afterBuild = tf.memory().numTensors;
    const pre = bb.preprocess(rgb);
    const out = bb.forward(pre);
    const g = gradientOf(bb, rgb, "layer4.1", cot); // builds the lazy input-gradient kernels (kept)
    const g2 = gradientOf(bb, rgb, "layer4.1", cot);
    expect(tf.memory().numTensors).toBe(afterBuild + 20 + 4); // + 20 gradient kernels + pre, out, g, g2
    tf.dispose([pre, out, g, g2, rgb, cot]);
    bb.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("rejects images that are not NHWC RGB, unknown taps, missing weights, and use after dispose", async () => {
    const { bb } = await backboneFor("resnet18-w8");
    const gray = tf.zeros([1, 32, 32, 1]) as tf.Tensor4D;
    expect(() => bb.forward(gray)).toThrow(expect.objectContaining({ code: "EPHYS_BAD_IMAGE" }));
    const rgb = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
    expect(() => bb.forward(rgb, "layer4.2")).toThrow(/tap "layer4\.2" is not in this description/);
    const desc = describeResNet("resnet18", "torchvision", undefined, { layers: [2, 2, 2, 2], width: 8 });
    expect(() => createTfjsBackbone(desc, new Map())).toThrow(
      expect.objectContaining({ code: "EPHYS_BAD_WEIGHTS", message: "folded weights lack conv conv1" }),
    );
    expect(() =>
      bb.inputGradients(tf.zeros([2, 32, 32, 3]) as tf.Tensor4D, "layer4.1", tf.zeros([1, 1, 1, 64])),
    ).toThrow(expect.objectContaining({ code: "EPHYS_BAD_IMAGE" }));
    expect(() => bb.inputGradients(rgb, "layer4.1", tf.zeros([4, 1, 1, 32]) as tf.Tensor4D)).toThrow(
      /cotangents have shape \[4, 1, 1, 32\]; expected \[k, 1, 1, 64\]/,
    );
    bb.dispose();
    expect(() => bb.forward(rgb)).toThrow(/disposed/);
    tf.dispose([gray, rgb]);
  });
});
