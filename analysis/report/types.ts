import type { TruthComparison } from "../simulation-truth.ts";

// What the report is built from: a plain object of stored results that the controller assembles (no store access
// here). Every field that may be missing in a real session (an aborted day, a failed step) is optional or nullable,
// and the report says why it is missing.

/** An image to embed (read by the caller; embedded as a data: URI). */
export interface ReportImage {
  mime: "image/png" | "image/jpeg" | "image/webp" | "image/svg+xml";
  bytes: Uint8Array;
  caption?: string;
}

export interface ReportSession {
  id: string;
  protocolName: string;
  protocolPath: string;
  protocolSha256: string;
  /** The protocol file's text exactly as stored with the session. */
  protocolText: string;
  codeVersion: string;
  /** Package name → version, as stored with the session. */
  software: Record<string, string>;
  seed: number;
  rig: string | null;
  subject: string | null;
  /** The probe, its depth (µm) and the region recorded, as given to `serve` (null: not given). */
  probe?: string | null;
  depthUm?: number | null;
  region?: string | null;
  backbone: {
    arch: string;
    variant: string;
    layer: string;
    imageSize: number;
    weightsPath: string | null;
  } | null;
  weightsSha256: string | null;
  /**
   * The backbone weights that ran (weights.ts: from the session's backbone/loaded records), in the order first
   * loaded; more than one when a resumed day ran with other weights. Absent or empty: none recorded.
   */
  weights?: ReportWeights[];
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  /** Final (done, failed, aborted) or current machine state, e.g. "phase1.running". */
  state: string;
  failedReason: string | null;
  /** Who aborted the day (operator, API, …) when state is "aborted". */
  abortedBy: string | null;
  /** The states the day went through, in order (from the event log). */
  stateHistory: Array<{ state: string; at: string }>;
}

/** Weights a compute step loaded: the file, its sha256 and the kind the lab declared (config weights.kind). */
export interface ReportWeights {
  /** The .safetensors or model.json path, or "embedded Keras ResNet-50". */
  source: string;
  sha256: string;
  /** "standard" or "robust" (adversarially trained); null when the record does not say (older sessions). */
  kind: "standard" | "robust" | null;
}

export interface ReportPhaseTrials {
  phase: 1 | 2 | 3;
  shown: number;
  voided: number;
  pending: number;
  /** Presentations with spike data for every channel. */
  withData: number;
  /** Void reasons → count (fixation break, restart, …). */
  voidReasons: Record<string, number>;
}

export interface ReportChannel {
  id: string;
  probe: string;
  index: number;
}

export interface ReportCheck {
  channelId: string;
  name: string;
  value: number | null;
  threshold: number | null;
  passed: boolean;
  details: Record<string, unknown>;
}

export interface ReportDecision {
  channelId: string;
  included: boolean;
  reason: string;
}

export interface ReportModel {
  channelId: string;
  kind: string;
  /** Pearson r of predicted vs recorded responses over the held-out (test) bodies; null when not computable. */
  testR: number | null;
  /** Number of held-out bodies behind testR. */
  nTest: number;
  bestEpoch: number | null;
  valLossCurve: number[];
  /** Pearson r of the model's predictions with the phase-2 object responses (visualize step), and over how many. */
  objectR?: number | null;
  objectN?: number;
}

/** A channel's model predictions vs its phase-2 recorded responses to objects. */
export interface ReportObjectPredictions {
  channelId: string;
  /** Where the predictions come from, in words (printed under the figure). */
  source: string;
  points: Array<{ stimulusId: string; predicted: number; recorded: number }>;
}

/** Fig. 3b: responses to the visualized objects against the mean object and mean body responses. */
export interface ReportResponses {
  channelId: string;
  visualized: Array<{ stimulusId: string; rate: number }>;
  meanObject: number | null;
  meanBody: number | null;
  nObjects: number;
  nBodies: number;
}

/** One channel's shared-feature visualization (parallel-backprop saliency) of an (object, body) pair. */
export interface ReportSharedFeature {
  channelId: string;
  objectId: string;
  bodyId: string;
  /** Neuron-specific similarity s(x_obj, x_body) (eq. 2); also the bound ‖I‖ ≤ s. */
  s: number | null;
  /** Number of features kept. */
  k: number | null;
  /** β mass of the dropped features: an exact bound on the error of the map. */
  dropped: number | null;
  normOut: number | null;
  normIn: number | null;
  objectImage: ReportImage | null;
  bodyImage: ReportImage | null;
  /** Why an image is absent, or anything else to say about the panel. */
  note?: string;
  /**
   * The fields below come from the maps themselves (out_map.npy, in_map.npy): overlays drawn on one intensity scale
   * for every panel (ReportData.sharedFeatureScale), the plain images beside them, where the readout reads, how the
   * pair responded and what the model predicted, and how much of each map lies on the pictured thing.
   */
  objectPlain?: ReportImage | null;
  bodyPlain?: ReportImage | null;
  /** True when objectImage/bodyImage are drawn on the shared scale (else the stored per-pair overlays). */
  sharedScale?: boolean;
  /** The readout location in the [−1, 1] grid of an h×w feature map, and the image side in pixels. */
  readout?: { location: [number, number]; h: number; w: number; imageSize: number } | null;
  /** Pearson r of the model with the phase-2 objects (what let the channel be visualized), and its n. */
  objectR?: number | null;
  objectN?: number;
  /** Held-out body r of the model. */
  testR?: number | null;
  /** Recorded mean net rate (object: phase 2, body: phase 1), the model's prediction, and its rank among n. */
  objectRate?: PairRate | null;
  bodyRate?: PairRate | null;
  /** Features with the largest |β| (index into the backbone tap's channels). */
  topFeatures?: Array<{ index: number; beta: number }>;
  /** Fraction of the map's intensity Σ_c|I_c| on the image's silhouette, and the silhouette's share of the image. */
  objectMass?: SilhouetteMass | null;
  bodyMass?: SilhouetteMass | null;
}

export interface PairRate {
  recorded: number;
  predicted: number | null;
  /** 1 = the channel's highest recorded rate among `of` stimuli of that kind. */
  rank: number;
  of: number;
}

export interface SilhouetteMass {
  onSilhouette: number;
  silhouetteArea: number;
  /** The same within `haloPx` pixels of the silhouette (the maps are smoothed with σ px: haloPx = 2σ). */
  nearSilhouette?: number;
  nearArea?: number;
  haloPx?: number;
}

/** A section for an optional analysis (feature visualization, concept maps, …) that stored artifacts. */
export interface ReportOptionalAnalysis {
  kind: string;
  title: string;
  items: Array<{
    channelId: string | null;
    meta: Record<string, unknown>;
    images: ReportImage[];
    note?: string;
  }>;
}

/** Concept maps across the day's channels (AlignedCut), from the newest "concepts" artifact. */
export interface ReportConcepts {
  images: number;
  nodes: number;
  channels: number;
  /** k, gamma, m, knn, exact, reduce, … as the analysis stored them. */
  settings: Record<string, unknown>;
  eigenvalues: number[];
  montage: ReportImage | null;
  concepts: Array<{
    id: number;
    fraction: number;
    color: [number, number, number];
    channels: string[];
    topImages: string[];
  }>;
  channelTable: Array<{ channelId: string; dominant: number; distribution: number[] }>;
  note?: string;
}

export interface ReportData {
  /** ISO time the report was generated (passed in so the function stays pure). */
  generatedAt: string;
  session: ReportSession;
  trials: ReportPhaseTrials[];
  channels: ReportChannel[];
  checks: ReportCheck[];
  decisions: ReportDecision[];
  models: ReportModel[];
  objectPredictions: ReportObjectPredictions[];
  responses: ReportResponses[];
  sharedFeatures: ReportSharedFeature[];
  /** The intensity (Σ_c|I_c| per pixel) at the top of the shared colour scale; null when no map was read. */
  sharedFeatureScale?: number | null;
  /** Channels the visualize step passed over, with its reason (e.g. a model that does not predict objects). */
  sharedFeatureSkips?: Array<{ channelId: string; reason: string }>;
  /** Object prediction r needed for a panel (protocol visualization.minObjectR). */
  minObjectR?: number | null;
  /** A simulated day: each fitted model against the simulated neuron (truth-section.ts); absent otherwise. */
  truth?: TruthComparison | null;
  /** Phase 3's causal test of the shared-feature maps (causal-section.ts); absent without a phase 3. */
  causal?: ReportCausal | null;
  optionalAnalyses: ReportOptionalAnalysis[];
  /** Concept maps, when an analysis stored them. */
  concepts?: ReportConcepts | null;
  /** Photodiode timing, fixation and eye calibrations (rig box protocol version 2; see rig-qa.ts). */
  rig?: ReportRigQa | null;
  /** Each channel's phase-2 images with the rule that chose them, and the shared retest images. */
  selection?: ReportSelection | null;
  /** Per channel, the retest images' mean net rates in phase 1 against phase 2 (the stability check's data). */
  retest?: ReportRetest[];
  /** PSTHs and rasters per channel and phase, from the stored spike times. */
  psth?: ReportPsth | null;
  /** One row per channel: the numbers of channels.csv. */
  channelSummary?: ReportChannelSummary[];
  /** Remarks of the assembler (e.g. an artifact folder that could not be read). */
  notes: string[];
}

/** One phase-2 image chosen for a channel. */
export interface ReportSelectedImage {
  stimulusId: string;
  /** top-object, bottom-object, similar-object, top-control, bottom-control, similar-control, synthesized. */
  rule: string;
  /** The predicted net rate (top, bottom, synthesized; spikes/s) or the similarity s (similar-*). */
  score: number | null;
  /** Mean net rate over the image's phase-2 presentations (spikes/s), null when none was recorded. */
  recorded: number | null;
  trials: number;
  thumbnail: ReportImage | null;
}

export interface ReportSelection {
  channels: Array<{ channelId: string; images: ReportSelectedImage[] }>;
  /** The phase-1 images shown again in phase 2 for every channel, with their retest score (mean z over channels). */
  retest: Array<{ stimulusId: string; score: number | null; thumbnail: ReportImage | null }>;
}

/** A channel's retest images: mean net rate in phase 1 and in phase 2 (spikes/s), and Pearson r over them. */
export interface ReportRetest {
  channelId: string;
  points: Array<{ stimulusId: string; phase1: number; phase2: number }>;
  /** r over the points (null below 3 points or for constant rates). */
  r: number | null;
  /** The r stored with the channel's stability check. */
  storedR: number | null;
}

/** Spikes per bin summed over a group's presentations, and a raster of some presentations. */
export interface ReportPsthPhase {
  phase: 1 | 2 | 3;
  /** One curve per stimulus category; rate = counts / (trials × binMs / 1000). */
  groups: Array<{ group: string; trials: number; counts: number[] }>;
  /** Rows of the raster, top to bottom, in presentation order: spike times (ms from onset) within the span. */
  raster: Array<{ row: number; trialId: number; group: string; spikes: number[] }>;
}

export interface ReportPsth {
  binMs: number;
  /** Left edge of the first bin and the end of the span, ms from stimulus onset. */
  startMs: number;
  endMs: number;
  /** The protocol's counting windows, drawn behind the curves. */
  windows: Array<{ name: string; startMs: number; endMs: number }>;
  channels: Array<{ channelId: string; phases: ReportPsthPhase[] }>;
  /** Shown presentations whose data had no spike times (a bridge that sends counts only). */
  withoutSpikes: number;
}

/** A channel's row of channels.csv. */
export interface ReportChannelSummary {
  channel: string;
  probe: string;
  index: number;
  /** null: no decision stored (the checks did not run). */
  included: boolean | null;
  reason: string;
  stabilityR: number | null;
  selectivityP: number | null;
  responsivenessRate: number | null;
  splitHalfR: number | null;
  kruskalWallisP: number | null;
  heldoutBodyR: number | null;
  heldoutBodies: number;
  objectR: number | null;
  objects: number;
  /** The channel has shared-feature panels. */
  visualized: boolean;
}

/** A summary of values: how many, median, 5th and 95th percentile, extremes (rig-qa.ts). */
export interface Distribution {
  n: number;
  median: number;
  p5: number;
  p95: number;
  min: number;
  max: number;
}

export interface ReportRigQa {
  /** Photodiode − display onset (ms) over the shown presentations that have both, and how many lack one. */
  onsetDelta: Distribution | null;
  /** Photodiode duration − display duration (ms): frames the display dropped or added. */
  durationDelta: Distribution | null;
  shownWithoutPhotodiode: number;
  /** Per phase: presentations shown and voided by fixation breaks. */
  fixation: Array<{ phase: 1 | 2 | 3; shown: number; breaks: number }>;
  /** The eye during shown presentations (EYE samples): spread and the distance of its mean from the centre. */
  eyeSpreadDeg: Distribution | null;
  eyeOffsetDeg: Distribution | null;
  calibrations: Array<{ id: number; createdAt: string; points: number; rmsDeg: number; maxDeg: number }>;
  /** The protocol's stimulus duration (ms), against which the display's durations are read; null without it. */
  stimulusMs?: number | null;
  /** The protocol's simulation.timeScale, when it has one (a simulated day shows stimuli for stimulusMs × it). */
  simulationTimeScale?: number | null;
  /** Per phase: the display's timing of the shown presentations and the photodiode's against it. */
  timing?: ReportPhaseTiming[];
  /** Per phase: voided presentations by reason, and whether their image was shown later in the same block. */
  voids?: ReportPhaseVoids[];
}

export interface ReportPhaseTiming {
  phase: 1 | 2 | 3;
  shown: number;
  /** Shown presentations without the display's onset and offset. */
  withoutTiming: number;
  /** Display offset − onset (ms), as the page reported them. */
  displayMs: Distribution | null;
  /** Frames the display reported dropped, summed, and the presentations with any. */
  droppedFrames: number;
  withDrops: number;
  /** Photodiode − display onset (ms) of this phase's presentations that have both. */
  onsetDelta: Distribution | null;
}

export interface ReportPhaseVoids {
  phase: 1 | 2 | 3;
  voided: number;
  byReason: Record<string, number>;
  /** Voided presentations whose image was shown later in the same block (re-queued and re-shown). */
  reshown: number;
  /** Voided presentations whose image was never shown later in the block (e.g. the day ended first). */
  notReshown: number;
}

// Phase 3 (causal-section.ts renders it).
export interface ReportCausalTile {
  stimulusId: string;
  /** "full", "highlighted", "complement" or "random". */
  kind: string;
  n: number;
  image: ReportImage | null;
  /** Mean net rate (spikes/s) over its phase-3 presentations (full: see fullFrom); null when none. */
  recorded: number | null;
  trials: number;
  predicted: number | null;
  /** Share of the image left visible. */
  visible: number | null;
}

export interface ReportCausalParent {
  role: "object" | "body";
  parentId: string;
  /** 0 or absent: an image of the visualized pair; k ≥ 1: the channel's object of recorded rank k. */
  rank?: number;
  verdict: string;
  vsRandomP: number | null;
  vsComplementP: number | null;
  /** (mean highlighted − mean random) / |mean full|. */
  effect: number | null;
  effectComplement: number | null;
  fullFrom: string;
  tiles: ReportCausalTile[];
}

export interface ReportCausal {
  alpha: number;
  test: string;
  settings: { areaFraction: number; basis: string; softnessPx: number; randomCount: number } | null;
  channels: Array<{ channelId: string; parents: ReportCausalParent[] }>;
  across: Record<"object" | "body", { statistic: number; p: number; n: number; method: string } | null>;
}
