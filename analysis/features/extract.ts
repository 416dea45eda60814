// The feature extractor: a backbone (description + folded weights) cut at one tap, run by ONNX Runtime when it
// loads and by tfjs otherwise, taking NHWC RGB 0..255 batches and giving NHWC FeatureMaps. It also says which
// weights (sha256) and which executor it runs, for cache keys, provenance and logs.

import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { activationSizes, DEFAULT_SHAPES, describeResNet, type ResNetShape } from "../backbone/describe.ts";
import type { Arch, FoldedWeights, NetworkDescription, Variant } from "../backbone/description.ts";
import { BackboneError } from "../backbone/errors.ts";
import { createOnnxBackbone, onnxAvailable } from "../backbone/onnx-executor.ts";
import { type ComputeDevice, resolveDevice } from "../backbone/ort-device.ts";
import type { TfjsBackendChoice } from "../backbone/tfjs-backend.ts";
import {
  embeddedWeightsPath,
  embeddedWeightsSha256,
  kerasWeightsSha256,
  loadKerasWeights,
} from "../backbone/weights-keras.ts";
import {
  foldTorchvisionWeights,
  type NamedTensor,
  parseSafetensors,
} from "../backbone/weights-safetensors.ts";
import type { FeatureMaps } from "../readout/index.ts";
import { FeatureError } from "./errors.ts";

export type ExecutorChoice = "auto" | "onnx" | "tfjs";

export interface FeatureExtractorOptions {
  arch: Arch;
  variant: Variant;
  /** Tap, e.g. "layer4.1" (the block's output after its ReLU). */
  layer: string;
  /**
   * A torchvision-layout .safetensors state dict, or a Keras tfjs-layers model.json (variant keras);
   * absent = the embedded Keras ImageNet ResNet-50 (arch resnet50, variant keras).
   */
  weightsPath?: string;
  /** "auto" (default): ONNX Runtime when onnxruntime-node loads here, else tfjs. */
  executor?: ExecutorChoice;
  /** tfjs backend when tfjs runs (default "auto": tfjs-node-gpu → tfjs-node → wasm → cpu). */
  tfjsBackend?: TfjsBackendChoice;
  /** ONNX Runtime intra-op threads (default: the machine's cores). */
  threads?: number;
  /** Where ONNX Runtime runs (config compute.device; analysis/backbone/ort-device.ts); default "auto". */
  device?: ComputeDevice;
  /** Side of the square model input that computeFeatures uses unless told otherwise (default 224). */
  imageSize?: number;
  /**
   * Blocks per stage and width; default: read from the state dict (so narrow test networks load), else the
   * ImageNet shape of `arch`.
   */
  shape?: ResNetShape;
}

export interface FeatureExtractor {
  readonly arch: Arch;
  readonly variant: Variant;
  readonly layer: string;
  /** Default side of the square model input (computeFeatures' imageSize). */
  readonly imageSize: number;
  /** sha256 of the weights file(s) (for .safetensors: of the file; Keras: model.json then shards). */
  readonly weightsSha256: string;
  /** Where the weights came from: the file, or "embedded Keras ResNet-50". */
  readonly weightsSource: string;
  /** "onnx", or "tfjs-<backend>" (tfjs-wasm, tfjs-tensorflow, tfjs-cpu). */
  readonly executorName: string;
  /** One line for logs: executor, threads or backend, and what was passed over. */
  readonly description: string;
  /** The network up to the tap, as data (plain, so it crosses to and from worker threads). */
  readonly network: NetworkDescription;
  /** [h, w, c] of the features of a size × size image. */
  featureShape(size: number): [number, number, number];
  /** Features of n size × size RGB images (NHWC, 0..255) as NHWC FeatureMaps. */
  extract(rgb: Float32Array | Uint8Array, n: number, size: number): Promise<FeatureMaps>;
  dispose(): Promise<void>;
}

const EXECUTORS: readonly ExecutorChoice[] = ["auto", "onnx", "tfjs"];

interface LoadedWeights {
  desc: NetworkDescription;
  weights: FoldedWeights;
  sha256: string;
  source: string;
}

/** Blocks per stage and stem width of a torchvision ResNet state dict; null when it is not one. */
export function inferResNetShape(tensors: Map<string, NamedTensor>): ResNetShape | null {
  const stem = tensors.get("conv1.weight");
  if (stem?.shape.length !== 4) return null;
  const blocks = [new Set<number>(), new Set<number>(), new Set<number>(), new Set<number>()];
  for (const name of tensors.keys()) {
    const m = /^layer([1-4])\.(\d+)\./.exec(name);
    if (m) blocks[Number(m[1]) - 1].add(Number(m[2]));
  }
  if (blocks.some((b) => b.size === 0)) return null;
  return {
    layers: blocks.map((b) => b.size) as [number, number, number, number],
    width: stem.shape[0],
  };
}

async function readWeightsFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new BackboneError(
      "EPHYS_BAD_WEIGHTS",
      `weightsPath: cannot read ${path} (${(e as Error).message})`,
    );
  }
}

async function loadSafetensors(options: FeatureExtractorOptions, path: string): Promise<LoadedWeights> {
  const bytes = await readWeightsFile(path);
  const tensors = parseSafetensors(bytes);
  const bottleneck = tensors.has("layer1.0.conv3.weight");
  if (tensors.has("layer1.0.conv1.weight") && bottleneck !== (options.arch === "resnet50")) {
    throw new BackboneError(
      "EPHYS_BAD_WEIGHTS",
      `arch is ${options.arch} but ${path} holds ${bottleneck ? "bottleneck" : "basic"} blocks ` +
        `(${bottleneck ? "resnet50-like" : "resnet18-like"}); expected weights of a ${options.arch}`,
    );
  }
  const shape = options.shape ?? inferResNetShape(tensors) ?? DEFAULT_SHAPES[options.arch];
  const desc = describeResNet(options.arch, options.variant, options.layer, shape);
  const weights = foldTorchvisionWeights(tensors, desc);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  return { desc, weights, sha256, source: path };
}

async function loadKeras(
  options: FeatureExtractorOptions,
  modelJson: string,
  source: string,
  hash: () => Promise<string>,
): Promise<LoadedWeights> {
  if (options.arch !== "resnet50" || options.variant !== "keras") {
    throw new BackboneError(
      "EPHYS_BAD_WEIGHTS",
      `arch/variant are ${options.arch}/${options.variant}, but ${source} is a Keras ResNet-50; ` +
        "expected arch resnet50 with variant keras (or a torchvision .safetensors in weightsPath)",
    );
  }
  const desc = describeResNet("resnet50", "keras", options.layer, options.shape);
  const [weights, sha256] = await Promise.all([loadKerasWeights(desc, modelJson), hash()]);
  return { desc, weights, sha256, source };
}

function loadWeights(options: FeatureExtractorOptions): Promise<LoadedWeights> {
  const path = options.weightsPath;
  if (path === undefined) {
    return loadKeras(options, embeddedWeightsPath(), "embedded Keras ResNet-50", embeddedWeightsSha256);
  }
  if (path.endsWith(".json")) return loadKeras(options, path, path, () => kerasWeightsSha256(path));
  return loadSafetensors(options, path);
}

function checkBatch(rgb: Float32Array | Uint8Array, n: number, size: number): void {
  if (!Number.isInteger(n) || n < 1) {
    throw new FeatureError("EPHYS_BAD_FEATURE_REQUEST", `n: got ${n}, expected a whole number ≥ 1`);
  }
  if (!Number.isInteger(size) || size < 1) {
    throw new FeatureError(
      "EPHYS_BAD_FEATURE_REQUEST",
      `size: got ${size}, expected a whole number of pixels ≥ 1`,
    );
  }
  if (rgb.length !== n * size * size * 3) {
    throw new FeatureError(
      "EPHYS_BAD_FEATURE_REQUEST",
      `rgb: got ${rgb.length} values, expected n·size·size·3 = ${n}·${size}·${size}·3 = ${n * size * size * 3}`,
    );
  }
}

/** [h, w, c] of the features at `layer` of a size × size image. */
export function tapFeatureShape(
  network: NetworkDescription,
  layer: string,
  size: number,
): [number, number, number] {
  const [h, w] = activationSizes(network, size, size).get(network.taps[layer])!;
  return [h, w, network.tapChannels[layer]!];
}

/** Load the weights, build the backbone up to `layer` and start the executor (ONNX Runtime or tfjs). */
export async function createFeatureExtractor(options: FeatureExtractorOptions): Promise<FeatureExtractor> {
  const executor = options.executor ?? "auto";
  if (!EXECUTORS.includes(executor)) {
    throw new FeatureError(
      "EPHYS_BAD_FEATURE_REQUEST",
      `executor: got ${JSON.stringify(executor)}, expected one of ${EXECUTORS.join(", ")}`,
    );
  }
  const threads = options.threads ?? availableParallelism();
  const imageSize = options.imageSize ?? 224;
  if (!Number.isInteger(imageSize) || imageSize < 1) {
    throw new FeatureError(
      "EPHYS_BAD_FEATURE_REQUEST",
      `imageSize: got ${imageSize}, expected a whole number of pixels ≥ 1`,
    );
  }
  const { desc, weights, sha256, source } = await loadWeights(options);
  const { layer } = options;
  const featureShape = (size: number) => tapFeatureShape(desc, layer, size);
  const common = {
    network: desc,
    arch: options.arch,
    variant: options.variant,
    layer,
    imageSize,
    weightsSha256: sha256,
    weightsSource: source,
    featureShape,
  };

  const useOnnx = executor === "onnx" || (executor === "auto" && (await onnxAvailable()));
  if (useOnnx) {
    if (!(await onnxAvailable())) {
      throw new BackboneError(
        "EPHYS_BAD_BACKBONE",
        'executor: "onnx" was asked for, but onnxruntime-node does not load here; expected "auto" or "tfjs"',
      );
    }
    const device = await resolveDevice(options.device ?? "auto");
    const backbone = await createOnnxBackbone(desc, weights, {
      tap: layer,
      threads,
      input: "pixels",
      device: device.device,
    });
    return {
      ...common,
      executorName: "onnx",
      description: `onnx on ${device.device} (onnxruntime-node, ${backbone.threads} thread${backbone.threads === 1 ? "" : "s"})`,
      async extract(rgb, n, size) {
        checkBatch(rgb, n, size);
        const out = await backbone.forward(rgb, n, size, size);
        const [on, h, w, c] = out.shape;
        return { n: on, h, w, c, data: out.data };
      },
      dispose: () => backbone.dispose(),
    };
  }

  const tf = await import("@tensorflow/tfjs-core");
  const { selectTfjsBackend } = await import("../backbone/tfjs-backend.ts");
  const { createTfjsBackbone } = await import("../backbone/tfjs-executor.ts");
  const selected = await selectTfjsBackend(options.tfjsBackend ?? "auto");
  const backbone = createTfjsBackbone(desc, weights);
  const why = executor === "auto" ? "; onnxruntime-node does not load here" : "";
  const skipped = selected.skipped.length > 0 ? `; passed over: ${selected.skipped.join("; ")}` : "";
  return {
    ...common,
    executorName: `tfjs-${selected.name}`,
    description: `tfjs-${selected.name} (${selected.choice}${why}${skipped})`,
    async extract(rgb, n, size) {
      checkBatch(rgb, n, size);
      const pixels = rgb instanceof Float32Array ? rgb : Float32Array.from(rgb);
      const features = tf.tidy(() =>
        backbone.forward(backbone.preprocess(tf.tensor4d(pixels, [n, size, size, 3])), layer),
      );
      try {
        const data = (await features.data()) as Float32Array;
        const [on, h, w, c] = features.shape;
        return { n: on, h, w, c, data };
      } finally {
        features.dispose();
      }
    },
    async dispose() {
      backbone.dispose();
    },
  };
}
