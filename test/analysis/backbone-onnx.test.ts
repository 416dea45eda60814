// The ONNX graph generated from the description against PyTorch (test/reference/backbone_reference.py fixtures)
// and against the tfjs executor built from the same description and weights.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import onnxProto from "onnx-proto";
import { beforeAll, describe, expect, it } from "vitest";
import { describeResNet } from "../../analysis/backbone/describe.ts";
import type { FoldedWeights, NetworkDescription } from "../../analysis/backbone/description.ts";
import { createOnnxBackbone, onnxAvailable } from "../../analysis/backbone/onnx-executor.ts";
import { buildOnnxModel, deepestTap, ONNX_OPSET, opsForTap } from "../../analysis/backbone/onnx-graph.ts";
import { selectTfjsBackend } from "../../analysis/backbone/tfjs-backend.ts";
import { createTfjsBackbone } from "../../analysis/backbone/tfjs-executor.ts";
import { readSafetensorsWeights } from "../../analysis/backbone/weights-safetensors.ts";
import { relativeError } from "./backbone-fixtures.ts";
import { asymmetricPaddingNetwork } from "./tiny-networks.ts";

const { onnx } = onnxProto;
const FIXTURES = join(import.meta.dirname, "..", "fixtures", "backbone");
const TOLERANCE = 1e-4;

interface FixtureArray {
  name: string;
  dtype: "u8" | "f32";
  shape: number[];
  offset: number;
}
interface FixtureCase {
  image: string;
  height: number;
  width: number;
  features: Record<string, string>;
}
interface FixtureMeta {
  arch: "resnet18" | "resnet50";
  variant: "torchvision" | "keras";
  shape: { layers: [number, number, number, number]; width: number };
  weights: string;
  bin: string;
  cases: FixtureCase[];
  arrays: FixtureArray[];
}

interface Fixture {
  meta: FixtureMeta;
  desc: NetworkDescription;
  weights: FoldedWeights;
  array(name: string): { data: Uint8Array | Float32Array; shape: number[] };
}

async function loadFixture(name: string): Promise<Fixture> {
  const meta = JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), "utf8")) as FixtureMeta;
  const bin = readFileSync(join(FIXTURES, meta.bin));
  const taps = [...new Set(meta.cases.flatMap((c) => Object.keys(c.features)))];
  const deepest = taps.sort((a, b) => a.localeCompare(b, "en", { numeric: true })).at(-1)!;
  const desc = describeResNet(meta.arch, meta.variant, deepest, meta.shape);
  const weights = await readSafetensorsWeights(join(FIXTURES, meta.weights), desc);
  const array = (arrayName: string) => {
    const a = meta.arrays.find((x) => x.name === arrayName);
    if (!a) throw new Error(`fixture ${name} lacks array ${arrayName}`);
    const count = a.shape.reduce((p, d) => p * d, 1);
    const bytes = new Uint8Array(bin.buffer, bin.byteOffset + a.offset, count * (a.dtype === "u8" ? 1 : 4));
    const data = a.dtype === "u8" ? bytes.slice() : new Float32Array(bytes.slice().buffer);
    return { data, shape: a.shape };
  };
  return { meta, desc, weights, array };
}

if (!(await onnxAvailable()))
  throw new Error(
    "onnxruntime-node does not load on this machine; these suites need it (npm ci installs it)",
  );

describe("ONNX backbone vs PyTorch", () => {
  for (const name of ["resnet18-w8", "resnet50-w8", "resnet50caffe-w8"]) {
    it(`${name}: features at every tap and image size within ${TOLERANCE} relative error`, async () => {
      const fx = await loadFixture(name);
      const errors: string[] = [];
      for (const tap of Object.keys(fx.meta.cases[0].features)) {
        const bb = await createOnnxBackbone(fx.desc, fx.weights, { tap, threads: 1 });
        try {
          for (const c of fx.meta.cases) {
            const image = fx.array(c.image);
            const ref = fx.array(c.features[tap]);
            const out = await bb.forward(image.data, 1, c.height, c.width);
            expect(out.shape).toEqual(ref.shape);
            const err = relativeError(out.data, ref.data as Float32Array);
            errors.push(`${tap} ${c.height}×${c.width}: ${err.toExponential(2)}`);
            expect(err).toBeLessThan(TOLERANCE);
          }
        } finally {
          await bb.dispose();
        }
      }
      console.log(`${name} relative errors vs PyTorch: ${errors.join(", ")}`);
    });
  }

  it("a batch (image, grey, image) gives each image its own features; results survive later runs", async () => {
    const fx = await loadFixture("resnet50caffe-w8");
    const c = fx.meta.cases[0];
    const image = fx.array(c.image).data as Uint8Array;
    // A constant image between two copies of the reference image catches mixing across the batch axis.
    const grey = new Uint8Array(image.length).fill(128);
    const batch = new Uint8Array(image.length * 3);
    batch.set(image, 0);
    batch.set(grey, image.length);
    batch.set(image, 2 * image.length);
    const bb = await createOnnxBackbone(fx.desc, fx.weights, { threads: 2 });
    try {
      const out = await bb.forward(batch, 3, c.height, c.width);
      // Concurrent calls are serialized, and a later run must not overwrite the buffer of an earlier result.
      const later = await Promise.all([
        bb.forward(grey, 1, c.height, c.width),
        bb.forward(grey, 1, c.height, c.width),
      ]);
      const ref = fx.array(c.features["layer4.1"]).data as Float32Array;
      expect(out.shape).toEqual([3, ...fx.array(c.features["layer4.1"]).shape.slice(1)]);
      const per = ref.length;
      expect(relativeError(out.data.subarray(0, per), ref)).toBeLessThan(TOLERANCE);
      expect(relativeError(out.data.subarray(2 * per, 3 * per), ref)).toBeLessThan(TOLERANCE);
      expect(relativeError(out.data.subarray(per, 2 * per), ref)).toBeGreaterThan(0.01);
      expect(relativeError(later[0].data, out.data.subarray(per, 2 * per))).toBeLessThan(1e-6);
      expect(later[1].data).toEqual(later[0].data);
    } finally {
      await bb.dispose();
    }
  });
});

describe("ONNX backbone vs the tfjs executor (wasm)", () => {
  beforeAll(async () => {
    await selectTfjsBackend("wasm");
  });

  async function tfjsFeatures(
    desc: NetworkDescription,
    weights: FoldedWeights,
    rgb: Float32Array,
    shape: [number, number, number, number],
    tap: string,
    preprocess = true,
  ): Promise<Float32Array> {
    const bb = createTfjsBackbone(desc, weights);
    const before = tf.memory().numTensors;
    const out = tf.tidy(() => {
      const x = tf.tensor4d(rgb, shape);
      return bb.forward(preprocess ? bb.preprocess(x) : x, tap);
    });
    const data = (await out.data()) as Float32Array;
    out.dispose();
    expect(tf.memory().numTensors).toBe(before);
    bb.dispose();
    return data;
  }

  for (const name of ["resnet50-w8", "resnet50caffe-w8"]) {
    it(`${name}: same features as tfjs on a batch of images`, async () => {
      const fx = await loadFixture(name);
      const c = fx.meta.cases[1];
      const one = fx.array(c.image).data as Uint8Array;
      const rgb = new Float32Array(one.length * 2);
      rgb.set(one);
      for (let i = 0; i < one.length; i++) rgb[one.length + i] = 255 - one[i];
      const tap = deepestTap(fx.desc);
      const viaTfjs = await tfjsFeatures(fx.desc, fx.weights, rgb, [2, c.height, c.width, 3], tap);
      const bb = await createOnnxBackbone(fx.desc, fx.weights);
      try {
        const viaOnnx = await bb.forward(rgb, 2, c.height, c.width);
        const err = relativeError(viaOnnx.data, viaTfjs);
        console.log(`${name} ONNX vs tfjs wasm relative error: ${err.toExponential(2)}`);
        expect(err).toBeLessThan(TOLERANCE);
      } finally {
        await bb.dispose();
      }
    });
  }

  it("asymmetric padding [t,l,b,r] maps to ONNX pads and agrees with tfjs' explicit padding", async () => {
    const { desc, weights, rand } = asymmetricPaddingNetwork();
    const [h, w] = [23, 18];
    const rgb = Float32Array.from({ length: 2 * h * w * 3 }, () => 127.5 + 255 * rand());
    const viaTfjs = await tfjsFeatures(desc, weights, rgb, [2, h, w, 3], "block");
    const bb = await createOnnxBackbone(desc, weights, { threads: 1 });
    try {
      const out = await bb.forward(rgb, 2, h, w);
      // conv1 (23+2−3)/2+1 = 12 × (18+1−3)/2+1 = 9; pool (12+1−3)/2+1 = 6 × (9+1−3)/2+1 = 4;
      // conv2 (6+2)−3+1 = 6 × (4+1)−3+1 = 3; conv3 (6+1)−2+1 = 6 × 4−2+1 = 3
      expect(out.shape).toEqual([2, 6, 3, 4]);
      expect(relativeError(out.data, viaTfjs)).toBeLessThan(1e-5);
    } finally {
      await bb.dispose();
    }
  });
});

describe("ONNX graph contract", () => {
  let desc: NetworkDescription;
  let weights: FoldedWeights;
  beforeAll(async () => {
    const fx = await loadFixture("resnet50caffe-w8");
    desc = fx.desc;
    weights = fx.weights;
  });

  it("has dynamic N, H, W, opset 17, weights as initializers, and prunes ops past the tap", () => {
    const model = onnx.ModelProto.decode(buildOnnxModel(desc, weights, { tap: "layer3.1" }));
    expect(Number(model.opsetImport[0].version)).toBe(ONNX_OPSET);
    const graph = onnx.GraphProto.fromObject(model.graph ?? {});
    const input = onnx.ValueInfoProto.fromObject(graph.input[0]);
    expect(input.name).toBe("pixels");
    const dims = input.type?.tensorType?.shape?.dim ?? [];
    expect(dims.map((d) => d.dimParam || Number(d.dimValue))).toEqual(["N", "H", "W", 3]);
    expect(graph.output.map((o) => o.name)).toEqual(["features"]);
    const convs = opsForTap(desc, "layer3.1").filter((op) => op.op === "conv");
    expect(graph.initializer.filter((t) => t.name?.endsWith(".weight")).length).toBe(convs.length);
    expect(graph.node.some((n) => n.name?.startsWith("layer4"))).toBe(false);

    const normalized = onnx.ModelProto.decode(buildOnnxModel(desc, weights, { input: "normalized" }));
    const normalizedGraph = onnx.GraphProto.fromObject(normalized.graph ?? {});
    expect(normalizedGraph.input.map((i) => i.name)).toEqual(["input"]);
    expect(normalizedGraph.node.some((n) => n.name?.startsWith("preprocess"))).toBe(false);
  });

  it("normalized NCHW input gives the same features as raw pixels", async () => {
    const [n, h, w] = [1, 35, 40];
    const rgb = Float32Array.from({ length: n * h * w * 3 }, (_, i) => (i * 37) % 256);
    const nchw = new Float32Array(rgb.length);
    const { mean, std } = desc.preprocessing; // caffe: BGR order
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let c = 0; c < 3; c++) {
          nchw[c * h * w + y * w + x] = (rgb[(y * w + x) * 3 + (2 - c)] - mean[c]) / std[c];
        }
      }
    }
    const viaPixels = await createOnnxBackbone(desc, weights, { threads: 1 });
    const viaNormalized = await createOnnxBackbone(desc, weights, {
      threads: 1,
      input: "normalized",
      spinning: false,
    });
    try {
      const a = await viaPixels.forward(rgb, n, h, w);
      const b = await viaNormalized.forward(nchw, n, h, w);
      expect(b.shape).toEqual(a.shape);
      expect(relativeError(b.data, a.data)).toBeLessThan(1e-6);
    } finally {
      await viaPixels.dispose();
      await viaNormalized.dispose();
    }
  });

  it("rejects bad taps, weights and batches with stable codes", async () => {
    expect(() => buildOnnxModel(desc, weights, { tap: "layer9.0" })).toThrow(
      expect.objectContaining({ code: "EPHYS_BAD_BACKBONE" }),
    );
    const missing = new Map(weights);
    missing.delete("layer2.0.conv2");
    expect(() => buildOnnxModel(desc, missing, {})).toThrow(
      expect.objectContaining({
        code: "EPHYS_BAD_WEIGHTS",
        message: expect.stringContaining("layer2.0.conv2"),
      }),
    );
    const short = new Map(weights);
    const c1 = weights.get("conv1")!;
    short.set("conv1", { weight: c1.weight.subarray(1), bias: c1.bias });
    expect(() => buildOnnxModel(desc, short, {})).toThrow(
      expect.objectContaining({ code: "EPHYS_BAD_WEIGHTS" }),
    );

    const bb = await createOnnxBackbone(desc, weights, { threads: 1 });
    await expect(bb.forward(new Float32Array(10), 1, 2, 2)).rejects.toMatchObject({
      code: "EPHYS_BAD_IMAGE",
    });
    await expect(bb.forward(new Float32Array(0), 0, 2, 2)).rejects.toMatchObject({ code: "EPHYS_BAD_IMAGE" });
    await bb.dispose();
    await expect(bb.forward(new Float32Array(12), 1, 2, 2)).rejects.toMatchObject({
      code: "EPHYS_BAD_BACKBONE",
    });
    await expect(createOnnxBackbone(desc, weights, { threads: 0 })).rejects.toMatchObject({
      code: "EPHYS_BAD_BACKBONE",
    });
  });
});
