// The shapes of the session database's rows as the store's methods take and return them (the tables themselves:
// migrations.ts).
import type { EyeSummary } from "../../analysis/eye/index.ts";
import type { PackedTrial } from "./packed.ts";

export interface TrialOnsetRecord {
  trialId: number;
  seq: number;
  source: "photodiode" | "event";
  sample: number;
  sampleRate: number;
  photodiodeMinusEventMs: number | null;
}

export interface SessionRow {
  id: string;
  created_at: string;
  protocol_name: string;
  protocol_path: string;
  protocol_text: string;
  protocol_sha256: string;
  code_version: string;
  software: string;
  seed: number;
  rig: string | null;
  subject: string | null;
  /** The probe (model, serial), its depth in µm and the brain region recorded (schema version 8). */
  probe: string | null;
  depth_um: number | null;
  region: string | null;
  weights_sha256: string | null;
  state: string;
  snapshot: string | null;
  failed_reason: string | null;
  /** Who or what aborted the day (the operator, a virtual-rig part); null unless it was aborted. */
  aborted_by: string | null;
  started_at: string | null;
  ended_at: string | null;
}

/** What a session records from, stored with it (provenance; `serve --subject --rig --probe --depth-um --region`). */
export interface SessionMetadata {
  subject?: string;
  rig?: string;
  /** The probe, e.g. "Neuropixels 1.0 #18194823132". */
  probe?: string;
  /** The probe's depth, µm (as the lab measures it, e.g. from the dura). */
  depthUm?: number;
  /** The brain region recorded, e.g. "MSB body patch, left hemisphere". */
  region?: string;
}

export interface NewSession extends SessionMetadata {
  id: string;
  protocolName: string;
  protocolPath: string;
  protocolText: string;
  protocolSha256: string;
  codeVersion: string;
  software: Record<string, string>;
  seed: number;
}

export interface StimulusRecord {
  id: string;
  setId: string;
  category: string;
  role: string;
  path: string;
  sha256: string;
}

export interface ChannelRecord {
  id: string;
  probe: string;
  index: number;
}

export interface TrialRecord {
  trialId: number;
  phase: 1 | 2 | 3;
  block: number;
  stimulusId: string;
  eventCode: number;
  status: "pending" | "shown" | "voided";
  onsetMs?: number;
  offsetMs?: number;
  droppedFrames?: number;
  /** Photodiode on and off on the daemon's clock (rig box version 2); absent when not measured. */
  pdOnsetMs?: number;
  pdOffsetMs?: number;
  /** The eye during the presentation (rig box version 2 EYE stream); absent without samples. */
  eye?: EyeSummary;
}

/** One acquisition message's data: per channel, counts per window and optionally the raw spike times. */
export interface TrialSpikeData {
  seq: number;
  trialId: number;
  channels: Array<{ channelId: string; counts: Record<string, number>; spikes?: ArrayLike<number> }>;
}

/**
 * What storing one acquisition message did: `stored` (new seq; `part` is what was written — the message minus
 * channels that an earlier message of the same trial already brought, null when nothing was left; `keep` the
 * indices of the written channels in the message, null for all), `duplicate` (seq stored before with the same
 * data: nothing written) or `conflict` (seq stored before with other data: nothing written, the stored data stay).
 */
export type IngestOutcome =
  | { outcome: "stored"; part: PackedTrial | null; keep: number[] | null }
  | { outcome: "duplicate" }
  | { outcome: "conflict"; storedTrialId: number };

/** One stored trial_data row, decoded (views into the row's blobs). */
export interface StoredTrialPart {
  trialId: number;
  /** The message that brought it; null for data migrated from schema version 2. */
  seq: number | null;
  channelIds: string[];
  windows: string[];
  counts: Uint32Array;
  offsets: Uint32Array | null;
  spikes: Float64Array | null;
}

/** Where a paged read of trial data stands: the last row returned (see SessionStore.trialDataPage). */
export interface TrialDataCursor {
  trialId: number;
  rowId: number;
}

/** A trial_data row as SQLite returns it. */
export interface TrialDataRow {
  trial_id: number;
  seq: number | null;
  channel_set: number;
  windows: string;
  counts: Buffer;
  offsets: Buffer | null;
  spikes: Buffer | null;
}

/** One channel check as saveChecks stores it and checkResults reads it back. */
export interface CheckResultRecord {
  channelId: string;
  name: string;
  value: number | null;
  threshold: number | null;
  passed: boolean;
  details: unknown;
}

export interface EventRecord {
  id: number;
  session_id: string | null;
  t: number;
  type: string;
  subtype: string;
  content: string;
}

export interface CountRow {
  trial_id: number;
  channel_id: string;
  stimulus_id: string;
  phase: number;
  counts: Record<string, number>;
}
