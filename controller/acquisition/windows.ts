// Spike times (ms from stimulus onset) → counts in the protocol's named windows, and PSTH bins for the monitor.
import { netRateOf } from "../../analysis/stats/index.ts";
import type { ResponseWindow } from "../../protocols/index.ts";

export type NamedWindows = Record<string, ResponseWindow>;

/** The span a bridge must send around each onset: welcome.window. */
export function spanOf(windows: NamedWindows): { preMs: number; postMs: number } {
  const all = Object.values(windows);
  return {
    preMs: Math.max(0, -Math.min(...all.map((w) => w.startMs))),
    postMs: Math.max(0, Math.max(...all.map((w) => w.endMs))),
  };
}

/** How far outside welcome.window a spike time may lie and still be accepted, ms. */
export const SPIKE_MARGIN_MS = 1000;

/** The spike times the daemon accepts: welcome.window widened by SPIKE_MARGIN_MS on each side. */
export function acceptedSpan(windows: NamedWindows): { lo: number; hi: number } {
  const { preMs, postMs } = spanOf(windows);
  return { lo: -preMs - SPIKE_MARGIN_MS, hi: postMs + SPIKE_MARGIN_MS };
}

/** Net rate (spikes/s): response-window rate minus baseline-window rate. */
export function netRateFromCounts(counts: Record<string, number>, windows: NamedWindows): number {
  return windowNetRate(counts.response ?? 0, counts.baseline ?? 0, windows);
}

/** Net rate (spikes/s) from the response- and baseline-window spike counts (analysis/stats netRateOf). */
export function windowNetRate(response: number, baseline: number, windows: NamedWindows): number {
  const length = (w: ResponseWindow) => w.endMs - w.startMs;
  return netRateOf(response, length(windows.response), baseline, length(windows.baseline));
}

/**
 * Add (sign 1) or take back (−1) one trial's spikes in PSTH bins of binMs that start preMs before onset
 * (bins.length of them; spikes outside are left out).
 */
export function addToPsth(
  bins: Float64Array,
  spikesMs: ArrayLike<number>,
  preMs: number,
  binMs: number,
  sign: 1 | -1,
): void {
  const n = bins.length;
  for (let k = 0; k < spikesMs.length; k++) {
    const i = Math.floor((spikesMs[k] + preMs) / binMs);
    if (i >= 0 && i < n) bins[i] += sign;
  }
}
