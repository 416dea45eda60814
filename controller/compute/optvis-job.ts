// The optvis job: feature visualization of a session's channels (the inception-loop idea) in a worker thread
// (optvis-worker.ts) — for each channel with a fitted readout, images synthesized on its model (analysis/optvis).
// Files go to <dataDir>/sessions/<sessionId>/optvis/<run>/<channel>/ — synth-1.png (the highest predicted), synth-2.png,
// … and optvis.json with every parameter (seed, steps, learning rate, penalties, parameterization, transforms,
// objective, engine, backbone) and the predictions — and each channel's folder is stored as an artifact of kind
// "optvis". With the protocol's selection.synthesized > 0 the top images also become phase-2 stimuli (role
// "synthesized"; controller/day/steps/synthesize.ts).
import type { RenderProgress, SynthesisSettings } from "../../analysis/optvis/index.ts";
import type { GaussianReadoutJSON } from "../../analysis/readout/index.ts";
import type { BackboneSpec } from "./compute-jobs.ts";
import { runMessageJob } from "./worker-job.ts";

export const OPTVIS_FILES = { summary: "optvis.json", image: (rank: number) => `synth-${rank}.png` } as const;

export interface OptvisChannelJob {
  channelId: string;
  readout: GaussianReadoutJSON;
  outDir: string;
}

export interface OptvisJob {
  backbone: BackboneSpec;
  settings: SynthesisSettings;
  channels: OptvisChannelJob[];
}

/** One synthesized image of a channel, as written. */
export interface OptvisImage {
  /** 1 = the highest predicted response. */
  rank: number;
  file: string;
  /** The channel model's prediction for the saved 8-bit image (response units, spikes/s). */
  predicted: number;
  /** Position in the optimized batch. */
  index: number;
}

/** What optvis.json holds. */
export interface OptvisSummary {
  channelId: string;
  images: OptvisImage[];
  /** The optimized objective and the channel model alone, as descriptions. */
  objective: string;
  model: string;
  settings: SynthesisSettings;
  transforms: string;
  parameterization: Record<string, unknown>;
  optimizer: string;
  inputSize: { height: number; width: number } | null;
  /** The gradient engine that ran (e.g. "onnx on cpu (onnxruntime-node …)" or "tfjs-wasm"). */
  engine: string;
  backbone: { arch: string; variant: string; layer: string; imageSize: number; weights: string };
  readout: { location: [number, number]; bias: number; nonzeroWeights: number };
  /** Objective (batch sum) at the first and last step, and per step every `traceEvery` steps. */
  trace: { every: number; values: number[] };
  /** Objective per image before and after the optimization (no transforms). */
  initial: number[];
  final: number[];
  seconds: number;
}

/** What the artifact's meta holds (the report prints it). */
export interface OptvisArtifactMeta {
  objective: string;
  engine: string;
  steps: number;
  seed: number;
  images: Array<{ rank: number; file: string; predicted: number; stimulusId?: string }>;
  seconds: number;
}

export type OptvisMessage =
  | { type: "engine"; summary: string }
  | { type: "progress"; channelId: string; index: number; total: number; progress: RenderProgress }
  | { type: "channel"; channelId: string; dir: string; summary: OptvisSummary }
  | { type: "done" }
  | { type: "error"; message: string; code?: string };

/** Run an optvis job in a worker thread (cancellable through `signal`). */
export function runOptvisJob(
  job: OptvisJob,
  onMessage: (m: Exclude<OptvisMessage, { type: "done" | "error" }>) => void,
  signal?: AbortSignal,
): Promise<void> {
  return runMessageJob<OptvisMessage>(
    new URL("./optvis-worker.ts", import.meta.url),
    job,
    onMessage,
    signal,
    "optvis worker",
  );
}
