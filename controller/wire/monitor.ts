// /monitor wire contract: dashboards subscribe with hello; the server pushes state, progress, channel stats, alerts
// and every event record as it happens. A dashboard may then ask for one channel's details with `focus`.
import { z } from "zod";

export const MONITOR_VERSION = 1;

export const monitorHello = z.strictObject({
  type: z.literal("hello"),
  role: z.literal("monitor"),
  version: z.number().int(),
  token: z.string(),
});
/** After the hello: the channel whose details (PSTH, responses, stability history) this client wants; null = none. */
export const monitorFocus = z.strictObject({
  type: z.literal("focus"),
  channelId: z.string().min(1).max(64).nullable(),
});
export const monitorClientMessage = z.discriminatedUnion("type", [monitorHello, monitorFocus]);
export type MonitorClientMessage = z.infer<typeof monitorClientMessage>;

/** A channel's colour on the dashboard: no data yet, fine, responding weakly, below a stability threshold, silent. */
export type ChannelStatus = "waiting" | "ok" | "weak" | "unstable" | "silent";

/** One channel's live numbers (compact: all channels go out together a few times per second). */
export interface ChannelLive {
  id: string;
  status: ChannelStatus;
  /** Trials with data for this channel in the current phase. */
  trials: number;
  /** Mean net rate (response − baseline, spikes/s) over the current phase's trials. */
  netRate: number | null;
  /** Phase 1: Spearman–Brown split-half r over the repeats so far. */
  splitHalf: number | null;
  /** Phase 2: running test/retest r over the retest stimuli seen in both phases, and how many. */
  retestR: number | null;
  retestN: number;
  /** Consecutive most recent trials without a spike; server time (ms) of the last trial with one. */
  silentTrials: number;
  lastSpikeT: number | null;
}

export interface ChannelDetail {
  id: string;
  phase: 1 | 2 | 3;
  /** PSTH of the current phase in spikes/s, bins of binMs from −preMs. */
  psth: { preMs: number; binMs: number; rates: number[]; trials: number };
  /** Mean net rate per stimulus in the current phase, best first. */
  responses: Array<{ stimulusId: string; mean: number; n: number }>;
  /** Stability over time: (trials so far, r) of the phase's stability measure, with its threshold. */
  stability: { measure: "split-half" | "retest"; threshold: number; history: Array<[number, number]> };
  live: ChannelLive;
}

export interface MonitorSummary {
  state: string;
  phase: 1 | 2 | 3 | 3 | null;
  shown: number;
  planned: number;
  voided: number;
  /** False while the phase's plan still grows (phase 3 while fragments are being made): planned and the ETA are
   *  those of the parts known so far. */
  planComplete: boolean;
  /** Presentations per second over the last minute, and the time left at that rate (s); null until known. */
  trialsPerS: number | null;
  etaS: number | null;
  /** Fixation breaks per presentation: since the daemon started, and over about the last 20 sequences. */
  breakRate: number | null;
  recentBreakRate: number | null;
}

export interface FitProgressView {
  stage: string;
  epoch: number | null;
  active: number | null;
  done: number | null;
  total: number | null;
  /** Best validation loss so far per channel (ids reconstructed in the fit's channel order). */
  channels: Array<{ id: string; bestValLoss: number }>;
}

export interface MonitorAlert {
  id: number;
  t: number;
  kind: string;
  message: string;
  channelId?: string;
}

export interface MonitorThresholds {
  stabilityMinR: number;
  splitHalfMinR: number;
  responsivenessMinRate: number;
}

/** The rig box's eye and photodiode, live (protocol version 2 boxes; see docs/rig-box.md). */
export interface EyeView {
  /** EYE samples since the previous message: [daemon ms, x deg, y deg]. */
  samples: Array<[number, number, number]>;
  fixating: boolean | null;
  /** The fixation window the box decides with, degrees. */
  window: { xDeg: number; yDeg: number; radiusDeg: number } | null;
  /** The box's protocol version (null: no box or not known yet) and how far its clock mapping may be off. */
  version: number | null;
  clockUncertaintyMs: number | null;
  /** Fixation over the last minute: breaks, and the fraction of the time fixating. */
  breaksLastMinute: number;
  fixatingFraction: number | null;
  /** Over the last 50 presentations with a measurement: photodiode − display onset, and the eye's spread. */
  photodiode: { n: number; medianMs: number | null; lastMs: number | null };
  eyeSdDeg: number | null;
}

/** The eye calibration procedure: targets and what became of each, and the fit when done. */
export interface CalibrationView {
  active: boolean;
  count: number;
  spacingDeg: number;
  points: Array<{
    xDeg: number;
    yDeg: number;
    status: "waiting" | "current" | "accepted" | "skipped";
    xMv?: number;
    yMv?: number;
  }>;
  /** The newest stored calibration of the session (after a procedure finished, or from earlier). */
  fit: { id: number; map: number[]; rmsDeg: number; maxDeg: number; createdAt: string } | null;
  message: string;
}

export type MonitorServerMessage =
  | { type: "welcome"; sessionId: string | null; status?: Record<string, unknown> }
  | { type: "event"; id: number; t: number; eventType: string; subtype: string; content: unknown }
  | {
      type: "snapshot";
      sessionId: string;
      thresholds: MonitorThresholds;
      summary: MonitorSummary;
      channels: ChannelLive[];
      fit: FitProgressView | null;
      alerts: MonitorAlert[];
    }
  | { type: "channels"; t: number; channels: ChannelLive[] }
  | { type: "summary"; t: number; summary: MonitorSummary }
  | { type: "channel"; t: number; detail: ChannelDetail }
  | { type: "fit"; t: number; fit: FitProgressView }
  | { type: "eye"; t: number; eye: EyeView }
  | { type: "calibration"; t: number; calibration: CalibrationView }
  | { type: "error"; code: string; message: string };
