// Job module of the gradient pool (gradient-pool.ts): one worker thread = one gradient engine (its own ONNX
// Runtime VJP session with its share of the threads, or its own tfjs backend); a task is one part of a batch.
import type { NetworkDescription } from "../../analysis/backbone/description.ts";
import type { GradientBackboneOptions, ImageBatch } from "../../analysis/backbone/gradient-engine.ts";
import { type BackboneSource, loadGradientBackbone } from "../../analysis/saliency/index.ts";
import { movable, servePool } from "./worker-pool.ts";

export interface GradientWorkerInit {
  source: BackboneSource;
  options: GradientBackboneOptions;
}

/** One GradientBackbone call on this worker's engine, with its part of the images/cotangents/readout rows. */
export type GradientTask =
  | { op: "features"; tap: string; images: ImageBatch }
  | { op: "input"; tap: string; images: ImageBatch; cotangents: Float32Array; k: number }
  | {
      op: "readout";
      tap: string;
      images: ImageBatch;
      location: [number, number];
      readout: Float64Array;
      k: number;
    };

export interface GradientResult {
  data: Float32Array;
  /** The features' NHWC shape (op "features" only). */
  shape?: [number, number, number, number];
}

export interface GradientWorkerInfo {
  description: NetworkDescription;
  engine: string;
  summary: string;
  chunkSize: number;
}

servePool<GradientWorkerInit, GradientTask, GradientResult>(async ({ source, options }) => {
  const bb = await loadGradientBackbone(source, options);
  const info: GradientWorkerInfo = {
    description: bb.description,
    engine: bb.engine,
    summary: bb.summary,
    chunkSize: bb.chunkSize,
  };
  const moved = (values: Float32Array, shape?: GradientResult["shape"]) => {
    const { data, transfer } = movable(values);
    return { result: { data, ...(shape ? { shape } : {}) }, transfer };
  };
  return {
    info,
    job: {
      async run(task) {
        if (task.op === "features") {
          const f = await bb.features(task.tap, task.images);
          return moved(f.data, f.shape);
        }
        if (task.op === "input") {
          return moved(await bb.inputGradients(task.tap, task.images, task.cotangents, task.k));
        }
        return moved(await bb.readoutGradients(task.tap, task.images, task.location, task.readout, task.k));
      },
      dispose: async () => bb.dispose(),
    },
  };
});
