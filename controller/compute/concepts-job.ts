// The concepts job (AlignedCut concept maps across a session's channels): what the daemon or the command hands the
// worker (controller/session/concepts-worker.ts), the messages it sends back, and how it is started. Files go to
// <dataDir>/sessions/<sessionId>/concepts/ (see CONCEPT_FILES).
import type { ConceptProgress } from "../../analysis/concepts/index.ts";
import type { BackboneSpec } from "./compute-jobs.ts";
import { runMessageJob } from "./worker-job.ts";

/** The files of a concepts folder, relative to it. */
export const CONCEPT_FILES = {
  montage: "concept-maps.png",
  maps: "maps",
  clusters: "clusters.json",
  concepts: "concepts.csv",
  channels: "channels.csv",
} as const;

export interface ConceptSettings {
  k: number;
  gamma: number | "auto";
  m: number;
  knn: number;
  concepts: number;
  reduce: "umap" | "pca";
  seed: number;
}

export interface ConceptJob {
  backbone: BackboneSpec;
  featureRoot: string;
  images: Array<{ id: string; path: string; sha256: string }>;
  readouts: Array<{ channelId: string; weights: number[]; bias: number }>;
  settings: ConceptSettings;
  outDir: string;
  /** Images shown in the montage (the first ones of `images`). */
  montageImages: number;
}

/** What clusters.json holds (and the artifact's meta, less the tables). */
export interface ConceptSummary {
  images: number;
  nodes: number;
  grid: [number, number];
  channels: number;
  settings: Record<string, unknown>;
  eigenvalues: number[];
  seconds: Record<string, number>;
  imageIds: string[];
  concepts: Array<{
    id: number;
    nodes: number;
    fraction: number;
    color: [number, number, number];
    topImages: Array<{ imageId: string; share: number }>;
    channels: string[];
  }>;
  channelTable: Array<{
    channelId: string;
    dominant: number;
    distribution: number[];
    lift: number[];
    topImageIds: string[];
  }>;
  channelClusters: Array<{ concept: number; channels: string[] }>;
}

export type ConceptMessage =
  | ({ type: "progress" } & ConceptProgress)
  | { type: "features"; done: number; total: number }
  | { type: "done"; summary: ConceptSummary }
  | { type: "error"; message: string; code?: string };

/** Run a concepts job in a worker thread (cancellable through `signal`). */
export function runConceptJob(
  job: ConceptJob,
  onProgress: (m: Extract<ConceptMessage, { type: "progress" | "features" }>) => void,
  signal?: AbortSignal,
): Promise<ConceptSummary> {
  return runMessageJob<ConceptMessage, ConceptSummary>(
    new URL("./concepts-worker.ts", import.meta.url),
    job,
    onProgress,
    signal,
    "concepts worker",
    (done) => done.summary,
  );
}
