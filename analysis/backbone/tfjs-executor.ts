// The description run by tfjs (NHWC), differentiable w.r.t. the image; explicit tf.pad + 'valid' ops so every
// padding the description states (asymmetric included) is exact.
import * as tf from "@tensorflow/tfjs-core";
import type { FoldedWeights, NetworkDescription, Op } from "./description.ts";
import { BackboneError } from "./errors.ts";
import "./tfjs-gradients.ts";
import { type ConvWithInputGrad, convWithInputGrad, type InputGradKernel } from "./wasm-conv-grad.ts";

export interface TfjsBackbone {
  readonly description: NetworkDescription;
  /** Activation at `tap` (default: the description's last tap) for preprocessed NHWC images. */
  forward(images: tf.Tensor4D, tap?: string): tf.Tensor4D;
  /** Activations at several taps in one pass (order of `taps`). */
  forwardTaps(images: tf.Tensor4D, taps: string[]): tf.Tensor4D[];
  /** RGB 0..255 NHWC → network input (differentiable). */
  preprocess(rgb: tf.Tensor4D): tf.Tensor4D;
  dispose(): void;
}

export interface TfjsBackboneOptions {
  /** How conv input gradients are computed; default "forward-conv" on wasm, "stock" elsewhere. */
  inputGrad?: InputGradKernel;
}

const isZeroPad = (p: [number, number, number, number]) => p.every((v) => v === 0);

function padNHWC(x: tf.Tensor4D, p: [number, number, number, number]): tf.Tensor4D {
  if (isZeroPad(p)) return x;
  const [top, left, bottom, right] = p;
  return tf.pad(x, [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ]);
}

function checkWeights(desc: NetworkDescription, weights: FoldedWeights): void {
  for (const op of desc.ops) {
    if (op.op !== "conv") continue;
    const p = weights.get(op.name);
    const wLen = op.outChannels * op.inChannels * op.kernel * op.kernel;
    if (!p) throw new BackboneError("EPHYS_BAD_WEIGHTS", `folded weights lack conv ${op.name}`);
    if (p.weight.length !== wLen || p.bias.length !== op.outChannels) {
      throw new BackboneError(
        "EPHYS_BAD_WEIGHTS",
        `conv ${op.name}: weight has ${p.weight.length} values and bias ${p.bias.length}; expected ${wLen} ` +
          `([${op.outChannels}, ${op.inChannels}, ${op.kernel}, ${op.kernel}]) and ${op.outChannels}`,
      );
    }
  }
}

export function createTfjsBackbone(
  desc: NetworkDescription,
  weights: FoldedWeights,
  options: TfjsBackboneOptions = {},
): TfjsBackbone {
  checkWeights(desc, weights);
  const inputGrad = options.inputGrad ?? (tf.getBackend() === "wasm" ? "forward-conv" : "stock");
  const convs = new Map<string, ConvWithInputGrad>();
  const owned: tf.Tensor[] = [];
  for (const op of desc.ops) {
    if (op.op === "conv") convs.set(op.name, convWithInputGrad(op, weights.get(op.name)!, inputGrad));
  }
  const { preprocessing } = desc;
  const mean = tf.tensor1d(preprocessing.mean);
  const invStd = tf.tensor1d(preprocessing.std.map((s) => 1 / s));
  owned.push(mean, invStd);
  let disposed = false;

  const run = (op: Op, acts: Map<string, tf.Tensor4D>): tf.Tensor4D => {
    const get = (name: string) => {
      const t = acts.get(name);
      if (!t)
        throw new BackboneError(
          "EPHYS_BAD_BACKBONE",
          `op ${op.name} reads ${name}, which no earlier op makes`,
        );
      return t;
    };
    switch (op.op) {
      case "conv":
        return convs.get(op.name)!.apply(padNHWC(get(op.input), op.pad));
      case "maxpool":
        // Zero padding equals -inf padding here: the pooled input is a ReLU output (≥ 0).
        return tf.maxPool(padNHWC(get(op.input), op.pad), op.kernel, op.stride, "valid");
      case "add_relu":
        return tf.relu(tf.add(get(op.inputs[0]), get(op.inputs[1]))) as tf.Tensor4D;
    }
  };

  const forwardTaps = (images: tf.Tensor4D, taps: string[]): tf.Tensor4D[] => {
    if (disposed) throw new BackboneError("EPHYS_BAD_BACKBONE", "the tfjs backbone was disposed");
    if (images.rank !== 4 || images.shape[3] !== 3) {
      throw new BackboneError(
        "EPHYS_BAD_IMAGE",
        `images have shape [${images.shape.join(", ")}]; expected NHWC [n, height, width, 3]`,
      );
    }
    const wanted = taps.map((tap) => {
      const act = desc.taps[tap];
      if (!act) {
        throw new BackboneError(
          "EPHYS_BAD_BACKBONE",
          `tap ${JSON.stringify(tap)} is not in this description; expected one of ${Object.keys(desc.taps).join(", ")}`,
        );
      }
      return act;
    });
    return tf.tidy(() => {
      const acts = new Map<string, tf.Tensor4D>([["input", images]]);
      const remaining = new Set(wanted);
      for (const op of desc.ops) {
        if (remaining.size === 0) break;
        acts.set(op.output, run(op, acts));
        remaining.delete(op.output);
      }
      return wanted.map((a) => acts.get(a)!);
    });
  };

  const tapNames = Object.keys(desc.taps);
  return {
    description: desc,
    forward: (images, tap = tapNames[tapNames.length - 1]) => forwardTaps(images, [tap])[0],
    forwardTaps,
    preprocess: (rgb) =>
      tf.tidy(() => {
        if (preprocessing.mode === "caffe") {
          return tf.sub(tf.reverse(rgb, 3), mean) as tf.Tensor4D;
        }
        return tf.mul(tf.sub(tf.div(rgb, 255), mean), invStd) as tf.Tensor4D;
      }),
    dispose: () => {
      if (disposed) return;
      disposed = true;
      for (const c of convs.values()) c.dispose();
      for (const t of owned) t.dispose();
    },
  };
}
