// Phase-2 stimulus selection (Lappe et al. 2024): per channel, from its fitted readout,
//   top-object / bottom-object:   the objects with the highest / lowest predicted response,
//   similar-object:               the objects most similar (s, eq. 2) to the channel's top recorded body,
//   top-/bottom-/similar-control: the same three rules over the control bodies,
// plus a retest subset of the phase-1 stimuli spread over the response range. The phase-2 list is the union.
//
// Retest: phase-1 stimuli are ranked by their mean z-scored response over channels (each channel z-scored
// over the phase-1 stimuli, so no channel dominates by its rate) and one stimulus is drawn from each of
// `retestCount` equal-width rank strata (stratified quantiles with a seeded jitter).

import { mulberry32 } from "../random.ts";
import type { GaussianReadout } from "../readout/index.ts";
import {
  checkFeatureMaps,
  extractAtLocation,
  type FeatureMaps,
  ReadoutError,
  selectImages,
} from "../readout/index.ts";
import { similarityToReference } from "../similarity.ts";

export type SelectionRule =
  | "top-object"
  | "bottom-object"
  | "similar-object"
  | "top-control"
  | "bottom-control"
  | "similar-control"
  | "retest";

export interface SelectionChoice {
  /** The channel whose rule chose the stimulus; null for the (shared) retest subset. */
  channelId: string | null;
  stimulusId: string;
  rule: SelectionRule;
  /** Predicted response (top/bottom), similarity s (similar-*), or mean z-scored response (retest). */
  score: number;
}

/** The counts of the protocol's `selection` section (same field names). */
export interface SelectionCounts {
  topObjects: number;
  bottomObjects: number;
  mostSimilarObjects: number;
  controlTop: number;
  controlBottom: number;
  controlMostSimilar: number;
  retestCount: number;
}

export interface StimulusFeatures {
  /** One id per image row of `features`. */
  ids: string[];
  features: FeatureMaps;
}

export interface SelectionInput {
  readouts: GaussianReadout[];
  /** Phase-1 stimuli with each channel's recorded (net) responses, one per id, keyed by channelId. */
  phase1: StimulusFeatures & { responses: Record<string, ArrayLike<number>> };
  objects: StimulusFeatures;
  controls: StimulusFeatures;
}

export interface Phase2Selection {
  /** Unique stimulus ids, in order of first choice (channels in input order, then the retest subset). */
  stimuli: string[];
  choices: SelectionChoice[];
}

function check(name: string, set: StimulusFeatures, c: number): void {
  checkFeatureMaps(set.features, `${name}.features`);
  if (set.ids.length !== set.features.n) {
    throw new ReadoutError(
      "EPHYS_BAD_SELECTION",
      `${name}.ids: expected ${set.features.n} ids (one per feature row); found ${set.ids.length}`,
    );
  }
  if (set.features.c !== c) {
    throw new ReadoutError(
      "EPHYS_BAD_SELECTION",
      `${name}.features.c: expected ${c} (the readout weights); found ${set.features.c}`,
    );
  }
}

/** Indices of the `count` largest (descending) or smallest (ascending) scores; ties broken by id. */
function ranked(scores: ArrayLike<number>, ids: string[], count: number, descending: boolean): number[] {
  const order = Array.from({ length: scores.length }, (_, i) => i);
  order.sort((a, b) => {
    const d = descending ? scores[b] - scores[a] : scores[a] - scores[b];
    return d !== 0 ? d : ids[a] < ids[b] ? -1 : ids[a] > ids[b] ? 1 : 0;
  });
  return order.slice(0, Math.min(count, order.length));
}

/** Stratified retest rows: rank by `score`, then one row per stratum [i·n/m, (i+1)·n/m) at a seeded offset. */
export function retestRows(score: ArrayLike<number>, ids: string[], count: number, seed: number): number[] {
  const n = score.length;
  const m = Math.min(count, n);
  if (m === 0) return [];
  const order = ranked(score, ids, n, false);
  const random = mulberry32(seed);
  const rows: number[] = [];
  for (let i = 0; i < m; i++) {
    const lo = (i * n) / m;
    const hi = ((i + 1) * n) / m;
    const pos = Math.min(n - 1, Math.floor(lo + random() * (hi - lo)));
    rows.push(order[Math.max(pos, Math.ceil(lo - 1e-9))]);
  }
  return rows;
}

export function selectPhase2(input: SelectionInput, counts: SelectionCounts, seed: number): Phase2Selection {
  const { readouts, phase1, objects, controls } = input;
  if (readouts.length === 0)
    throw new ReadoutError("EPHYS_BAD_SELECTION", "readouts: expected at least one readout");
  const c = readouts[0].weights.length;
  check("phase1", phase1, c);
  check("objects", objects, c);
  check("controls", controls, c);
  for (const r of readouts) {
    const resp = phase1.responses[r.channelId];
    if (!resp || resp.length !== phase1.ids.length) {
      throw new ReadoutError(
        "EPHYS_BAD_SELECTION",
        `phase1.responses["${r.channelId}"]: expected ${phase1.ids.length} responses; found ${resp ? resp.length : "none"}`,
      );
    }
  }
  const choices: SelectionChoice[] = [];
  for (const readout of readouts) {
    const { channelId, weights: w, bias } = readout;
    const resp = phase1.responses[channelId];
    let top = 0;
    for (let i = 1; i < resp.length; i++) if (resp[i] > resp[top]) top = i;
    const reference = extractAtLocation(selectImages(phase1.features, [top]), readout.location);
    const rules = [
      [objects, counts.topObjects, counts.bottomObjects, counts.mostSimilarObjects, "object"],
      [controls, counts.controlTop, counts.controlBottom, counts.controlMostSimilar, "control"],
    ] as const;
    for (const [set, nTop, nBottom, nSimilar, kind] of rules) {
      const rows = extractAtLocation(set.features, readout.location);
      const n = set.ids.length;
      const predicted = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let s = bias;
        for (let j = 0; j < c; j++) s += rows[i * c + j] * w[j];
        predicted[i] = s;
      }
      for (const i of ranked(predicted, set.ids, nTop, true)) {
        choices.push({ channelId, stimulusId: set.ids[i], rule: `top-${kind}`, score: predicted[i] });
      }
      for (const i of ranked(predicted, set.ids, nBottom, false)) {
        choices.push({ channelId, stimulusId: set.ids[i], rule: `bottom-${kind}`, score: predicted[i] });
      }
      if (nSimilar > 0) {
        const s = similarityToReference(rows, reference, w);
        for (const i of ranked(s, set.ids, nSimilar, true)) {
          choices.push({ channelId, stimulusId: set.ids[i], rule: `similar-${kind}`, score: s[i] });
        }
      }
    }
  }
  // Retest: mean z-scored response over channels.
  const n1 = phase1.ids.length;
  const meanZ = new Float64Array(n1);
  for (const readout of readouts) {
    const resp = phase1.responses[readout.channelId];
    let m = 0;
    for (let i = 0; i < n1; i++) m += resp[i];
    m /= n1;
    let v = 0;
    for (let i = 0; i < n1; i++) v += (resp[i] - m) ** 2;
    const sd = Math.sqrt(v / n1) || 1;
    for (let i = 0; i < n1; i++) meanZ[i] += (resp[i] - m) / sd / readouts.length;
  }
  for (const i of retestRows(meanZ, phase1.ids, counts.retestCount, seed)) {
    choices.push({ channelId: null, stimulusId: phase1.ids[i], rule: "retest", score: meanZ[i] });
  }
  return { stimuli: [...new Set(choices.map((ch) => ch.stimulusId))], choices };
}
