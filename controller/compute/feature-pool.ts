// Feature extraction on a pool of worker threads, one backbone executor per worker (feature-worker.ts), behind
// the same FeatureExtractor interface as the single extractor: each batch is cut into one contiguous part per
// worker and the parts' features are put back in order. Every image's features come from the same network and
// the same kernels whatever the part it lands in, so the pool gives the single-thread path's values (tested
// bitwise on ONNX Runtime and tfjs wasm: test/controller/feature-pool.test.ts).
//
// Sizing: `threads` is the whole budget (default: the machine's cores). ONNX Runtime workers split it
// (workers × intra-op threads ≈ threads); tfjs wasm runs one thread per backend in Node, so it gets one worker
// per thread. One worker means no pool: the extractor runs in this thread.

import { availableParallelism } from "node:os";
import { onnxAvailable } from "../../analysis/backbone/onnx-executor.ts";
import { type OrtDevice, resolveDevice } from "../../analysis/backbone/ort-device.ts";
import {
  createFeatureExtractor,
  FeatureError,
  type FeatureExtractor,
  type FeatureExtractorOptions,
  tapFeatureShape,
} from "../../analysis/features/index.ts";
import type { FeatureMaps } from "../../analysis/readout/index.ts";
import type { FeatureTask, FeatureWorkerInfo, FeatureWorkerInit } from "./feature-worker.ts";
import { partBounds, WorkerPool } from "./worker-pool.ts";

export interface FeaturePoolOptions extends FeatureExtractorOptions {
  /** Worker threads, each with its own executor; default: featurePoolSize(). 1 = no pool. */
  workers?: number;
}

/** Workers and threads per worker for a thread budget: see the file comment; measured in bench/backbone.ts. */
export function featurePoolSize(
  executor: "onnx" | "tfjs",
  threads: number,
): { workers: number; threadsPerWorker: number } {
  if (executor === "tfjs") return { workers: Math.max(1, Math.min(threads, 8)), threadsPerWorker: 1 };
  // ONNX Runtime: about 4 intra-op threads per session scale well; 2 sessions of 1 thread beat 1 of 2 here.
  const workers = Math.max(1, Math.min(8, threads <= 4 ? threads : Math.round(threads / 4)));
  return { workers, threadsPerWorker: Math.max(1, Math.floor(threads / workers)) };
}

/** The pool for a device: the CPU's by featurePoolSize; a GPU wants one session and large batches, so one worker
 *  (its threads only feed the GPU). */
export function devicePoolSize(
  device: OrtDevice,
  executor: "onnx" | "tfjs",
  threads: number,
): { workers: number; threadsPerWorker: number } {
  return device === "cpu" ? featurePoolSize(executor, threads) : { workers: 1, threadsPerWorker: threads };
}

function whole(field: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) {
    throw new FeatureError("EPHYS_BAD_FEATURE_REQUEST", `${field}: got ${v}, expected a whole number ≥ 1`);
  }
  return v;
}

/**
 * A FeatureExtractor on a pool of workers (or, with one worker, the plain in-thread extractor). The log line
 * (`description`) says how many workers and threads each.
 */
export async function createFeaturePool(options: FeaturePoolOptions): Promise<FeatureExtractor> {
  const threads = whole("threads", options.threads ?? availableParallelism());
  const executor = options.executor ?? "auto";
  const runsOnnx = executor === "onnx" || (executor === "auto" && (await onnxAvailable()));
  // A GPU wants one session and large batches: one worker (the device decided here, once, for every worker).
  const device = runsOnnx ? (await resolveDevice(options.device ?? "auto")).device : "cpu";
  const sized = devicePoolSize(device, runsOnnx ? "onnx" : "tfjs", threads);
  const workers = whole("workers", options.workers ?? sized.workers);
  const threadsPerWorker =
    options.workers === undefined ? sized.threadsPerWorker : Math.max(1, Math.floor(threads / workers));
  const { workers: _, ...extractorOptions } = { ...options, ...(runsOnnx ? { device } : {}) };
  if (workers === 1) return createFeatureExtractor({ ...extractorOptions, threads });

  const pool = await WorkerPool.start<FeatureTask, FeatureMaps, FeatureWorkerInfo>(
    new URL("./feature-worker.ts", import.meta.url),
    (): FeatureWorkerInit => ({ options: { ...extractorOptions, threads: threadsPerWorker } }),
    workers,
    "feature",
  );
  const info = pool.infos[0];
  const imageSize = options.imageSize ?? 224;
  const { layer } = options;
  return {
    arch: options.arch,
    variant: options.variant,
    layer,
    imageSize,
    weightsSha256: info.weightsSha256,
    weightsSource: info.weightsSource,
    executorName: info.executorName,
    network: info.network,
    description: `${workers} workers × ${info.description}`,
    featureShape: (size) => tapFeatureShape(info.network, layer, size),
    async extract(rgb, n, size) {
      const per = size * size * 3;
      if (!Number.isInteger(n) || n < 1 || rgb.length !== n * per) {
        throw new FeatureError(
          "EPHYS_BAD_FEATURE_REQUEST",
          `rgb: got ${rgb.length} values for n = ${n} images of ${size}×${size}; expected n·size·size·3`,
        );
      }
      const bounds = partBounds(n, workers);
      const results = await Promise.all(
        bounds.slice(0, -1).map((from, i) => {
          const part = rgb.slice(from * per, bounds[i + 1] * per); // a copy of its own: moved to the worker
          return pool.run({ rgb: part, n: bounds[i + 1] - from, size }, [part.buffer as ArrayBuffer]);
        }),
      );
      const { h, w, c } = results[0];
      const data = new Float32Array(n * h * w * c);
      for (const [i, r] of results.entries()) data.set(r.data, bounds[i] * h * w * c);
      return { n, h, w, c, data };
    },
    dispose: () => pool.close(),
  };
}
