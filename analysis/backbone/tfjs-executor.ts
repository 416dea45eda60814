// The description run by tfjs (NHWC), differentiable w.r.t. the image; explicit tf.pad + 'valid' ops so every
// padding the description states (asymmetric included) is exact.
import * as tf from "@tensorflow/tfjs-core";
import type { FoldedWeights, NetworkDescription, Op } from "./description.ts";
import { BackboneError } from "./errors.ts";
import "./tfjs-gradients.ts";
import {
  type ConvWithInputGrad,
  type Crop,
  convWithInputGrad,
  type InputGradKernel,
} from "./wasm-conv-grad.ts";

export interface TfjsBackbone {
  readonly description: NetworkDescription;
  /** Activation at `tap` (default: the description's last tap) for preprocessed NHWC images. */
  forward(images: tf.Tensor4D, tap?: string): tf.Tensor4D;
  /** Activations at several taps in one pass (order of `taps`). */
  forwardTaps(images: tf.Tensor4D, taps: string[]): tf.Tensor4D[];
  /**
   * d⟨activation(tap), cotangent_j⟩ / d rgb for k cotangents [k, h, w, c] of ONE image rgb [1, H, W, 3] (0..255):
   * one forward pass, then one backward pass batched over the k cotangents, without the tape → [k, H, W, 3].
   */
  inputGradients(rgb: tf.Tensor4D, tap: string, cotangents: tf.Tensor4D): tf.Tensor4D;
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

  const run = (op: Op, acts: Map<string, tf.Tensor4D>, paddedInput?: tf.Tensor4D): tf.Tensor4D => {
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
        return convs.get(op.name)!.apply(paddedInput ?? padNHWC(get(op.input), op.pad));
      case "maxpool":
        // Zero padding equals -inf padding here: the pooled input is a ReLU output (≥ 0).
        return tf.maxPool(paddedInput ?? padNHWC(get(op.input), op.pad), op.kernel, op.stride, "valid");
      case "add_relu":
        return tf.relu(tf.add(get(op.inputs[0]), get(op.inputs[1]))) as tf.Tensor4D;
    }
  };

  const tapActivation = (tap: string): string => {
    const act = desc.taps[tap];
    if (!act) {
      throw new BackboneError(
        "EPHYS_BAD_BACKBONE",
        `tap ${JSON.stringify(tap)} is not in this description; expected one of ${Object.keys(desc.taps).join(", ")}`,
      );
    }
    return act;
  };
  const checkImages = (images: tf.Tensor4D, what = "images", batch?: number) => {
    if (disposed) throw new BackboneError("EPHYS_BAD_BACKBONE", "the tfjs backbone was disposed");
    if (images.rank !== 4 || images.shape[3] !== 3 || (batch !== undefined && images.shape[0] !== batch)) {
      throw new BackboneError(
        "EPHYS_BAD_IMAGE",
        `${what} have shape [${images.shape.join(", ")}]; expected NHWC [${batch ?? "n"}, height, width, 3]`,
      );
    }
  };
  const preprocess = (rgb: tf.Tensor4D): tf.Tensor4D =>
    tf.tidy(() => {
      if (preprocessing.mode === "caffe") return tf.sub(tf.reverse(rgb, 3), mean) as tf.Tensor4D;
      return tf.mul(tf.sub(tf.div(rgb, 255), mean), invStd) as tf.Tensor4D;
    });
  /** Transpose of preprocess (it is affine): caffe flips the channels back, torch scales by 1/(255·std). */
  const preprocessBackward = (g: tf.Tensor4D): tf.Tensor4D =>
    tf.tidy(() => {
      if (preprocessing.mode === "caffe") return tf.reverse(g, 3) as tf.Tensor4D;
      return tf.div(tf.mul(g, invStd), 255) as tf.Tensor4D;
    });

  const inputGradients = (rgb: tf.Tensor4D, tap: string, cotangents: tf.Tensor4D): tf.Tensor4D => {
    checkImages(rgb, "rgb", 1);
    const target = tapActivation(tap);
    const end = desc.ops.findIndex((op) => op.output === target);
    const ops = desc.ops.slice(0, end + 1);
    return tf.tidy(() => {
      // Forward (no tape), keeping each op's padded input and output.
      const acts = new Map<string, tf.Tensor4D>([["input", preprocess(rgb)]]);
      const padded = new Map<string, tf.Tensor4D>();
      for (const op of ops) {
        if (op.op !== "add_relu") padded.set(op.name, padNHWC(acts.get(op.input)!, op.pad));
        acts.set(op.output, run(op, acts, padded.get(op.name)));
      }
      const out = acts.get(target)!;
      if (cotangents.rank !== 4 || cotangents.shape.slice(1).some((d, i) => d !== out.shape[i + 1])) {
        throw new BackboneError(
          "EPHYS_BAD_BACKBONE",
          `cotangents have shape [${cotangents.shape.join(", ")}]; expected [k, ${out.shape.slice(1).join(", ")}] (tap ${tap})`,
        );
      }
      // Backward, batched over the k cotangents; ReLU masks (batch 1) broadcast over k.
      const grads = new Map<string, tf.Tensor4D>([[target, cotangents]]);
      const accumulate = (name: string, g: tf.Tensor4D) => {
        const prev = grads.get(name);
        grads.set(name, prev ? (tf.add(prev, g) as tf.Tensor4D) : g);
      };
      const k = cotangents.shape[0];
      for (let i = ops.length - 1; i >= 0; i--) {
        const op = ops[i];
        const g = grads.get(op.output);
        if (!g) continue;
        grads.delete(op.output);
        const y = acts.get(op.output)!;
        if (op.op === "add_relu") {
          const masked = tf.mul(g, tf.step(y)) as tf.Tensor4D;
          accumulate(op.inputs[0], masked);
          accumulate(op.inputs[1], masked);
          continue;
        }
        const x = acts.get(op.input)!;
        const xp = padded.get(op.name)!;
        const [top, left] = op.pad;
        const crop: Crop = [top, left, x.shape[1], x.shape[2]];
        if (op.op === "conv") {
          const masked = op.relu ? (tf.mul(g, tf.step(y)) as tf.Tensor4D) : g;
          accumulate(op.input, convs.get(op.name)!.inputGrad(masked, xp.shape[1], xp.shape[2], crop));
        } else {
          // The stock MaxPoolGrad needs input and output of dy's batch: k copies (concat; tf.tile is slow on wasm).
          const copies = tf.concat(new Array<tf.Tensor4D>(k).fill(xp)) as tf.Tensor4D;
          const gPadded = tf.grad((v: tf.Tensor) =>
            tf.sum(tf.mul(tf.maxPool(v as tf.Tensor4D, op.kernel, op.stride, "valid"), g)),
          )(copies) as tf.Tensor4D;
          accumulate(
            op.input,
            isZeroPad(op.pad)
              ? gPadded
              : tf.slice(gPadded, [0, top, left, 0], [k, ...x.shape.slice(1)] as [
                  number,
                  number,
                  number,
                  number,
                ]),
          );
        }
      }
      return preprocessBackward(grads.get("input")!);
    });
  };

  const forwardTaps = (images: tf.Tensor4D, taps: string[]): tf.Tensor4D[] => {
    checkImages(images);
    const wanted = taps.map(tapActivation);
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
    inputGradients,
    preprocess,
    dispose: () => {
      if (disposed) return;
      disposed = true;
      for (const c of convs.values()) c.dispose();
      for (const t of owned) t.dispose();
    },
  };
}
