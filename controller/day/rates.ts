// Stored spike counts → per-channel, per-stimulus net rates (spikes/s) of every shown trial.

import { meanRates, type RateTable } from "../../analysis/stats/index.ts";
import type { Protocol } from "../../protocols/index.ts";
import { netRateFromCounts } from "../acquisition/windows.ts";
import type { SessionStore } from "../store/store.ts";

// The table's type and the per-stimulus mean are pure (analysis/stats); kept importable from here.
export { meanRates, type RateTable };

export function trialRates(
  store: SessionStore,
  sessionId: string,
  protocol: Protocol,
  phase: 1 | 2 | 3,
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
