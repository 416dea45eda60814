// ResNet-18/50 trunks as NetworkDescriptions (torchvision module names; batch norm folded into each conv).
import type { Arch, ConvOp, NetworkDescription, Op, Preprocessing, Variant } from "./description.ts";
import { BackboneError } from "./errors.ts";

/** Block counts and base width; the defaults are the ImageNet networks. Smaller shapes serve test fixtures. */
export interface ResNetShape {
  /** Blocks per stage layer1..layer4 (resnet18: [2,2,2,2], resnet50: [3,4,6,3]). */
  layers: [number, number, number, number];
  /** Channels of the stem and of layer1's bottleneck width (64 for the ImageNet networks). */
  width: number;
}

export const DEFAULT_SHAPES: Record<Arch, ResNetShape> = {
  resnet18: { layers: [2, 2, 2, 2], width: 64 },
  resnet50: { layers: [3, 4, 6, 3], width: 64 },
};

const TORCH_PREPROCESSING: Preprocessing = {
  mode: "torch",
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};
/** Caffe preprocessing of Keras ResNet50: BGR order, mean in 0..255 units (B, G, R), no scaling. */
const CAFFE_PREPROCESSING: Preprocessing = {
  mode: "caffe",
  mean: [103.939, 116.779, 123.68],
  std: [1, 1, 1],
};

const SYMMETRIC = (p: number): [number, number, number, number] => [p, p, p, p];

/** All tap names of a shape, in execution order ("layer1.0" … "layer4.2"). */
export function tapNames(shape: ResNetShape): string[] {
  const names: string[] = [];
  shape.layers.forEach((n, stage) => {
    for (let b = 0; b < n; b++) names.push(`layer${stage + 1}.${b}`);
  });
  return names;
}

function checkShape(shape: ResNetShape): void {
  const okLayers =
    Array.isArray(shape.layers) &&
    shape.layers.length === 4 &&
    shape.layers.every((n) => Number.isInteger(n) && n >= 1);
  if (!okLayers) {
    throw new BackboneError(
      "EPHYS_BAD_BACKBONE",
      `shape.layers is ${JSON.stringify(shape.layers)}; expected four integers ≥ 1 (blocks per stage)`,
    );
  }
  if (!Number.isInteger(shape.width) || shape.width < 1) {
    throw new BackboneError(
      "EPHYS_BAD_BACKBONE",
      `shape.width is ${JSON.stringify(shape.width)}; expected an integer ≥ 1`,
    );
  }
}

/**
 * The ResNet trunk up to and including `tap` (default: the last block of layer4).
 * torchvision: a bottleneck's stride sits on its 3×3 conv2; keras (Caffe ResNet, Keras 2.2.4 ResNet50): on conv1.
 * Keras' padding is expressed exactly: ZeroPadding2D(3) before conv1, ZeroPadding2D(1) before the 3×3/2 max pool,
 * "same" 3×3 convs at stride 1 (symmetric 1), 1×1 convs unpadded.
 */
export function describeResNet(
  arch: Arch,
  variant: Variant,
  tap?: string,
  shape: ResNetShape = DEFAULT_SHAPES[arch],
): NetworkDescription {
  if (arch !== "resnet18" && arch !== "resnet50") {
    throw new BackboneError(
      "EPHYS_BAD_BACKBONE",
      `arch is ${JSON.stringify(arch)}; expected "resnet18" or "resnet50"`,
    );
  }
  if (variant !== "torchvision" && variant !== "keras") {
    throw new BackboneError(
      "EPHYS_BAD_BACKBONE",
      `variant is ${JSON.stringify(variant)}; expected "torchvision" or "keras"`,
    );
  }
  if (arch === "resnet18" && variant === "keras") {
    throw new BackboneError(
      "EPHYS_BAD_BACKBONE",
      'variant "keras" exists only for resnet50 (Keras ships no ResNet-18); use variant "torchvision"',
    );
  }
  checkShape(shape);
  const allTaps = tapNames(shape);
  const lastTap = tap ?? allTaps[allTaps.length - 1];
  if (!allTaps.includes(lastTap)) {
    throw new BackboneError(
      "EPHYS_BAD_BACKBONE",
      `tap is ${JSON.stringify(tap)}; expected one of ${allTaps[0]}..${allTaps[allTaps.length - 1]} for ${arch} with layers ${JSON.stringify(shape.layers)}`,
    );
  }

  const bottleneck = arch === "resnet50";
  const expansion = bottleneck ? 4 : 1;
  const ops: Op[] = [];
  const taps: Record<string, string> = {};
  const tapChannels: Record<string, number> = {};
  const tapStride: Record<string, number> = {};
  const conv = (
    name: string,
    input: string,
    inChannels: number,
    outChannels: number,
    kernel: number,
    stride: number,
    relu: boolean,
  ): ConvOp => {
    const op: ConvOp = {
      op: "conv",
      name,
      input,
      output: name,
      inChannels,
      outChannels,
      kernel,
      stride,
      pad: SYMMETRIC((kernel - 1) / 2),
      relu,
    };
    ops.push(op);
    return op;
  };

  const w = shape.width;
  conv("conv1", "input", 3, w, 7, 2, true);
  ops.push({
    op: "maxpool",
    name: "maxpool",
    input: "conv1",
    output: "maxpool",
    kernel: 3,
    stride: 2,
    pad: SYMMETRIC(1),
  });
  let current = "maxpool";
  let channels = w;
  let spatialStride = 4;

  outer: for (let stage = 0; stage < 4; stage++) {
    const planes = w * 2 ** stage;
    const stageStride = stage === 0 ? 1 : 2;
    for (let b = 0; b < shape.layers[stage]; b++) {
      const name = `layer${stage + 1}.${b}`;
      const stride = b === 0 ? stageStride : 1;
      const outChannels = planes * expansion;
      let last: ConvOp;
      if (bottleneck) {
        const s1 = variant === "keras" ? stride : 1;
        const s2 = variant === "keras" ? 1 : stride;
        const c1 = conv(`${name}.conv1`, current, channels, planes, 1, s1, true);
        const c2 = conv(`${name}.conv2`, c1.output, planes, planes, 3, s2, true);
        last = conv(`${name}.conv3`, c2.output, planes, outChannels, 1, 1, false);
      } else {
        const c1 = conv(`${name}.conv1`, current, channels, planes, 3, stride, true);
        last = conv(`${name}.conv2`, c1.output, planes, planes, 3, 1, false);
      }
      let shortcut = current;
      if (stride !== 1 || channels !== outChannels) {
        shortcut = conv(`${name}.downsample`, current, channels, outChannels, 1, stride, false).output;
      }
      ops.push({ op: "add_relu", name, inputs: [last.output, shortcut], output: name });
      spatialStride *= stride;
      channels = outChannels;
      current = name;
      taps[name] = name;
      tapChannels[name] = channels;
      tapStride[name] = spatialStride;
      if (name === lastTap) break outer;
    }
  }

  return {
    arch,
    variant,
    ops,
    taps,
    tapChannels,
    tapStride,
    preprocessing: variant === "keras" ? CAFFE_PREPROCESSING : TORCH_PREPROCESSING,
  };
}

/** The conv ops of a description, in order. */
export function convOps(desc: NetworkDescription): ConvOp[] {
  return desc.ops.filter((op): op is ConvOp => op.op === "conv");
}

/** Spatial size [height, width] of every activation for an input of height × width (floor((n + pads − k)/s) + 1). */
export function activationSizes(
  desc: NetworkDescription,
  height: number,
  width: number,
): Map<string, [number, number]> {
  const sizes = new Map<string, [number, number]>([["input", [height, width]]]);
  for (const op of desc.ops) {
    if (op.op === "add_relu") {
      sizes.set(op.output, sizes.get(op.inputs[0])!);
      continue;
    }
    const [h, w] = sizes.get(op.input)!;
    const [t, l, b, r] = op.pad;
    const oh = Math.floor((h + t + b - op.kernel) / op.stride) + 1;
    const ow = Math.floor((w + l + r - op.kernel) / op.stride) + 1;
    if (oh < 1 || ow < 1) {
      throw new BackboneError(
        "EPHYS_BAD_IMAGE",
        `a ${height}×${width} image leaves nothing after ${op.name} (${h}×${w} in); expected a larger image`,
      );
    }
    sizes.set(op.output, [oh, ow]);
  }
  return sizes;
}
