// A differentiable backbone from weights on disk: a torchvision-layout .safetensors (shape inferred from the
// state dict, so small test networks load too) or a Keras ResNet-50 in tfjs layers format (default: embedded);
// as a gradient engine (ONNX Runtime when it loads, else tfjs) or as the tfjs executor itself.
import { readFile } from "node:fs/promises";
import { DEFAULT_SHAPES, describeResNet } from "../backbone/describe.ts";
import type { Arch, FoldedWeights, NetworkDescription, Variant } from "../backbone/description.ts";
import { BackboneError } from "../backbone/errors.ts";
import {
  createGradientBackbone,
  type GradientBackbone,
  type GradientBackboneOptions,
} from "../backbone/gradient-engine.ts";
import { createTfjsBackbone, type TfjsBackbone } from "../backbone/tfjs-executor.ts";
import { embeddedWeightsPath, loadKerasWeights } from "../backbone/weights-keras.ts";
import { foldTorchvisionWeights, parseSafetensors } from "../backbone/weights-safetensors.ts";
import { inferResNetShape } from "../features/index.ts";

export interface BackboneSource {
  arch: Arch;
  variant: Variant;
  /** Tap whose features the readout samples, e.g. "layer4.1". */
  layer: string;
  /** .safetensors (torchvision layout) or a Keras model.json; absent: the embedded Keras ResNet-50. */
  weightsPath?: string;
}

/** Build the tfjs backbone up to `layer` (the tfjs backend must already be selected). */
export async function loadTfjsBackbone(source: BackboneSource): Promise<TfjsBackbone> {
  const { desc, weights } = await loadBackboneWeights(source);
  return createTfjsBackbone(desc, weights);
}

/** The gradient engine `options.engine` picks (default "auto": ONNX Runtime when it loads, else tfjs). */
export async function loadGradientBackbone(
  source: BackboneSource,
  options: GradientBackboneOptions = {},
): Promise<GradientBackbone> {
  const { desc, weights } = await loadBackboneWeights(source);
  return createGradientBackbone(desc, weights, options);
}

/** The description up to `layer` and its folded weights. */
export async function loadBackboneWeights(
  source: BackboneSource,
): Promise<{ desc: NetworkDescription; weights: FoldedWeights }> {
  const path = source.weightsPath;
  if (path === undefined || path.endsWith(".json")) {
    if (source.arch !== "resnet50" || source.variant !== "keras") {
      throw new BackboneError(
        "EPHYS_BAD_WEIGHTS",
        `arch/variant are ${source.arch}/${source.variant}, but ${path ?? "the embedded weights"} is a Keras ResNet-50; ` +
          "expected --arch resnet50 --variant keras (or a torchvision .safetensors)",
      );
    }
    const desc = describeResNet("resnet50", "keras", source.layer);
    return { desc, weights: await loadKerasWeights(desc, path ?? embeddedWeightsPath()) };
  }
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new BackboneError("EPHYS_BAD_WEIGHTS", `weights: cannot read ${path} (${(e as Error).message})`);
  }
  const tensors = parseSafetensors(bytes);
  const shape = inferResNetShape(tensors) ?? DEFAULT_SHAPES[source.arch];
  const desc = describeResNet(source.arch, source.variant, source.layer, shape);
  return { desc, weights: foldTorchvisionWeights(tensors, desc) };
}
