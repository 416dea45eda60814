// The dashboard's judgements as pure functions (no socket, no store): which alerts a channel raises now
// (docs/monitor.md), and the day's progress summary. MonitorState feeds them and does the I/O.
import type { MonitorSummary } from "../wire/monitor.ts";
import type { ChannelStats, StatusRules } from "./channel-stats.ts";

export interface ChannelAlert {
  kind: "channel-silent" | "channel-unstable";
  message: string;
  details: Record<string, unknown>;
}

/**
 * The alerts a channel raises on entering a bad status: silent (no spike in the last rules.silentTrials trials),
 * unstable (phase 1: the projected split-half reliability; phase 2: test/retest r). `active` holds the statuses
 * already alerted (updated here): each alerts once, and again only after the channel recovered.
 */
export function channelAlerts(
  ch: Pick<ChannelStats, "id" | "silentTrials" | "reliability" | "retest" | "unstable">,
  phase: 1 | 2 | 3,
  stimuli: number,
  rules: StatusRules,
  active: Set<string>,
): ChannelAlert[] {
  const out: ChannelAlert[] = [];
  const silent = ch.silentTrials >= rules.silentTrials;
  if (silent && !active.has("silent")) {
    active.add("silent");
    out.push({
      kind: "channel-silent",
      message: `${ch.id} has not fired in its last ${ch.silentTrials} trials`,
      details: { channelId: ch.id, silentTrials: ch.silentTrials },
    });
  } else if (!silent) active.delete("silent");
  const key = `unstable${phase}`;
  // Once alerted, a channel must recover before it can alert again (ChannelStats.unstable).
  const unstable = ch.unstable(phase, rules, stimuli, active.has(key));
  if (unstable && !active.has(key)) {
    active.add(key);
    if (phase === 1) {
      const r = ch.reliability!;
      const bound = r.k0 >= r.repeats ? "" : `, ${100 * (1 - r.alpha)} % upper bound ${r.upper.toFixed(2)}`;
      out.push({
        kind: "channel-unstable",
        message:
          `${ch.id}: split-half r at ${r.repeats} repeats ${r.projected.toFixed(2)}${bound} below the threshold ` +
          `${rules.splitHalfMinR} (${r.stimuli} images, ${r.k0.toFixed(1)} trials each)`,
        details: {
          channelId: ch.id,
          phase,
          measure: "split-half r",
          value: r.projected,
          threshold: rules.splitHalfMinR,
          upper: r.upper,
          p: r.p,
          alpha: r.alpha,
          stimuli: r.stimuli,
          trialsPerStimulus: r.k0,
          repeats: r.repeats,
        },
      });
    } else
      out.push({
        kind: "channel-unstable",
        message: `${ch.id}: test/retest r ${ch.retest.r?.toFixed(2)} below the threshold ${rules.stabilityMinR}`,
        details: {
          channelId: ch.id,
          phase,
          measure: "test/retest r",
          value: ch.retest.r,
          threshold: rules.stabilityMinR,
        },
      });
  } else if (!unstable) active.delete(key);
  return out;
}

/**
 * The day's progress: trials per second over the recent progress samples (t in ms, shown so far), the time left at
 * that rate, and the fixation-break rates.
 */
export function summarize(
  state: string,
  phase: 1 | 2 | 3 | 3 | null,
  progress: { shown: number; planned: number; voided: number; planComplete: boolean },
  samples: ReadonlyArray<{ t: number; shown: number }>,
  breaks: { overall: number | null; recent: number | null },
): MonitorSummary {
  let trialsPerS: number | null = null;
  if (samples.length >= 2) {
    const dt = (samples[samples.length - 1].t - samples[0].t) / 1000;
    if (dt > 0) trialsPerS = (samples[samples.length - 1].shown - samples[0].shown) / dt;
  }
  const left = Math.max(0, progress.planned - progress.shown);
  return {
    state,
    phase,
    ...progress,
    trialsPerS: trialsPerS === null ? null : Math.round(trialsPerS * 100) / 100,
    etaS:
      trialsPerS && trialsPerS > 0
        ? Math.round(left / trialsPerS)
        : left === 0 && progress.planned > 0 && progress.planComplete
          ? 0
          : null, // a growing plan whose known parts are shown waits for the next part: no time left is known
    breakRate: breaks.overall,
    recentBreakRate: breaks.recent,
  };
}
