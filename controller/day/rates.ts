// Stored spike counts → per-channel, per-stimulus net rates (spikes/s) of every shown trial.

import { meanRates, type RateTable } from "../../analysis/stats/index.ts";
import type { Protocol } from "../../protocols/index.ts";
import { netRateFromCounts } from "../acquisition/windows.ts";
import type { CountRow, SessionStore } from "../store/store.ts";

// The table's type and the per-stimulus mean are pure (analysis/stats); kept importable from here.
export { meanRates, type RateTable };

export function trialRates(
  store: SessionStore,
  sessionId: string,
  protocol: Protocol,
  phase: 1 | 2 | 3,
): RateTable {
  return rateTable(store.counts(sessionId, phase), protocol);
}

/**
 * Phase 3's rates split by part: part k holds the trials of its blocks k × repetitions … (k + 1) × repetitions − 1
 * (the phase runner numbers each part's blocks on from the previous part's; controller/day/phase3-parts.ts), so a
 * parent image that two channels' parts both show counts for each channel in its own blocks only.
 */
export function trialRatesByPart(
  store: SessionStore,
  sessionId: string,
  protocol: Protocol,
  repetitions: number,
): Map<number, RateTable> {
  const blockOf = new Map(store.trials(sessionId, 3).map((t) => [t.trialId, t.block]));
  const rows = new Map<number, CountRow[]>();
  for (const row of store.counts(sessionId, 3)) {
    const part = Math.floor((blockOf.get(row.trial_id) ?? 0) / repetitions);
    const list = rows.get(part) ?? [];
    list.push(row);
    rows.set(part, list);
  }
  return new Map([...rows].map(([part, list]) => [part, rateTable(list, protocol)]));
}

function rateTable(rows: readonly CountRow[], protocol: Protocol): RateTable {
  const windows = { baseline: protocol.windows.baseline, response: protocol.windows.response };
  const table: RateTable = new Map();
  for (const row of rows) {
    let byStim = table.get(row.channel_id);
    if (!byStim) {
      byStim = new Map();
      table.set(row.channel_id, byStim);
    }
    const list = byStim.get(row.stimulus_id) ?? [];
    list.push(netRateFromCounts(row.counts, windows));
    byStim.set(row.stimulus_id, list);
  }
  return table;
}
