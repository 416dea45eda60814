// The backbone as a differentiable tfjs function of the image: rgb 0..255 NHWC [n, H, W, 3] → activation at a tap
// [n, h, w, c]. Feature visualization (and anything else that puts tfjs ops before or after the backbone) calls it
// inside tf.grad / tf.variableGrads and never learns which engine computes the backward pass: tfjs itself, or
// ONNX Runtime through tf.customGrad (the generated VJP graph, run as its forward and backward halves).

import * as tf from "@tensorflow/tfjs-core";
import type { FoldedWeights, NetworkDescription } from "./description.ts";
import { BackboneError } from "./errors.ts";
import { chooseGradientEngine, type GradientEngineChoice } from "./gradient-engine.ts";
import { createOnnxGradients, type OnnxGradients } from "./onnx-gradients.ts";
import { type ComputeDevice, resolveDevice } from "./ort-device.ts";
import { createTfjsBackbone, type TfjsBackbone } from "./tfjs-executor.ts";

export type DifferentiableTap = (rgb: tf.Tensor4D) => tf.Tensor4D;

/** The tfjs engine: forward and backward both in tfjs (the fallback and the reference). */
export function tfjsDifferentiableTap(backbone: TfjsBackbone, tap: string): DifferentiableTap {
  return (rgb) => backbone.forward(backbone.preprocess(rgb), tap);
}

/**
 * The ONNX engine: a tf.customGrad whose forward runs the VJP graph's forward half (features, plus the ReLU outputs
 * and pooling indices its backward reads, kept in JS) and whose gradient runs the backward half with dy as the
 * cotangents (one per image), both synchronously (the engine must be `synchronous`); the forward is not rerun.
 */
export function onnxDifferentiableTap(gradients: OnnxGradients, tap: string): DifferentiableTap {
  if (!gradients.synchronous) {
    throw new BackboneError(
      "EPHYS_ORT_BINDING",
      `onnxDifferentiableTap: the ONNX engine has no synchronous session (${gradients.summary}); expected one for tf.customGrad`,
    );
  }
  if (gradients.description.taps[tap] === undefined) {
    throw new BackboneError(
      "EPHYS_BAD_BACKBONE",
      `tap: got "${tap}", expected one of ${Object.keys(gradients.description.taps).join(", ")}`,
    );
  }
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    if (x.rank !== 4 || x.shape[3] !== 3) {
      throw new BackboneError(
        "EPHYS_BAD_IMAGE",
        `rgb: got shape [${x.shape.join(", ")}], expected NHWC [n, height, width, 3]`,
      );
    }
    const [n, height, width] = x.shape;
    const raw = x.dataSync();
    const images = { data: raw instanceof Float32Array ? raw : Float32Array.from(raw), n, height, width };
    const { features, state } = gradients.forwardWithStateSync(tap, images);
    return {
      value: tf.tensor4d(features.data, features.shape),
      gradFunc: (dy: tf.Tensor) => {
        const g = gradients.backwardFromStateSync(state, dy.dataSync() as Float32Array, n);
        return tf.tensor4d(g, [n, height, width, 3]);
      },
    };
  });
  return (rgb) => f(rgb) as tf.Tensor4D;
}

export interface DifferentiableBackbone {
  /** The differentiable function of the image at `tap`. */
  tap(name: string): DifferentiableTap;
  /** "onnx" or "tfjs-<backend>". */
  readonly engine: string;
  /** One line for logs: the engine and why a fallback was taken. */
  readonly summary: string;
  readonly description: NetworkDescription;
  dispose(): void;
}

export interface DifferentiableBackboneOptions {
  /** "auto" (default): ONNX Runtime when it loads with a synchronous session, else tfjs. */
  engine?: GradientEngineChoice;
  /** ONNX Runtime intra-op threads (default: the machine's cores). */
  threads?: number;
  /** Where ONNX Runtime runs (config compute.device; ort-device.ts); default "auto". */
  device?: ComputeDevice;
}

/**
 * The backbone for tf.grad, on the engine `options.engine` picks. tfjs ops run on the current tfjs backend (the
 * caller selects it: the objective and transforms around the tap run there too).
 */
export async function createDifferentiableBackbone(
  desc: NetworkDescription,
  weights: FoldedWeights,
  options: DifferentiableBackboneOptions = {},
): Promise<DifferentiableBackbone> {
  const decision = await chooseGradientEngine(options.engine ?? "auto", true);
  if (decision.engine === "onnx") {
    const { device } = await resolveDevice(options.device ?? "auto");
    const gradients = await createOnnxGradients(desc, weights, { threads: options.threads, device });
    return {
      tap: (name) => onnxDifferentiableTap(gradients, name),
      engine: gradients.engine,
      summary: gradients.summary,
      description: desc,
      dispose: () => gradients.dispose(),
    };
  }
  const bb = createTfjsBackbone(desc, weights);
  const engine = `tfjs-${tf.getBackend()}`;
  return {
    tap: (name) => tfjsDifferentiableTap(bb, name),
    engine,
    summary: decision.fallback ? `${engine} (${decision.fallback})` : engine,
    description: desc,
    dispose: () => bb.dispose(),
  };
}
