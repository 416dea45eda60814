// ONNX graph generated from the backbone description: every op of the description up to one tap becomes
// ONNX nodes (Conv with the folded batch norm as its bias, Relu, MaxPool, Add), every folded weight an
// initializer. Nothing about the network is written here; the description is the only source.
//
// Graph contract (documented choice: preprocessing lives in the graph, so callers feed raw pixels):
//   input  "pixels"   float32 [N, H, W, 3], RGB, 0..255 (input: "pixels", the default), or
//          "input"    float32 [N, 3, H, W], already preprocessed (input: "normalized");
//   output "features" float32 [N, h, w, C] (outputLayout "nhwc", the default, as the tfjs path) or
//          [N, C, h, w] ("nchw"); N, H and W are dynamic.
// Preprocessing in the graph is Transpose(NHWC→NCHW), for "caffe" a Gather that reverses the channels
// (RGB→BGR), then Sub(mean') and Mul(1/std'), with mean' = mean, std' = std ("caffe", 0..255 units) or
// mean' = 255·mean, std' = 255·std ("torch": (x/255 − mean)/std). It is not folded into conv1: the stem's
// zero padding would then pad raw zeros instead of normalized zeros.

import onnxProto from "onnx-proto";
import type { ConvOp, FoldedWeights, MaxPoolOp, NetworkDescription, Op } from "./description.ts";
import { BackboneError } from "./errors.ts";

const { onnx } = onnxProto;

export const ONNX_OPSET = 17;
/** onnx-proto 8 knows IR versions up to 8 (ONNX 1.10); onnxruntime 1.30 loads it with opset 17. */
export const ONNX_IR_VERSION = 8;
export const ONNX_PIXELS = "pixels";
export const ONNX_INPUT = "input";
export const ONNX_FEATURES = "features";

export type OnnxInputKind = "pixels" | "normalized";
export type OnnxLayout = "nhwc" | "nchw";

export interface OnnxGraphOptions {
  /** Tap as torchvision names modules (a key of desc.taps), e.g. "layer4.1"; default: the deepest tap. */
  tap?: string;
  /** "pixels" (default): NHWC RGB 0..255 with preprocessing in the graph; "normalized": NCHW preprocessed. */
  input?: OnnxInputKind;
  /** Layout of the "features" output; default "nhwc". */
  outputLayout?: OnnxLayout;
}

/** The description's deepest tap: the one whose activation is written last (describeResNet's `tap`). */
export function deepestTap(desc: NetworkDescription): string {
  const order = new Map(desc.ops.map((op, i) => [op.output, i]));
  let best: string | undefined;
  for (const [tap, activation] of Object.entries(desc.taps)) {
    if (best === undefined || (order.get(activation) ?? -1) > (order.get(desc.taps[best]!) ?? -1)) best = tap;
  }
  if (best === undefined)
    throw new BackboneError("EPHYS_BAD_BACKBONE", "taps: empty, expected at least one tap");
  return best;
}

/** The ops that the tap's activation depends on, in description order; throws if one is unreachable. */
export function opsForTap(desc: NetworkDescription, tap: string): Op[] {
  const target = desc.taps[tap];
  if (target === undefined) {
    throw new BackboneError(
      "EPHYS_BAD_BACKBONE",
      `tap: got "${tap}", expected one of ${Object.keys(desc.taps).join(", ") || "(none)"}`,
    );
  }
  const producer = new Map<string, Op>();
  for (const op of desc.ops) {
    if (producer.has(op.output)) {
      throw new BackboneError("EPHYS_BAD_BACKBONE", `ops: activation "${op.output}" written twice`);
    }
    producer.set(op.output, op);
  }
  const needed = new Set<Op>();
  const stack = [target];
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (name === ONNX_INPUT) continue;
    const op = producer.get(name);
    if (op === undefined) {
      throw new BackboneError(
        "EPHYS_BAD_BACKBONE",
        `ops: activation "${name}" is read but no op writes it (expected "input" or an op output)`,
      );
    }
    if (needed.has(op)) continue;
    needed.add(op);
    for (const input of op.op === "add_relu" ? op.inputs : [op.input]) stack.push(input);
  }
  return desc.ops.filter((op) => needed.has(op));
}

export function checkConvWeights(
  op: ConvOp,
  weights: FoldedWeights,
): { weight: Float32Array; bias: Float32Array } {
  const params = weights.get(op.name);
  if (params === undefined) {
    throw new BackboneError(
      "EPHYS_BAD_WEIGHTS",
      `weights["${op.name}"]: missing, expected folded conv params`,
    );
  }
  const wantWeight = op.outChannels * op.inChannels * op.kernel * op.kernel;
  if (params.weight.length !== wantWeight) {
    throw new BackboneError(
      "EPHYS_BAD_WEIGHTS",
      `weights["${op.name}"].weight: got ${params.weight.length} values, expected ${wantWeight} ` +
        `(${op.outChannels}×${op.inChannels}×${op.kernel}×${op.kernel}, OIHW)`,
    );
  }
  if (params.bias.length !== op.outChannels) {
    throw new BackboneError(
      "EPHYS_BAD_WEIGHTS",
      `weights["${op.name}"].bias: got ${params.bias.length} values, expected ${op.outChannels}`,
    );
  }
  return params;
}

export function floatTensor(name: string, dims: number[], data: Float32Array): onnxProto.onnx.ITensorProto {
  // rawData is little-endian float32, which is the memory layout of Float32Array on every platform Node runs on.
  return {
    name,
    dims,
    dataType: onnx.TensorProto.DataType.FLOAT,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

/** An int64 initializer (indices, shapes). */
export function int64Tensor(name: string, dims: number[], values: number[]): onnxProto.onnx.ITensorProto {
  return { name, dims, dataType: onnx.TensorProto.DataType.INT64, int64Data: values };
}

export function intsAttr(name: string, ints: number[]): onnxProto.onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints };
}

export function intAttr(name: string, i: number): onnxProto.onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i };
}

/** A graph input/output (float32 unless `elemType` says otherwise); string dims are symbolic (dynamic). */
export function valueInfo(
  name: string,
  dims: (number | string)[],
  elemType: number = onnx.TensorProto.DataType.FLOAT,
): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export interface ForwardNodesOptions {
  /** Give every MaxPool a second output "<output>:indices" (flat NCHW indices of the maxima, for the adjoint). */
  poolIndices?: boolean;
}

/** The activation a conv op writes before its ReLU (the op's output itself when it has none). */
export const preReluName = (op: ConvOp): string => (op.relu ? `${op.name}:conv` : op.output);
/** The int64 indices output of a MaxPool op built with `poolIndices`. */
export const poolIndicesName = (op: MaxPoolOp): string => `${op.output}:indices`;

/** ONNX nodes of `ops` (NCHW), reading "input"; every folded conv weight becomes an initializer. */
export function forwardNodes(
  ops: Op[],
  weights: FoldedWeights,
  initializers: onnxProto.onnx.ITensorProto[],
  options: ForwardNodesOptions = {},
): onnxProto.onnx.INodeProto[] {
  const nodes: onnxProto.onnx.INodeProto[] = [];
  for (const op of ops) {
    if (op.op === "conv") {
      const { weight, bias } = checkConvWeights(op, weights);
      const w = `${op.name}.weight`;
      const b = `${op.name}.bias`;
      initializers.push(floatTensor(w, [op.outChannels, op.inChannels, op.kernel, op.kernel], weight));
      initializers.push(floatTensor(b, [op.outChannels], bias));
      const convOut = preReluName(op);
      nodes.push({
        opType: "Conv",
        name: op.name,
        input: [op.input, w, b],
        output: [convOut],
        attribute: [
          intsAttr("kernel_shape", [op.kernel, op.kernel]),
          intsAttr("strides", [op.stride, op.stride]),
          // description [top, left, bottom, right] = ONNX [x1_begin, x2_begin, x1_end, x2_end]
          intsAttr("pads", [...op.pad]),
          intsAttr("dilations", [1, 1]),
          intAttr("group", 1),
        ],
      });
      if (op.relu)
        nodes.push({ opType: "Relu", name: `${op.name}:relu`, input: [convOut], output: [op.output] });
    } else if (op.op === "maxpool") {
      nodes.push({
        opType: "MaxPool",
        name: op.name,
        input: [op.input],
        output: options.poolIndices ? [op.output, poolIndicesName(op)] : [op.output],
        attribute: [
          intsAttr("kernel_shape", [op.kernel, op.kernel]),
          intsAttr("strides", [op.stride, op.stride]),
          intsAttr("pads", [...op.pad]),
        ],
      });
    } else {
      const sum = `${op.name}:add`;
      nodes.push({ opType: "Add", name: `${op.name}:add`, input: [...op.inputs], output: [sum] });
      nodes.push({ opType: "Relu", name: `${op.name}:relu`, input: [sum], output: [op.output] });
    }
  }
  return nodes;
}

/** A ModelProto at the opset and IR version this module targets. */
export function modelProto(
  name: string,
  nodes: onnxProto.onnx.INodeProto[],
  initializers: onnxProto.onnx.ITensorProto[],
  inputs: onnxProto.onnx.IValueInfoProto[],
  outputs: onnxProto.onnx.IValueInfoProto[],
): onnxProto.onnx.ModelProto {
  return onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    producerName: "ephysloop",
    opsetImport: [{ domain: "", version: ONNX_OPSET }],
    graph: { name, node: nodes, initializer: initializers, input: inputs, output: outputs },
  });
}

/** The ModelProto for the description up to `options.tap`. */
export function buildOnnxModelProto(
  desc: NetworkDescription,
  weights: FoldedWeights,
  options: OnnxGraphOptions,
): onnxProto.onnx.ModelProto {
  const inputKind = options.input ?? "pixels";
  const layout = options.outputLayout ?? "nhwc";
  if (inputKind !== "pixels" && inputKind !== "normalized") {
    throw new BackboneError("EPHYS_BAD_BACKBONE", `input: got "${inputKind}", expected pixels|normalized`);
  }
  const tap = options.tap ?? deepestTap(desc);
  const ops = opsForTap(desc, tap);
  const nodes: onnxProto.onnx.INodeProto[] = [];
  const initializers: onnxProto.onnx.ITensorProto[] = [];

  let graphInput: onnxProto.onnx.IValueInfoProto;
  if (inputKind === "pixels") {
    graphInput = valueInfo(ONNX_PIXELS, ["N", "H", "W", 3]);
    nodes.push(...preprocessingNodes(desc, initializers));
  } else {
    graphInput = valueInfo(ONNX_INPUT, ["N", 3, "H", "W"]);
  }

  nodes.push(...forwardNodes(ops, weights, initializers));

  const tapActivation = desc.taps[tap]!;
  const channels = desc.tapChannels[tap];
  if (channels === undefined) {
    throw new BackboneError("EPHYS_BAD_BACKBONE", `tapChannels["${tap}"]: missing`);
  }
  if (layout === "nhwc") {
    nodes.push({
      opType: "Transpose",
      name: "features:nhwc",
      input: [tapActivation],
      output: [ONNX_FEATURES],
      attribute: [intsAttr("perm", [0, 2, 3, 1])],
    });
  } else {
    nodes.push({ opType: "Identity", name: "features", input: [tapActivation], output: [ONNX_FEATURES] });
  }
  const outputDims = layout === "nhwc" ? ["N", "h", "w", channels] : ["N", channels, "h", "w"];

  return modelProto(
    `${desc.arch}-${desc.variant}-${tap}`,
    nodes,
    initializers,
    [graphInput],
    [valueInfo(ONNX_FEATURES, outputDims)],
  );
}

/** Serialized model bytes, ready for InferenceSession.create(bytes). */
export function buildOnnxModel(
  desc: NetworkDescription,
  weights: FoldedWeights,
  options: OnnxGraphOptions,
): Uint8Array {
  return onnx.ModelProto.encode(buildOnnxModelProto(desc, weights, options)).finish();
}

/** Initializers of the preprocessing nodes that its adjoint reuses: per-channel 1/std' [1,3,1,1]; RGB↔BGR [3]. */
export const PREPROCESS_INVSTD = "preprocess.invstd";
export const PREPROCESS_BGR = "preprocess.bgr";

/** pixels [N,H,W,3] RGB 0..255 → "input" [N,3,H,W] as the description's preprocessing defines it. */
export function preprocessingNodes(
  desc: NetworkDescription,
  initializers: onnxProto.onnx.ITensorProto[],
): onnxProto.onnx.INodeProto[] {
  const { mode, mean, std } = desc.preprocessing;
  const unit = mode === "torch" ? 255 : 1;
  const shift = new Float32Array(mean.map((m) => m * unit));
  const scale = new Float32Array(std.map((s) => 1 / (s * unit)));
  initializers.push(floatTensor("preprocess.mean", [1, 3, 1, 1], shift));
  initializers.push(floatTensor(PREPROCESS_INVSTD, [1, 3, 1, 1], scale));
  const nodes: onnxProto.onnx.INodeProto[] = [
    {
      opType: "Transpose",
      name: "preprocess:nchw",
      input: [ONNX_PIXELS],
      output: ["preprocess:nchw"],
      attribute: [intsAttr("perm", [0, 3, 1, 2])],
    },
  ];
  let x = "preprocess:nchw";
  if (mode === "caffe") {
    initializers.push(int64Tensor(PREPROCESS_BGR, [3], [2, 1, 0]));
    nodes.push({
      opType: "Gather",
      name: "preprocess:bgr",
      input: [x, PREPROCESS_BGR],
      output: ["preprocess:bgr"],
      attribute: [intAttr("axis", 1)],
    });
    x = "preprocess:bgr";
  }
  nodes.push({
    opType: "Sub",
    name: "preprocess:sub",
    input: [x, "preprocess.mean"],
    output: ["preprocess:sub"],
  });
  nodes.push({
    opType: "Mul",
    name: "preprocess:scale",
    input: ["preprocess:sub", PREPROCESS_INVSTD],
    output: [ONNX_INPUT],
  });
  return nodes;
}
