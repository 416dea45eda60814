// Stored spike counts → per-channel, per-stimulus net rates (spikes/s) of every shown trial.

import type { Protocol } from "../../protocols/schema.ts";
import { netRateFromCounts } from "../acquisition/windows.ts";
import type { SessionStore } from "../store/store.ts";

/** channel id → stimulus id → per-trial net rates, in trial order. */
export type RateTable = Map<string, Map<string, number[]>>;

export function trialRates(
  store: SessionStore,
  sessionId: string,
  protocol: Protocol,
  phase: 1 | 2,
): RateTable {
  const windows = { baseline: protocol.windows.baseline, response: protocol.windows.response };
  const table: RateTable = new Map();
  for (const row of store.counts(sessionId, phase)) {
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

/** Mean net rate per stimulus of `ids` (NaN where a stimulus has no trial). */
export function meanRates(byStim: Map<string, number[]> | undefined, ids: string[]): Float64Array {
  return Float64Array.from(ids, (id) => {
    const xs = byStim?.get(id);
    return xs?.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN;
  });
}
