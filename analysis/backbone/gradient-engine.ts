// Input gradients behind one interface, whichever engine computes them: ONNX Runtime (the generated VJP graph,
// onnx-gradients.ts) when it loads, tfjs (tfjs-executor.ts's hand-written backward) as the fallback and reference.
// Saliency and integrated gradients call this and never learn which engine ran; `engine`/`summary` say it for logs.

import * as tf from "@tensorflow/tfjs-core";
import type { FoldedWeights, NetworkDescription } from "./description.ts";
import { BackboneError } from "./errors.ts";
import type { GradientBackbone, ImageBatch } from "./gradient-backbone.ts";
import { checkDims, onnxAvailable } from "./onnx-executor.ts";
import { tapShape } from "./onnx-vjp-graph.ts";
import { type ComputeDevice, resolveDevice } from "./ort-device.ts";
import { syncBinding } from "./ort-session.ts";
import { readoutCotangents } from "./readout-cotangent.ts";
import { selectTfjsBackend, type TfjsBackendChoice } from "./tfjs-backend.ts";
import { createTfjsBackbone, type TfjsBackbone } from "./tfjs-executor.ts";

export type { GradientBackbone, ImageBatch } from "./gradient-backbone.ts";

/** "auto": ONNX Runtime when it loads (and, where asked, its synchronous session), else tfjs. */
export type GradientEngineChoice = "auto" | "onnx" | "tfjs";
export const GRADIENT_ENGINES: readonly GradientEngineChoice[] = ["auto", "onnx", "tfjs"];

export interface EngineDecision {
  engine: "onnx" | "tfjs";
  /** Why tfjs was taken in "auto" (empty when ONNX runs or tfjs was asked for). */
  fallback: string;
}

/**
 * Which engine runs. `synchronous`: the caller needs synchronous gradients (tf.customGrad), which ONNX gives only
 * through ort-session.ts's native session. A forced "onnx" that cannot serve throws EPHYS_ORT_BINDING.
 */
export async function chooseGradientEngine(
  choice: GradientEngineChoice = "auto",
  synchronous = false,
): Promise<EngineDecision> {
  if (!GRADIENT_ENGINES.includes(choice)) {
    throw new BackboneError(
      "EPHYS_BAD_BACKBONE",
      `gradient engine: got ${JSON.stringify(choice)}, expected one of ${GRADIENT_ENGINES.join(", ")}`,
    );
  }
  if (choice === "tfjs") return { engine: "tfjs", fallback: "" };
  let why = "";
  if (!(await onnxAvailable())) why = "onnxruntime-node does not load here";
  else if (synchronous) {
    const probe = syncBinding();
    if ("reason" in probe) why = `no synchronous ONNX session: ${probe.reason}`;
  }
  if (why === "") return { engine: "onnx", fallback: "" };
  if (choice === "onnx") throw new BackboneError("EPHYS_ORT_BINDING", `gradient engine "onnx": ${why}`);
  return { engine: "tfjs", fallback: why };
}

export function checkCotangents(
  desc: NetworkDescription,
  tap: string,
  images: ImageBatch,
  cotangents: Float32Array,
  k: number,
): [number, number, number] {
  checkDims(images.n, images.height, images.width, images.data.length);
  const [h, w, c] = tapShape(desc, tap, images.height, images.width);
  if (!Number.isInteger(k) || k < 1 || (images.n !== k && images.n !== 1)) {
    throw new BackboneError(
      "EPHYS_BAD_COTANGENT",
      `k: got ${k} cotangents for ${images.n} image(s), expected k = ${images.n} (one per image) or one image`,
    );
  }
  if (cotangents.length !== k * h * w * c) {
    throw new BackboneError(
      "EPHYS_BAD_COTANGENT",
      `cotangents: got ${cotangents.length} values, expected k·h·w·C = ${k}·${h}·${w}·${c} = ${k * h * w * c}`,
    );
  }
  return [h, w, c];
}

/** The tfjs engine over a TfjsBackbone (on the current tfjs backend); disposing it disposes the backbone. */
export function tfjsGradientBackbone(bb: TfjsBackbone, fallback = ""): GradientBackbone {
  const desc = bb.description;
  const inputGradients = async (tap: string, images: ImageBatch, cotangents: Float32Array, k: number) => {
    const [h, w, c] = checkCotangents(desc, tap, images, cotangents, k);
    const { n, height, width } = images;
    const g = tf.tidy(() => {
      const rgb = tf.tensor4d(images.data, [n, height, width, 3]);
      const cot = tf.tensor4d(cotangents, [k, h, w, c]);
      // One image: one forward, one backward batched over k. One cotangent per image: the tape.
      if (n === 1) return bb.inputGradients(rgb, tap, cot);
      return tf.grad((x: tf.Tensor) => bb.forward(bb.preprocess(x as tf.Tensor4D), tap))(
        rgb,
        cot,
      ) as tf.Tensor4D;
    });
    const data = (await g.data()) as Float32Array;
    g.dispose();
    return data;
  };
  return {
    description: desc,
    engine: `tfjs-${tf.getBackend()}`,
    summary: `tfjs-${tf.getBackend()}${fallback ? ` (${fallback})` : ""}`,
    chunkSize: 8, // the wasm heap caps at 4 GB: 8 cotangents of ResNet-50 at 224 px fit
    async features(tap, images) {
      checkDims(images.n, images.height, images.width, images.data.length);
      const out = tf.tidy(() =>
        bb.forward(bb.preprocess(tf.tensor4d(images.data, [images.n, images.height, images.width, 3])), tap),
      );
      const [n, h, w, c] = out.shape;
      const data = (await out.data()) as Float32Array;
      out.dispose();
      return { data, shape: [n, h, w, c] };
    },
    inputGradients,
    async readoutGradients(tap, images, location, readout, k) {
      checkDims(images.n, images.height, images.width, images.data.length);
      const [h, w, c] = tapShape(desc, tap, images.height, images.width);
      return inputGradients(tap, images, readoutCotangents(location, h, w, c, readout, k), k);
    },
    dispose: () => bb.dispose(),
  };
}

export interface GradientBackboneOptions {
  engine?: GradientEngineChoice;
  /** ONNX Runtime intra-op threads (default: the machine's cores). */
  threads?: number;
  /** tfjs backend to select when tfjs runs (default "auto"). */
  tfjsBackend?: TfjsBackendChoice;
  /** Where ONNX Runtime runs (config compute.device; ort-device.ts resolveDevice); default "auto". */
  device?: ComputeDevice;
}

/** The engine `options.engine` picks (chooseGradientEngine), built from the description and folded weights. */
export async function createGradientBackbone(
  desc: NetworkDescription,
  weights: FoldedWeights,
  options: GradientBackboneOptions = {},
): Promise<GradientBackbone> {
  const decision = await chooseGradientEngine(options.engine ?? "auto");
  if (decision.engine === "onnx") {
    const { createOnnxGradients } = await import("./onnx-gradients.ts");
    const { device } = await resolveDevice(options.device ?? "auto");
    return createOnnxGradients(desc, weights, { threads: options.threads, device });
  }
  await selectTfjsBackend(options.tfjsBackend ?? "auto");
  return tfjsGradientBackbone(createTfjsBackbone(desc, weights), decision.fallback);
}
