// /units: one row per channel (multi-unit site) in the electrodes table's order, with
//   spike_times (float64 s, every presentation's spikes placed at its onset; see clock.ts) + spike_times_index,
//   obs_intervals ([start, end] s of each presentation's spike window, onset − preMs … onset + postMs) + index,
//   presentation_trial_id and presentation_spike_count (per presentation that brought the channel's spikes, in
//   the same order as obs_intervals: its trial id and how many of the unit's spike_times it holds, so a reader cuts
//   spike_times into presentations without relying on the windows, which overlap when presentations come faster
//   than the window is long),
//   electrodes (the channel's row of the electrodes table), channel_id, the channel checks (value, threshold and
//   passed per check), the checks' decision and reason, and the fitted readout's held-out r.
// A unit's spike_times are in presentation order, each presentation's spikes ascending: ascending overall when
// the windows do not overlap (noted otherwise).
// Spike data are placed when their presentation was shown and has an onset; data of voided or unsettled
// presentations have no time on the clock and are left out (counted in the notes), as are counts-only messages.
// Streaming: a first pass over the store counts each unit's spikes and windows, the second writes them into their
// regions of two chunked datasets, one page of rows and one chunk per unit in memory at a time.
import type { ChannelRecord, CheckResultRecord, SessionStore } from "../../store/store.ts";
import { trialDataPages } from "../trial-data-pages.ts";
import type { SessionClock } from "./clock.ts";
import { chunkedDataset, type Group, H5, RegionWriter } from "./h5.ts";
import { endsOf, TableWriter } from "./hdmf.ts";

/** Rows per chunk of spike_times and obs_intervals (32 KB of float64 per unit buffer). */
export const CHUNK_ROWS = 4096;

export interface UnitsInput {
  store: SessionStore;
  sessionId: string;
  /** In the electrodes table's order: unit u is electrode row u. */
  channels: ChannelRecord[];
  electrodes: Group;
  /** Onset (daemon ms) of every presentation whose spike data are placed: shown, with an onset. */
  onsets: Map<number, number>;
  clock: SessionClock;
  /** The spike window around each onset (welcome.window); null when the protocol is unreadable. */
  span: { preMs: number; postMs: number } | null;
  checks: CheckResultRecord[];
  decisions: Array<{ channelId: string; included: boolean; reason: string }>;
  /** Held-out test r of each channel's fitted readout. */
  testR: Map<string, number | null>;
  /** Called between pages: (pass, trial id reached, last trial id). */
  onProgress?: (pass: "count" | "write", done: number, total: number) => void;
  chunkRows?: number;
}

export interface UnitsSummary {
  group: Group;
  units: number;
  spikes: number;
  intervals: number;
  notes: string[];
}

/** Column names from check names ("split-half" → "split_half"). */
export function checkColumn(check: string, field: "value" | "threshold" | "passed"): string {
  return `${check.replace(/[^A-Za-z0-9]+/g, "_")}_${field}`;
}

export async function writeUnits(file: Group, o: UnitsInput): Promise<UnitsSummary> {
  const unitOf = new Map(o.channels.map((c, u) => [c.id, u]));
  const n = o.channels.length;
  const nSpikes = new Float64Array(n);
  const nWindows = new Float64Array(n);
  const until = o.store.lastTrialDataRowId(o.sessionId);
  const lastTrial = Math.max(0, o.store.nextTrialId(o.sessionId) - 1);
  let unplacedRows = 0;
  let countsOnlyRows = 0;
  const unknown = new Set<string>();

  for await (const rows of trialDataPages(o.store, o.sessionId, { until, spikes: false })) {
    for (const row of rows) {
      if (!o.onsets.has(row.trialId)) {
        unplacedRows++;
        continue;
      }
      if (!row.offsets) {
        countsOnlyRows++;
        continue;
      }
      const offsets = row.offsets;
      for (let c = 0; c < row.channelIds.length; c++) {
        const u = unitOf.get(row.channelIds[c]);
        if (u === undefined) {
          unknown.add(row.channelIds[c]);
          continue;
        }
        nSpikes[u] += offsets[c + 1] - offsets[c];
        nWindows[u]++;
      }
    }
    o.onProgress?.("count", rows.at(-1)!.trialId, lastTrial);
  }

  const chunk = o.chunkRows ?? CHUNK_ROWS;
  const table = new TableWriter(file, "units", n, {
    type: "Units",
    namespace: "core",
    description:
      "One row per recorded channel (multi-unit activity, not sorted units), in the electrodes table's order. " +
      "Spike times are in seconds on the daemon's clock after session_start_time; obs_intervals are the windows " +
      "around each presentation onset in which the acquisition bridge sent the channel's spikes.",
  });
  const totalSpikes = nSpikes.reduce((a, b) => a + b, 0);
  const totalWindows = nWindows.reduce((a, b) => a + b, 0);
  const spikeDs = chunkedDataset(table.group, "spike_times", H5.f64, totalSpikes, 1, chunk);
  const spikes = new RegionWriter(spikeDs, Array.from(nSpikes), 1, chunk);
  const windowDs = o.span
    ? chunkedDataset(table.group, "obs_intervals", H5.f64, totalWindows, 2, chunk)
    : null;
  const windows = windowDs ? new RegionWriter(windowDs, Array.from(nWindows), 2, chunk) : null;
  const trialDs = chunkedDataset(table.group, "presentation_trial_id", H5.i32, totalWindows, 1, chunk);
  const trialIds = new RegionWriter(trialDs, Array.from(nWindows), 1, chunk);
  const countDs = chunkedDataset(table.group, "presentation_spike_count", H5.u32, totalWindows, 1, chunk);
  const counts = new RegionWriter(countDs, Array.from(nWindows), 1, chunk);
  const lastTime = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
  const unsorted = new Set<number>();
  let scratch = new Float64Array(256);
  const window = new Float64Array(2);
  let outside = 0;

  for await (const rows of trialDataPages(o.store, o.sessionId, { until, spikes: true })) {
    for (const row of rows) {
      const onset = o.onsets.get(row.trialId);
      if (onset === undefined || !row.offsets) continue;
      const start = o.span ? o.clock.spikeSeconds(onset, -o.span.preMs) : 0;
      const end = o.span ? o.clock.spikeSeconds(onset, o.span.postMs) : 0;
      window[0] = start;
      window[1] = end;
      const offsets = row.offsets;
      const stored = row.spikes!;
      for (let c = 0; c < row.channelIds.length; c++) {
        const u = unitOf.get(row.channelIds[c]);
        if (u === undefined) continue;
        const from = offsets[c];
        const k = offsets[c + 1] - from;
        if (scratch.length < k) scratch = new Float64Array(k * 2);
        const times = scratch.subarray(0, k);
        let sorted = true;
        for (let i = 0; i < k; i++) {
          times[i] = o.clock.spikeSeconds(onset, stored[from + i]);
          if (i > 0 && times[i] < times[i - 1]) sorted = false;
        }
        if (!sorted) times.sort();
        if (k > 0) {
          if (times[0] < lastTime[u]) unsorted.add(u);
          lastTime[u] = times[k - 1];
          if (o.span) for (let i = 0; i < k; i++) if (times[i] < start || times[i] > end) outside++;
        }
        spikes.push(u, times);
        windows?.push(u, window);
        trialIds.pushOne(u, row.trialId);
        counts.pushOne(u, k);
      }
    }
    o.onProgress?.("write", rows.at(-1)!.trialId, lastTrial);
  }
  spikes.finish();
  windows?.finish();
  trialIds.finish();
  counts.finish();

  table.adopt(spikeDs, "spike_times", "Spike times of the channel, in seconds after session_start_time.");
  table.index("spike_times", spikeDs, endsOf(nSpikes));
  if (windowDs) {
    table.adopt(
      windowDs,
      "obs_intervals",
      "Windows [start, end] (s) in which the channel's spikes were observed: one per presentation with its data.",
    );
    table.index("obs_intervals", windowDs, endsOf(nWindows));
  }
  table.adopt(
    trialDs,
    "presentation_trial_id",
    "Per presentation that brought the channel's spikes (the order of obs_intervals): its trial id (/intervals/trials id).",
  );
  table.index("presentation_trial_id", trialDs, endsOf(nWindows));
  table.adopt(
    countDs,
    "presentation_spike_count",
    "Per presentation that brought the channel's spikes: how many of the unit's spike_times, in order, it holds.",
  );
  table.index("presentation_spike_count", countDs, endsOf(nWindows));
  table.region(
    "electrodes",
    "The channel's row in the electrodes table.",
    o.electrodes,
    Int32Array.from({ length: n }, (_, u) => u),
    endsOf(new Float64Array(n).fill(1)),
  );
  table.text(
    "channel_id",
    "The channel's id (as in the electrodes table).",
    o.channels.map((c) => c.id),
  );
  writeChecks(table, o);
  table.numbers(
    "model_test_r",
    "Pearson r of the channel's fitted readout with its responses on the held-out test images (NaN: no model or too few test images).",
    Float64Array.from(o.channels, (c) => o.testR.get(c.id) ?? Number.NaN),
    H5.f64,
  );
  const group = table.finish();

  const notes: string[] = [];
  if (unplacedRows)
    notes.push(
      `${unplacedRows} stored spike-data message(s) belong to presentations that were voided or never settled; they have no onset on the clock and are not in /units.`,
    );
  if (countsOnlyRows)
    notes.push(
      `${countsOnlyRows} stored message(s) carried window counts only, no spike times; not in /units.`,
    );
  if (unknown.size)
    notes.push(
      `Spike data for channel(s) not in the channel table were left out: ${[...unknown].join(", ")}.`,
    );
  if (unsorted.size)
    notes.push(
      `spike_times of ${unsorted.size} unit(s) are not in ascending order: their presentation windows overlap.`,
    );
  if (outside) notes.push(`${outside} spike(s) lie outside their presentation's observation interval.`);
  if (!o.span) notes.push("obs_intervals are missing: the stored protocol's windows could not be read.");
  return { group, units: n, spikes: totalSpikes, intervals: windowDs ? totalWindows : 0, notes };
}

/** Per check: value, threshold and passed (1, 0; −1 when the check did not run); then the decision. */
function writeChecks(table: TableWriter, o: UnitsInput): void {
  const names = [...new Set(o.checks.map((c) => c.name))].sort();
  const byKey = new Map(o.checks.map((c) => [`${c.channelId}\u0000${c.name}`, c]));
  for (const name of names) {
    const of = (ch: ChannelRecord) => byKey.get(`${ch.id}\u0000${name}`);
    table.numbers(
      checkColumn(name, "value"),
      `Value of the ${name} check (NaN: not computed).`,
      Float64Array.from(o.channels, (c) => of(c)?.value ?? Number.NaN),
      H5.f64,
    );
    table.numbers(
      checkColumn(name, "threshold"),
      `Threshold of the ${name} check (NaN: none).`,
      Float64Array.from(o.channels, (c) => of(c)?.threshold ?? Number.NaN),
      H5.f64,
    );
    table.numbers(
      checkColumn(name, "passed"),
      `Whether the channel passed the ${name} check: 1 passed, 0 failed, -1 not checked.`,
      Int8Array.from(o.channels, (c) => {
        const r = of(c);
        return r ? (r.passed ? 1 : 0) : -1;
      }),
      H5.i8,
    );
  }
  const decision = new Map(o.decisions.map((d) => [d.channelId, d]));
  table.numbers(
    "included",
    "Whether the channel checks kept the channel: 1 included, 0 excluded, -1 not checked.",
    Int8Array.from(o.channels, (c) => {
      const d = decision.get(c.id);
      return d ? (d.included ? 1 : 0) : -1;
    }),
    H5.i8,
  );
  table.text(
    "check_reason",
    "The checks' decision in words (empty: not checked).",
    o.channels.map((c) => decision.get(c.id)?.reason ?? ""),
  );
}
