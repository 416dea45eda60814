// Net response rates from spike counts in the response and baseline windows, and the responsiveness check.
import { StatsInputError } from "./errors.ts";
import { requireFiniteVector } from "./validate.ts";

/**
 * The net-rate formula, unchecked (the ingest and monitor paths, whose counts and windows were validated on the
 * way in): spikes/s in the response window minus spikes/s in the baseline window.
 */
export function netRateOf(
  responseCount: number,
  responseMs: number,
  baselineCount: number,
  baselineMs: number,
): number {
  return (responseCount * 1000) / responseMs - (baselineCount * 1000) / baselineMs;
}

/**
 * Net firing rate in spikes/s: responseCount / (responseMs/1000) − baselineCount / (baselineMs/1000).
 * Counts may be trial means (non-integer); negative or non-finite counts and durations ≤ 0 throw EPHYS_BAD_STATS_INPUT.
 */
export function netRate(
  responseCount: number,
  responseMs: number,
  baselineCount: number,
  baselineMs: number,
): number {
  const check = (name: string, v: number, ok: boolean, expected: string) => {
    if (!ok) throw new StatsInputError("netRate", name, String(v), expected);
  };
  check(
    "responseCount",
    responseCount,
    Number.isFinite(responseCount) && responseCount >= 0,
    "a finite spike count ≥ 0",
  );
  check(
    "responseMs",
    responseMs,
    Number.isFinite(responseMs) && responseMs > 0,
    "a finite window length > 0 ms",
  );
  check(
    "baselineCount",
    baselineCount,
    Number.isFinite(baselineCount) && baselineCount >= 0,
    "a finite spike count ≥ 0",
  );
  check(
    "baselineMs",
    baselineMs,
    Number.isFinite(baselineMs) && baselineMs > 0,
    "a finite window length > 0 ms",
  );
  return netRateOf(responseCount, responseMs, baselineCount, baselineMs);
}

// Protocol rule "spikes/s net for at least one stimulus": true iff max(meanNetRates) ≥ minRate;
// an empty list or NaN/±Infinity inside throws EPHYS_BAD_STATS_INPUT.
export function isResponsive(meanNetRates: ArrayLike<number>, minRate: number): boolean {
  requireFiniteVector("isResponsive", "meanNetRates", meanNetRates, 1);
  if (!Number.isFinite(minRate)) {
    throw new StatsInputError("isResponsive", "minRate", String(minRate), "a finite rate in spikes/s");
  }
  for (let i = 0; i < meanNetRates.length; i++) if (meanNetRates[i] >= minRate) return true;
  return false;
}

/** Per channel id, per stimulus id, the per-trial net rates (spikes/s) of a phase, in trial order. */
export type RateTable = Map<string, Map<string, number[]>>;

/** Mean net rate per stimulus of `ids` (NaN where a stimulus has no trial). */
export function meanRates(byStim: Map<string, number[]> | undefined, ids: string[]): Float64Array {
  return Float64Array.from(ids, (id) => {
    const xs = byStim?.get(id);
    return xs?.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN;
  });
}
