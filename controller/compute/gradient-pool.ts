// Input gradients on a pool of worker threads, one gradient engine per worker (gradient-worker.ts), behind the
// same GradientBackbone interface as the single engine: a batch of k cotangents (or k readout rows) is cut into
// one contiguous part per worker (with its images when there is one image per cotangent) and the parts'
// gradients are put back in order. Each cotangent's gradient comes from the same network and kernels whatever
// the part it lands in, so the pool gives the single engine's values (tested bitwise against an engine with the
// workers' intra-op threads, on ONNX Runtime and tfjs wasm: test/controller/gradient-pool.test.ts).
//
// Sizing as the feature pool (featurePoolSize): ONNX Runtime workers split the thread budget, tfjs gets one
// worker per thread (wasm, cpu; tfjs-node runs its own threads and gets none). One worker means no pool: the
// engine runs in this thread.

import { availableParallelism } from "node:os";
import { BackboneError } from "../../analysis/backbone/errors.ts";
import {
  checkCotangents,
  chooseGradientEngine,
  type GradientBackbone,
  type GradientBackboneOptions,
  type ImageBatch,
} from "../../analysis/backbone/gradient-engine.ts";
import { checkDims } from "../../analysis/backbone/onnx-executor.ts";
import { tapShape } from "../../analysis/backbone/onnx-vjp-graph.ts";
import { resolveDevice } from "../../analysis/backbone/ort-device.ts";
import { type BackboneSource, loadGradientBackbone } from "../../analysis/saliency/index.ts";
import { devicePoolSize } from "./feature-pool.ts";
import type {
  GradientResult,
  GradientTask,
  GradientWorkerInfo,
  GradientWorkerInit,
} from "./gradient-worker.ts";
import { partBounds, WorkerPool } from "./worker-pool.ts";

export interface GradientPoolOptions extends GradientBackboneOptions {
  /** Worker threads, each with its own engine; default: featurePoolSize() of the thread budget. 1 = no pool. */
  workers?: number;
}

/** A GradientBackbone whose dispose is also awaitable (close). */
export interface GradientPool extends GradientBackbone {
  readonly workers: number;
  close(): Promise<void>;
}

function whole(field: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) {
    throw new BackboneError("EPHYS_BAD_BACKBONE", `${field}: got ${v}, expected a whole number ≥ 1`);
  }
  return v;
}

/** Images from..to of a batch (a copy: moved to the worker), or the one image every part shares. */
function imagePart(images: ImageBatch, from: number, to: number): ImageBatch {
  if (images.n === 1) return images;
  const per = images.height * images.width * 3;
  return { ...images, n: to - from, data: images.data.slice(from * per, to * per) };
}

function concat(results: GradientResult[]): Float32Array {
  const out = new Float32Array(results.reduce((s, r) => s + r.data.length, 0));
  let at = 0;
  for (const r of results) {
    out.set(r.data, at);
    at += r.data.length;
  }
  return out;
}

/**
 * The gradient engine `options.engine` picks, on `workers` worker threads (or, with one worker, the plain engine
 * in this thread). Each worker loads the backbone from `source` itself.
 */
export async function createGradientPool(
  source: BackboneSource,
  options: GradientPoolOptions = {},
): Promise<GradientPool> {
  const threads = whole("threads", options.threads ?? availableParallelism());
  const decision = await chooseGradientEngine(options.engine ?? "auto");
  // tfjs-node (tensorflow, tensorflow-gpu, or "auto" which tries them first) runs its own threads: no pool
  const native = decision.engine === "tfjs" && !["wasm", "cpu"].includes(options.tfjsBackend ?? "auto");
  // A GPU (compute.device) wants one session and large batches: one worker, decided here once for every worker.
  const device = decision.engine === "onnx" ? (await resolveDevice(options.device ?? "auto")).device : "cpu";
  const sized = native
    ? { workers: 1, threadsPerWorker: threads }
    : devicePoolSize(device, decision.engine, threads);
  const workers = whole("workers", options.workers ?? sized.workers);
  const threadsPerWorker =
    options.workers === undefined ? sized.threadsPerWorker : Math.max(1, Math.floor(threads / workers));
  const { workers: _, ...engineOptions } = {
    ...options,
    ...(decision.engine === "onnx" ? { device } : {}),
  };
  if (workers === 1) {
    const bb = await loadGradientBackbone(source, { ...engineOptions, threads });
    return Object.assign(bb, { workers: 1, close: async () => bb.dispose() });
  }

  const pool = await WorkerPool.start<GradientTask, GradientResult, GradientWorkerInfo>(
    new URL("./gradient-worker.ts", import.meta.url),
    (): GradientWorkerInit => ({ source, options: { ...engineOptions, threads: threadsPerWorker } }),
    workers,
    "gradient",
  );
  const info = pool.infos[0];
  const desc = info.description;
  const run = (task: GradientTask, transfer: ArrayBuffer[]) => pool.run(task, transfer);
  const close = () => pool.close();
  return {
    description: desc,
    engine: info.engine,
    summary: `${workers} workers × ${info.summary}`,
    // one chunk keeps every worker busy with its engine's own chunk
    chunkSize: workers * info.chunkSize,
    workers,
    async features(tap, images) {
      checkDims(images.n, images.height, images.width, images.data.length);
      const bounds = partBounds(images.n, workers);
      const results = await Promise.all(
        bounds.slice(0, -1).map((from, i) => {
          const part = imagePart(images, from, bounds[i + 1]);
          const transfer = images.n === 1 ? [] : [part.data.buffer as ArrayBuffer];
          return run({ op: "features", tap, images: part }, transfer);
        }),
      );
      const [, h, w, c] = results[0].shape!;
      return { data: concat(results), shape: [images.n, h, w, c] };
    },
    async inputGradients(tap, images, cotangents, k) {
      const [h, w, c] = checkCotangents(desc, tap, images, cotangents, k);
      const per = h * w * c;
      const bounds = partBounds(k, workers);
      const results = await Promise.all(
        bounds.slice(0, -1).map((from, i) => {
          const to = bounds[i + 1];
          const part = imagePart(images, from, to);
          const cot = cotangents.slice(from * per, to * per);
          const transfer = [cot.buffer as ArrayBuffer];
          if (images.n !== 1) transfer.push(part.data.buffer as ArrayBuffer);
          return run({ op: "input", tap, images: part, cotangents: cot, k: to - from }, transfer);
        }),
      );
      return concat(results);
    },
    async readoutGradients(tap, images, location, readout, k) {
      checkDims(images.n, images.height, images.width, images.data.length);
      const [, , c] = tapShape(desc, tap, images.height, images.width);
      if (!Number.isInteger(k) || k < 1 || (images.n !== k && images.n !== 1) || readout.length !== k * c) {
        throw new BackboneError(
          "EPHYS_BAD_COTANGENT",
          `readout: got ${readout.length} weights for k = ${k} rows and ${images.n} image(s); ` +
            `expected k·C = ${k}·${c} and k = ${images.n} or one image`,
        );
      }
      const bounds = partBounds(k, workers);
      const results = await Promise.all(
        bounds.slice(0, -1).map((from, i) => {
          const to = bounds[i + 1];
          const part = imagePart(images, from, to);
          // float64 holds any row value exactly: the engine converts it as it would the caller's array
          const rows = Float64Array.from({ length: (to - from) * c }, (_, j) => readout[from * c + j]);
          const transfer = [rows.buffer as ArrayBuffer];
          if (images.n !== 1) transfer.push(part.data.buffer as ArrayBuffer);
          return run({ op: "readout", tap, images: part, location, readout: rows, k: to - from }, transfer);
        }),
      );
      return concat(results);
    },
    dispose: () => {
      void close();
    },
    close,
  };
}
