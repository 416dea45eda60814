// Independent numbers for the report tests: the net rate, means and Pearson's r written out here from their
// definitions, so that a report number is checked against something other than the production code it came from.
import type { SessionStore } from "../../controller/store/store.ts";

/** The demo protocol's windows: baseline −75..25 ms (100 ms), response 50..250 ms (200 ms); spikes/s. */
export const netRate = (c: Record<string, number>) => (c.response * 1000) / 200 - (c.baseline * 1000) / 100;

export { mean, pearsonR } from "../by-hand.ts";

/** Per channel and stimulus, the net rates of a phase's shown presentations, from the stored counts. */
export function storedNetRates(
  store: SessionStore,
  sessionId: string,
  phase: 1 | 2,
): Map<string, Map<string, number[]>> {
  const out = new Map<string, Map<string, number[]>>();
  for (const r of store.counts(sessionId, phase)) {
    const byStim = out.get(r.channel_id) ?? new Map<string, number[]>();
    out.set(r.channel_id, byStim);
    byStim.set(r.stimulus_id, [...(byStim.get(r.stimulus_id) ?? []), netRate(r.counts)]);
  }
  return out;
}
