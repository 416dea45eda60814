// The backbone's vector-Jacobian product as an ONNX graph generated from the description: one forward pass
// (the forward graph's own nodes, max pools also emitting their indices) followed by the exact adjoint of every op
// in reverse order, so ONNX Runtime computes input gradients at native speed. Nothing about the network is
// written here; the description and onnx-graph.ts's forward nodes are the only source.
//
// Graph contract (spatial size fixed per graph, so every stride's output size is exact; batch sizes dynamic):
//   input  "pixels"    float32 [N, H, W, 3], RGB, 0..255 (preprocessing in the graph, as the forward graph);
//   cotangent, one of
//     "dense":   "cotangent" float32 [K, h, w, C] (NHWC, the tap's activation shape);
//     "readout": "readout"  float32 [K, C] and "scatter" float32 [S, h, w] (S = K or 1): the cotangent of a
//                bilinear readout a = Σ_p scatter[p]·f[p] at one location, i.e. the adjoint of the sampling,
//                cotangent[k, p, c] = scatter[p]·readout[k, c] (scatter: the 4 bilinear weights, 0 elsewhere);
//   output "gradient"  float32 [K, H, W, 3] = Σ ⟨activation, cotangent_k⟩ / d pixels (RGB 0..255 units).
// Batches: N = K (image k with cotangent k) or N = 1 (one image, K cotangents): the forward's ReLU masks and
// pooling indices broadcast over the K cotangents.
//
// Adjoints (y = f(x), g = ∂L/∂y):
//   conv (stride 1)     dx = conv(g, W̃), W̃[i,o,a,b] = W[o,i,k−1−a,k−1−b], pads k−1−p (the rotated kernel, run by
//                       ONNX Runtime's blocked NCHWc convolutions; ConvTranspose took 1.1–1.4× as long here);
//   conv (stride s > 1) dx = ConvTranspose(g, W) with the forward pads and output_padding
//                       (H + top + bottom − k) mod s, so dx has exactly the input's size (forward-conv forms were
//                       slower here: polyphase kernels + DepthToSpace, and a 1×1 conv + zero interleaving, both
//                       lost on memory-bound reshuffles);
//   ReLU                g ⊙ sign(y) (y ≥ 0: the mask y > 0, as PyTorch and tfjs take it);
//   max pool            g routed to the argmax of each window: ScatterElements(add) at MaxPool's indices
//                       (windows overlap at stride 2 < kernel 3, so contributions add);
//   residual add        fan-out: the masked g goes to both inputs; gradients of a fan-in are summed;
//   preprocessing       its transpose: ×1/std' per channel, BGR→RGB (caffe), NCHW→NHWC.

import onnxProto from "onnx-proto";
import { activationSizes } from "./describe.ts";
import type { ConvOp, FoldedWeights, MaxPoolOp, NetworkDescription } from "./description.ts";
import { BackboneError } from "./errors.ts";
import {
  checkConvWeights,
  floatTensor,
  forwardNodes,
  int64Tensor,
  intAttr,
  intsAttr,
  modelProto,
  ONNX_FEATURES,
  ONNX_INPUT,
  ONNX_PIXELS,
  opsForTap,
  PREPROCESS_BGR,
  PREPROCESS_INVSTD,
  poolIndicesName,
  preprocessingNodes,
  valueInfo,
} from "./onnx-graph.ts";

const { onnx } = onnxProto;

export const ONNX_COTANGENT = "cotangent";
export const ONNX_READOUT = "readout";
export const ONNX_SCATTER = "scatter";
export const ONNX_GRADIENT = "gradient";

/** How the cotangent enters: a dense [K, h, w, C] tensor, or readout weights [K, C] at a bilinear location. */
export type CotangentKind = "dense" | "readout";
/**
 * Adjoint of the convolutions: "auto" (default) runs stride-1 adjoints as convolutions with the rotated kernel
 * (ONNX Runtime's fastest conv path) and strided ones as ConvTranspose; "conv-transpose" uses ConvTranspose for
 * every conv (the textbook adjoint; kept to check the two against each other).
 */
export type ConvAdjoint = "auto" | "conv-transpose";

/**
 * Which graph: "whole" (default; pixels + cotangent → gradient, the forward recomputed inside), or the two halves
 * that tf.customGrad runs apart: "forward" (pixels → "features" NHWC plus the saved values the backward reads: the
 * ReLU outputs whose masks it takes and the max pools' indices, each under its activation's name) and "backward"
 * (the saved values + cotangent → gradient).
 */
export type VjpPart = "whole" | "forward" | "backward";

export interface VjpGraphOptions {
  /** Tap (a key of desc.taps) whose activation the cotangent is for. */
  tap: string;
  /** Input image height and width in pixels (the graph is specialized to them). */
  height: number;
  width: number;
  cotangent?: CotangentKind;
  adjoint?: ConvAdjoint;
  part?: VjpPart;
}

/** Spatial size [h, w] and channels of the tap's activation for an input of height × width. */
export function tapShape(
  desc: NetworkDescription,
  tap: string,
  height: number,
  width: number,
): [number, number, number] {
  const activation = desc.taps[tap];
  if (activation === undefined) {
    throw new BackboneError(
      "EPHYS_BAD_BACKBONE",
      `tap: got "${tap}", expected one of ${Object.keys(desc.taps).join(", ") || "(none)"}`,
    );
  }
  const [h, w] = activationSizes(desc, height, width).get(activation)!;
  return [h, w, desc.tapChannels[tap]!];
}

/** The stride-1 adjoint's kernel OIHW [I, O, k, k] of a forward OIHW [O, I, k, k]: rotated by 180°, in/out swapped,
 * out[c, co, a, b] = w[co, c, k−1−a, k−1−b] (wasm-conv-grad.ts inputGradFilter at stride 1, there HWIO). */
export function adjointKernel(weight: Float32Array, o: number, i: number, k: number): Float32Array {
  const out = new Float32Array(weight.length);
  for (let c = 0; c < i; c++)
    for (let co = 0; co < o; co++)
      for (let a = 0; a < k; a++)
        for (let b = 0; b < k; b++)
          out[((c * o + co) * k + a) * k + b] = weight[((co * i + c) * k + (k - 1 - a)) * k + (k - 1 - b)];
  return out;
}

function checkSize(field: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new BackboneError("EPHYS_BAD_IMAGE", `${field}: got ${v}, expected a positive integer`);
  }
}

/** The VJP ModelProto for the description up to `options.tap` at height × width. */
export function buildVjpModelProto(
  desc: NetworkDescription,
  weights: FoldedWeights,
  options: VjpGraphOptions,
): onnxProto.onnx.ModelProto {
  const { tap, height, width } = options;
  const cotangentKind = options.cotangent ?? "dense";
  const adjoint = options.adjoint ?? "auto";
  checkSize("height", height);
  checkSize("width", width);
  if (cotangentKind !== "dense" && cotangentKind !== "readout") {
    throw new BackboneError(
      "EPHYS_BAD_BACKBONE",
      `cotangent: got "${cotangentKind}", expected dense|readout`,
    );
  }
  if (adjoint !== "auto" && adjoint !== "conv-transpose") {
    throw new BackboneError("EPHYS_BAD_BACKBONE", `adjoint: got "${adjoint}", expected auto|conv-transpose`);
  }
  const part = options.part ?? "whole";
  if (part !== "whole" && part !== "forward" && part !== "backward") {
    throw new BackboneError("EPHYS_BAD_BACKBONE", `part: got "${part}", expected whole|forward|backward`);
  }
  const ops = opsForTap(desc, tap);
  const sizes = activationSizes(desc, height, width);
  const [h, w, channels] = tapShape(desc, tap, height, width);
  const initializers: onnxProto.onnx.ITensorProto[] = [];
  const forward: onnxProto.onnx.INodeProto[] = [
    ...preprocessingNodes(desc, initializers),
    ...forwardNodes(ops, weights, initializers, { poolIndices: true }),
  ];
  /** The backward's nodes (cotangent in, gradient out). */
  const nodes: onnxProto.onnx.INodeProto[] = [];
  /** Forward values the backward reads, with their value infos (a "backward" part takes them as inputs). */
  const saved = new Map<string, onnxProto.onnx.IValueInfoProto>();
  const node = (
    opType: string,
    name: string,
    input: string[],
    attribute: onnxProto.onnx.IAttributeProto[] = [],
  ): string => {
    nodes.push({ opType, name, input, output: [name], attribute });
    return name;
  };
  const constant = (name: string, values: number[]): string => {
    initializers.push(int64Tensor(name, [values.length], values));
    return name;
  };

  // The cotangent at the tap, NCHW [K, C, h, w].
  const inputs: onnxProto.onnx.IValueInfoProto[] = [];
  let cot: string;
  if (cotangentKind === "dense") {
    inputs.push(valueInfo(ONNX_COTANGENT, ["K", h, w, channels]));
    cot = node("Transpose", "vjp:cotangent", [ONNX_COTANGENT], [intsAttr("perm", [0, 3, 1, 2])]);
  } else {
    inputs.push(valueInfo(ONNX_READOUT, ["K", channels]), valueInfo(ONNX_SCATTER, ["S", h, w]));
    // Adjoint of the bilinear sampling a_k = Σ_p scatter[p]·f[p, ·]·readout[k, ·]: readout ⊗ scatter.
    const r = node("Reshape", "vjp:readout", [
      ONNX_READOUT,
      constant("vjp.readout_shape", [0, channels, 1, 1]),
    ]);
    const s = node("Unsqueeze", "vjp:scatter", [ONNX_SCATTER, constant("vjp.scatter_axes", [1])]);
    cot = node("Mul", "vjp:cotangent", [r, s]);
  }

  // Gradients flowing into each activation, summed once all its readers have contributed (reverse op order).
  const pending = new Map<string, string[]>([[desc.taps[tap]!, [cot]]]);
  const take = (activation: string): string | undefined => {
    const parts = pending.get(activation);
    pending.delete(activation);
    if (parts === undefined) return undefined;
    return parts.length === 1 ? parts[0] : node("Sum", `vjp:${activation}:sum`, parts);
  };
  const give = (activation: string, g: string) => {
    pending.set(activation, [...(pending.get(activation) ?? []), g]);
  };
  const reluMask = (activation: string, g: string): string => {
    const [ah, aw] = sizes.get(activation)!;
    saved.set(activation, valueInfo(activation, ["N", channelsOf(activation), ah, aw]));
    // y ≥ 0 after a ReLU, so sign(y) is the 0/1 mask of y > 0.
    const mask = node("Sign", `vjp:${activation}:mask`, [activation]);
    return node("Mul", `vjp:${activation}:relu`, [g, mask]);
  };

  const convAdjoint = (op: ConvOp, g: string): string => {
    const { weight } = checkConvWeights(op, weights);
    const [t, l, b, r] = op.pad;
    const { kernel: k, stride: s, inChannels: i, outChannels: o } = op;
    const name = `vjp:${op.name}`;
    if (adjoint === "auto" && s === 1 && op.pad.every((p) => p <= k - 1)) {
      const w = `${op.name}.weight_adjoint`;
      initializers.push(floatTensor(w, [i, o, k, k], adjointKernel(weight, o, i, k)));
      return node(
        "Conv",
        name,
        [g, w],
        [
          intsAttr("kernel_shape", [k, k]),
          intsAttr("strides", [1, 1]),
          intsAttr("pads", [k - 1 - t, k - 1 - l, k - 1 - b, k - 1 - r]),
          intsAttr("dilations", [1, 1]),
          intAttr("group", 1),
        ],
      );
    }
    const [inH, inW] = sizes.get(op.input)!;
    // ConvTranspose's weight layout [C_in of the transpose = O, C_out = I, k, k] is the forward weight itself.
    return node(
      "ConvTranspose",
      name,
      [g, `${op.name}.weight`],
      [
        intsAttr("kernel_shape", [k, k]),
        intsAttr("strides", [s, s]),
        intsAttr("pads", [t, l, b, r]),
        // Rows/columns of the padded input that no window reached: zero gradient, appended before the end crop.
        intsAttr("output_padding", [(inH + t + b - k) % s, (inW + l + r - k) % s]),
        intsAttr("dilations", [1, 1]),
        intAttr("group", 1),
      ],
    );
  };

  const poolAdjoint = (op: MaxPoolOp, g: string): string => {
    const [inH, inW] = sizes.get(op.input)!;
    const c = channelsOf(op.input);
    const plane = c * inH * inW;
    const name = `vjp:${op.name}`;
    const [ph, pw] = sizes.get(op.output)!;
    saved.set(
      poolIndicesName(op),
      valueInfo(poolIndicesName(op), ["N", c, ph, pw], onnx.TensorProto.DataType.INT64),
    );
    // Per-cotangent rows: g [K, C·h·w]; indices [N, C·h·w] are flat over N·C·H·W, so mod C·H·W makes them
    // per-image, and Expand broadcasts N = 1 over the K rows.
    const flat = constant(`${name}.flat`, [0, -1]);
    const gFlat = node("Reshape", `${name}:g`, [g, flat]);
    const idx = node("Reshape", `${name}:indices`, [poolIndicesName(op), flat]);
    initializers.push(int64Tensor(`${name}.plane`, [], [plane]));
    const local = node("Mod", `${name}:local`, [idx, `${name}.plane`], [intAttr("fmod", 0)]);
    const gShape = node("Shape", `${name}:shape`, [gFlat]);
    const expanded = node("Expand", `${name}:expanded`, [local, gShape]);
    const rows = node("Slice", `${name}:rows`, [
      gShape,
      constant(`${name}.start`, [0]),
      constant(`${name}.end`, [1]),
    ]);
    const zerosShape = node(
      "Concat",
      `${name}:zeros_shape`,
      [rows, constant(`${name}.plane_dim`, [plane])],
      [intAttr("axis", 0)],
    );
    const zeros = node("ConstantOfShape", `${name}:zeros`, [zerosShape]);
    const routed = node(
      "ScatterElements",
      `${name}:routed`,
      [zeros, expanded, gFlat],
      [
        intAttr("axis", 1),
        { name: "reduction", type: onnx.AttributeProto.AttributeType.STRING, s: enc("add") },
      ],
    );
    return node("Reshape", name, [routed, constant(`${name}.shape`, [-1, c, inH, inW])]);
  };

  const producers = new Map(ops.map((op) => [op.output, op]));
  function channelsOf(activation: string): number {
    const op = producers.get(activation);
    if (op === undefined) return 3;
    if (op.op === "conv") return op.outChannels;
    return op.op === "maxpool" ? channelsOf(op.input) : channelsOf(op.inputs[0]);
  }

  for (let i = ops.length - 1; i >= 0; i--) {
    const op = ops[i];
    const g = take(op.output);
    if (g === undefined) continue; // (cannot happen: opsForTap keeps only ops the tap depends on)
    if (op.op === "add_relu") {
      const masked = reluMask(op.output, g);
      give(op.inputs[0], masked);
      give(op.inputs[1], masked);
    } else if (op.op === "conv") {
      give(op.input, convAdjoint(op, op.relu ? reluMask(op.output, g) : g));
    } else {
      give(op.input, poolAdjoint(op, g));
    }
  }
  const gInput = take(ONNX_INPUT);
  if (gInput === undefined || pending.size > 0) {
    throw new BackboneError(
      "EPHYS_BAD_BACKBONE",
      `ops: the adjoint left gradients at ${[...pending.keys()].join(", ") || "(none)"} and ` +
        `${gInput === undefined ? "none" : "one"} at "input"; expected every path to end at "input"`,
    );
  }
  // Transpose of the preprocessing (affine): scale by 1/std' per network channel, undo BGR, back to NHWC.
  let x = node("Mul", "vjp:preprocess:scale", [gInput, PREPROCESS_INVSTD]);
  if (desc.preprocessing.mode === "caffe") {
    x = node("Gather", "vjp:preprocess:rgb", [x, PREPROCESS_BGR], [intAttr("axis", 1)]);
  }
  nodes.push({
    opType: "Transpose",
    name: "vjp:preprocess:nhwc",
    input: [x],
    output: [ONNX_GRADIENT],
    attribute: [intsAttr("perm", [0, 2, 3, 1])],
  });

  const name = `${desc.arch}-${desc.variant}-${tap}-vjp-${height}x${width}`;
  const pixels = valueInfo(ONNX_PIXELS, ["N", height, width, 3]);
  const gradient = valueInfo(ONNX_GRADIENT, ["K", height, width, 3]);
  if (part === "whole") {
    return modelProto(name, [...forward, ...nodes], initializers, [pixels, ...inputs], [gradient]);
  }
  if (part === "backward") {
    const used = new Set(nodes.flatMap((n) => n.input ?? []));
    const kept = initializers.filter((t) => used.has(t.name!));
    return modelProto(`${name}-backward`, nodes, kept, [...saved.values(), ...inputs], [gradient]);
  }
  forward.push({
    opType: "Transpose",
    name: "features:nhwc",
    input: [desc.taps[tap]!],
    output: [ONNX_FEATURES],
    attribute: [intsAttr("perm", [0, 2, 3, 1])],
  });
  const used = new Set(forward.flatMap((n) => n.input ?? []));
  return modelProto(
    `${name}-forward`,
    forward,
    initializers.filter((t) => used.has(t.name!)),
    [pixels],
    [valueInfo(ONNX_FEATURES, ["N", h, w, channels]), ...saved.values()],
  );
}

const enc = (s: string) => new TextEncoder().encode(s);

/** Serialized VJP model bytes. */
export function buildVjpModel(
  desc: NetworkDescription,
  weights: FoldedWeights,
  options: VjpGraphOptions,
): Uint8Array {
  return onnx.ModelProto.encode(buildVjpModelProto(desc, weights, options)).finish();
}
