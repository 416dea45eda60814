// What the report is assembled from: the session's stored rows, as plain data (the controller reads the store, the
// feature cache and the artifact files into this shape; assemble.ts turns it into ReportData without any I/O).

import type { FeatureMaps } from "../readout/index.ts";
import type { TruthComparison } from "../simulation-truth.ts";
import type { RateTable } from "../stats/index.ts";
import type { QaTrial } from "./rig-qa.ts";
import type {
  ReportCausal,
  ReportChannel,
  ReportImage,
  ReportPsth,
  ReportRigQa,
  ReportSharedFeature,
} from "./types.ts";

/** The session row, as stored. */
export interface SessionFacts {
  id: string;
  createdAt: string;
  protocolName: string;
  protocolPath: string;
  protocolText: string;
  protocolSha256: string;
  codeVersion: string;
  /** The stored software versions (JSON text; a note says so when it is not JSON). */
  softwareJson: string;
  seed: number;
  rig: string | null;
  subject: string | null;
  probe: string | null;
  depthUm: number | null;
  region: string | null;
  weightsSha256: string | null;
  state: string;
  failedReason: string | null;
  abortedBy: string | null;
  startedAt: string | null;
  endedAt: string | null;
}

/** How the day ended, as the day machine tells the report step (absent for a report written later). */
export interface OutcomeFacts {
  outcome: "done" | "failed" | "aborted";
  reason: string | null;
  /** When the day ended (its report step began), used where the store has no end time yet. */
  endedAt?: string;
}

/** The protocol's settings the report needs (null when the stored protocol text could not be parsed). */
export interface ProtocolFacts {
  /** Stimulus duration, ms (presentation.stimulusMs). */
  stimulusMs: number;
  /** The protocol's simulation.timeScale (simulated days, `npm start`, run its durations scaled); null without. */
  simulationTimeScale: number | null;
  /** The counting windows (ms from onset) and the PSTH bin width. */
  windows: { baseline: { startMs: number; endMs: number }; response: { startMs: number; endMs: number } };
  psthBinMs: number;
  model: { backbone: string; variant: string; layer: string; imageSize: number };
  /** The weights the backbone ran with: the configured file (and its variant) or the embedded ones. */
  weights: { path: string | null; variant: string };
  /** Object prediction r a channel needs for shared-feature panels (visualization.minObjectR). */
  minObjectR: number;
}

export interface SourceEvent {
  t: number;
  type: string;
  subtype: string;
  content: string;
}

export interface SourceTrial extends QaTrial {
  trialId: number;
  block: number;
  stimulusId: string;
  droppedFrames?: number;
}

export interface SourceStimulus {
  id: string;
  setId: string;
  category: string;
  role: string;
  path: string;
}

export interface SourceSelection {
  channelId: string;
  stimulusId: string;
  rule: string;
  score: number | null;
}

/** An image file of an artifact folder, read. */
export interface NamedImage {
  name: string;
  image: ReportImage;
}

export interface SourceArtifact {
  kind: string;
  channelId: string | null;
  path: string | null;
  meta: unknown;
  /** The artifact's image files (the file itself, or a folder's images sorted by name). */
  images: NamedImage[];
}

export interface ReportSource {
  /** ISO time stamp of the report. */
  now: string;
  session: SessionFacts;
  outcome?: OutcomeFacts;
  protocol: ProtocolFacts | null;
  /** Remarks of the reader (e.g. the stored protocol text could not be parsed). */
  notes: string[];
  events: SourceEvent[];
  channels: ReportChannel[];
  trials: SourceTrial[];
  /** Trials with spike data for every channel. */
  trialsWithData: Set<number>;
  calibrations: ReportRigQa["calibrations"];
  stimuli: SourceStimulus[];
  models: Array<{ channelId: string; kind: string; params: unknown; metrics: unknown }>;
  splits: Record<string, "train" | "validation" | "test">;
  selections: SourceSelection[];
  checks: Array<{
    channelId: string;
    name: string;
    value: number | null;
    threshold: number | null;
    passed: boolean;
    details: unknown;
  }>;
  decisions: Array<{ channelId: string; included: boolean; reason: string }>;
  /** Phase-1 and phase-2 per-trial net rates (empty without a protocol). */
  rates1: RateTable;
  rates2: RateTable;
  /** Small images of the phase-2 selection's stimuli, by stimulus id (absent where the file could not be read). */
  thumbnails: Map<string, ReportImage>;
  /** PSTHs and rasters from the stored spike times (psth.ts accumulates them while the reader pages the rows). */
  psth: ReportPsth | null;
  /**
   * The backbone features of the phase-2 objects from the feature cache, in the order of `ids`; null when any of
   * them is not cached (the predictions stored with the selection are shown instead).
   */
  objectFeatures: { ids: string[]; maps: FeatureMaps } | null;
  /** Artifacts with their images: optional analyses (report, nwb, saliency … left out by the reader). */
  artifacts: SourceArtifact[];
  /**
   * The shared-feature panels, drawn by the reader from the saliency artifacts' maps on one intensity scale (`scale`,
   * null when no maps could be read); see controller/day/steps/report-shared-features.ts.
   */
  sharedFeatures: { panels: ReportSharedFeature[]; scale: number | null };
  /** A simulated day: each fitted model against the simulated neuron it should have found; null otherwise. */
  truth: TruthComparison | null;
  /** Phase 3's causal test with the fragments' images (controller/day/steps/report-causal.ts); null without. */
  causal?: ReportCausal | null;
  /** The newest "concepts" artifact: its meta, clusters.json's text (or why it could not be read), the montage. */
  concepts: {
    meta: unknown;
    path: string;
    summary: { text: string } | { error: string };
    montage: ReportImage | null;
  } | null;
}
