// The interface every input-gradient engine implements (ONNX's generated VJP graph, tfjs's backward, the worker
// pool in controller/compute): what saliency, integrated gradients and feature visualization call.
import type { NetworkDescription } from "./description.ts";
import type { BackboneFeatures } from "./onnx-executor.ts";

/** NHWC RGB images, values 0..255: data holds n·height·width·3 values. */
export interface ImageBatch {
  data: Float32Array;
  n: number;
  height: number;
  width: number;
}

export interface GradientBackbone {
  readonly description: NetworkDescription;
  /** "onnx" or "tfjs-<backend>". */
  readonly engine: string;
  /** One line for logs and reports: the engine, its threads or backend, and why a fallback was taken. */
  readonly summary: string;
  /** Cotangents per backward pass that suit this engine (memory and speed). */
  readonly chunkSize: number;
  /** Activation at `tap`, NHWC [n, h, w, C]. */
  features(tap: string, images: ImageBatch): Promise<BackboneFeatures>;
  /**
   * Σ_j d⟨activation_j, cotangent_j⟩/d image_j as [k, H, W, 3] (RGB 0..255 units) for cotangents [k, h, w, C]
   * (NHWC): k = n (cotangent j for image j) or n = 1 (one image, k cotangents; one forward, one batched backward).
   */
  inputGradients(tap: string, images: ImageBatch, cotangents: Float32Array, k: number): Promise<Float32Array>;
  /**
   * The same for the cotangents of k bilinear readouts at `location` (x, y in [−1, 1]): a_j = Σ_c readout[j, c]·f(μ)_c
   * (readout-cotangent.ts); readout holds k rows of C weights (a one-hot row: the feature's own gradient).
   */
  readoutGradients(
    tap: string,
    images: ImageBatch,
    location: [number, number],
    readout: ArrayLike<number>,
    k: number,
  ): Promise<Float32Array>;
  dispose(): void;
}
