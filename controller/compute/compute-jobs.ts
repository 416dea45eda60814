// The jobs the compute worker runs, and the way the daemon starts one (a worker thread per job, cancellable).

import type { GaussianReadoutJSON } from "../../analysis/readout/index.ts";
import type { Phase2Selection, SelectionCounts } from "../../analysis/selection/index.ts";
import { runWorkerJob, workerError } from "./worker-job.ts";

export interface BackboneSpec {
  arch: "resnet18" | "resnet50";
  variant: "torchvision" | "keras";
  layer: string;
  imageSize: number;
  weightsPath?: string;
  /** #25 provenance: config weights.kind, echoed in the "weights" progress message (default "standard"). */
  weightsKind?: "standard" | "robust";
  executor: "auto" | "onnx" | "tfjs";
  tfjsBackend: "auto" | "tensorflow-gpu" | "tensorflow" | "wasm" | "cpu";
  threads?: number;
  /** Where ONNX Runtime runs (config compute.device); absent = "auto". */
  device?: "auto" | "cpu" | "cuda" | "webgpu";
}

type Image = { id: string; path: string; sha256: string };

export type ComputeJob =
  | {
      kind: "fit";
      backbone: BackboneSpec;
      featureRoot: string;
      images: Image[];
      channels: Array<{ channelId: string; responses: number[] }>;
      split: { train: number[]; validation: number[]; test: number[] };
      penalty: { kind: "l1/2" | "l1"; weight: number };
      learningRate: number;
      /** Where the fit starts (protocol model.init). */
      init?: "scan" | "ridge";
      epochs: number;
      seed: number;
      /** Silhouette augmentation: extra training images, each with the targets of its source's row in `images`. */
      extraTraining?: { images: Image[]; targetRows: number[] };
    }
  | {
      /** Features of every image into the cache (the preparing step), nothing returned. */
      kind: "features";
      backbone: BackboneSpec;
      featureRoot: string;
      images: Image[];
    }
  | {
      kind: "select";
      backbone: BackboneSpec;
      featureRoot: string;
      phase1: Image[];
      objects: Image[];
      controls: Image[];
      readouts: GaussianReadoutJSON[];
      responses: Record<string, number[]>;
      counts: SelectionCounts;
      seed: number;
    };

export type ComputeMessage =
  | { type: "progress"; stage: string; [k: string]: unknown }
  | {
      type: "result";
      readouts?: GaussianReadoutJSON[];
      selection?: Phase2Selection;
      features?: { images: number; cached: number; computed: number };
    }
  | { type: "error"; message: string; code?: string };

/** Run a compute job in a worker thread (cancellable through `signal`; at that nice value, see ts-worker.mjs). */
export function runComputeJob(
  job: ComputeJob,
  onProgress: (m: Extract<ComputeMessage, { type: "progress" }>) => void,
  signal?: AbortSignal,
  nice?: number,
): Promise<Extract<ComputeMessage, { type: "result" }>> {
  return runWorkerJob<ComputeMessage, Extract<ComputeMessage, { type: "result" }>>(
    new URL("./compute-worker.ts", import.meta.url),
    nice === undefined ? job : { ...job, __nice: nice },
    (m, outcome) => {
      if (m.type === "progress") onProgress(m);
      else if (m.type === "result") outcome.resolve(m);
      else outcome.reject(workerError(m));
    },
    signal,
    "compute worker",
  );
}
