// The backbone run by ONNX Runtime (onnxruntime-node, CPU): the graph generated from the description is
// built in memory and handed to InferenceSession.create(bytes); no file is written.
// onnxruntime-node is loaded by dynamic import so a machine without it can fall back (onnxAvailable()).

import { availableParallelism } from "node:os";
import type * as Ort from "onnxruntime-node";
import type { FoldedWeights, NetworkDescription } from "./description.ts";
import { BackboneError } from "./errors.ts";
import { buildOnnxModel, deepestTap, ONNX_INPUT, ONNX_PIXELS, type OnnxInputKind } from "./onnx-graph.ts";
import { type OrtDevice, ortProviders } from "./ort-device.ts";

type OrtModule = typeof Ort;

export interface OnnxBackboneOptions {
  /** Tap (a key of desc.taps); default: the description's deepest tap. */
  tap?: string;
  /** Intra-op threads; default: the machine's cores (os.availableParallelism()). */
  threads?: number;
  /** "pixels" (default): forward takes NHWC RGB 0..255; "normalized": NCHW already preprocessed. */
  input?: OnnxInputKind;
  /**
   * Let idle intra-op threads spin (ORT's default, true): fastest on an otherwise idle machine; false yields the
   * cores at once, which is faster when other processes compete for them.
   */
  spinning?: boolean;
  /** Where the session runs (ort-device.ts: a device resolveDevice chose); default the CPU. */
  device?: OrtDevice;
}

/** Features at the tap, NHWC (as the tfjs path returns them). */
export interface BackboneFeatures {
  data: Float32Array;
  shape: [number, number, number, number];
}

export interface OnnxBackbone {
  readonly tap: string;
  readonly channels: number;
  readonly input: OnnxInputKind;
  readonly threads: number;
  readonly device: OrtDevice;
  /**
   * One batch. input "pixels": `batch` is [n, h, w, 3] RGB 0..255 (Float32Array or Uint8Array);
   * input "normalized": [n, 3, h, w] preprocessed. Calls are serialized (one run at a time uses all threads).
   */
  forward(batch: Float32Array | Uint8Array, n: number, h: number, w: number): Promise<BackboneFeatures>;
  dispose(): Promise<void>;
}

let ortPromise: Promise<OrtModule | null> | undefined;

/** onnxruntime-node, or null where its native binding does not load (loaded once). */
export function loadOrt(): Promise<OrtModule | null> {
  ortPromise ??= import("onnxruntime-node").then(
    (m) => m as OrtModule,
    () => null,
  );
  return ortPromise;
}

/** Whether onnxruntime-node can be loaded here (its native binding present). */
export async function onnxAvailable(): Promise<boolean> {
  return (await loadOrt()) !== null;
}

/** Throws EPHYS_BAD_IMAGE unless n, h, w are positive integers and `length` = n·h·w·3. */
export function checkDims(n: number, h: number, w: number, length: number): void {
  for (const [field, v] of [
    ["n", n],
    ["h", h],
    ["w", w],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new BackboneError("EPHYS_BAD_IMAGE", `${field}: got ${v}, expected a positive integer`);
    }
  }
  if (length !== n * h * w * 3) {
    throw new BackboneError(
      "EPHYS_BAD_IMAGE",
      `batch: got ${length} values, expected n·h·w·3 = ${n}·${h}·${w}·3 = ${n * h * w * 3}`,
    );
  }
}

/** Session options of every backbone session: on `device`, `threads` intra-op threads, sequential, all graph
 *  optimizations. */
export function ortSessionOptions(
  threads: number,
  spinning = true,
  device: OrtDevice = "cpu",
): Ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ortProviders(device),
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
    logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: spinning ? "1" : "0" } } },
  };
}

export async function createOnnxBackbone(
  desc: NetworkDescription,
  weights: FoldedWeights,
  options: OnnxBackboneOptions = {},
): Promise<OnnxBackbone> {
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) {
    throw new BackboneError("EPHYS_BAD_BACKBONE", `threads: got ${threads}, expected a positive integer`);
  }
  const input = options.input ?? "pixels";
  const tap = options.tap ?? deepestTap(desc);
  const bytes = buildOnnxModel(desc, weights, { tap, input, outputLayout: "nhwc" });
  const ort = await loadOrt();
  if (ort === null) {
    throw new BackboneError(
      "EPHYS_BAD_BACKBONE",
      "onnxruntime-node: not loadable on this machine, expected its native binding (check onnxAvailable() first)",
    );
  }
  const device = options.device ?? "cpu";
  const session = await ort.InferenceSession.create(
    bytes,
    ortSessionOptions(threads, options.spinning, device),
  );
  const channels = desc.tapChannels[tap]!;
  const inputName = input === "pixels" ? ONNX_PIXELS : ONNX_INPUT;
  let queue: Promise<unknown> = Promise.resolve();
  let disposed = false;

  const run = async (batch: Float32Array | Uint8Array, n: number, h: number, w: number) => {
    if (disposed) throw new BackboneError("EPHYS_BAD_BACKBONE", "forward: backbone already disposed");
    checkDims(n, h, w, batch.length);
    const data = batch instanceof Float32Array ? batch : Float32Array.from(batch);
    const dims = input === "pixels" ? [n, h, w, 3] : [n, 3, h, w];
    const feeds = { [inputName]: new ort.Tensor("float32", data, dims) };
    const result = await session.run(feeds);
    const out = result.features;
    const [on, oh, ow, oc] = out.dims;
    return { data: out.data as Float32Array, shape: [on, oh, ow, oc] as [number, number, number, number] };
  };

  return {
    tap,
    channels,
    input,
    threads,
    device,
    forward(batch, n, h, w) {
      const next = queue.then(() => run(batch, n, h, w));
      queue = next.catch(() => undefined);
      return next;
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await queue;
      await session.release();
    },
  };
}
