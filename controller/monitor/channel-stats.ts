// Per-channel live statistics for the monitor: PSTH and net rates per phase from each stored trial, the phase-1
// split-half reliability projected to the planned repeats (analysis/stats/projected-reliability.ts), running test/retest r in phase 2,
// and how long the channel has been silent. Plain accumulators over arrays; the monitor state feeds them and
// decides what to publish and when.
import { retestStability, type TrialRates } from "../../analysis/checks/channel-checks.ts";
import { type ProjectedReliability, projectedReliability } from "../../analysis/stats/index.ts";
import { addToPsth, type NamedWindows, netRateFromCounts } from "../acquisition/windows.ts";
import type { ChannelDetail, ChannelLive, ChannelStatus, MonitorThresholds } from "../wire/monitor.ts";

export interface PsthSpec {
  preMs: number;
  postMs: number;
  binMs: number;
}

export interface StatusRules extends MonitorThresholds {
  /** This many consecutive trials without a spike make a channel silent. */
  silentTrials: number;
  /** Split-half r is judged once this many phase-1 stimuli have at least two repeats (fewer if the phase has fewer). */
  minSplitHalfStimuli: number;
  /** Phase-1 repetitions of each stimulus in the protocol: the split-half r is projected to this many trials. */
  splitHalfRepeats: number;
  /** One-sided level of the upper confidence bound that must lie below splitHalfMinR (default 0.05). */
  splitHalfAlpha: number;
  /** Test/retest r is judged once this many retest stimuli were seen in both phases. */
  minRetestStimuli: number;
  /** Net rate is judged (weak) after this many trials in the phase. */
  minTrialsForRate: number;
}

interface PhaseAcc {
  psth: Float64Array;
  psthTrials: number;
  /** stimulus id → trial id → net rate (spikes/s). */
  byStimulus: Map<string, Map<number, number>>;
  trials: number;
  sumRate: number;
  history: Array<[number, number]>;
}

const HISTORY_MAX = 200;

export class ChannelStats {
  private readonly phases: [PhaseAcc, PhaseAcc, PhaseAcc];
  silentTrials = 0;
  lastSpikeT: number | null = null;
  /** Phase 1: the split-half reliability projected to the planned repeats (reliability.projected). */
  splitHalf: number | null = null;
  /** Stimuli with ≥ 2 repeats when splitHalf was computed. */
  splitHalfStimuli = 0;
  /** Everything behind splitHalf: F, k0, the upper bound and its p (null until 3 stimuli have 2 repeats). */
  reliability: ProjectedReliability | null = null;
  retest: { r: number | null; n: number } = { r: null, n: 0 };

  constructor(
    readonly id: string,
    private readonly spec: PsthSpec,
    private readonly windows: NamedWindows,
  ) {
    const bins = Math.ceil((spec.preMs + spec.postMs) / spec.binMs);
    const acc = (): PhaseAcc => ({
      psth: new Float64Array(bins),
      psthTrials: 0,
      byStimulus: new Map(),
      trials: 0,
      sumRate: 0,
      history: [],
    });
    this.phases = [acc(), acc(), acc()];
  }

  /** One trial's data: window counts and, from bridges that send them, the spike times (ms from onset). */
  add(
    phase: 1 | 2 | 3,
    trialId: number,
    stimulusId: string,
    counts: Record<string, number>,
    spikes: ArrayLike<number> | undefined,
    t: number,
  ): void {
    const fired = spikes ? spikes.length > 0 : Object.values(counts).some((n) => n > 0);
    this.addRate(phase, trialId, stimulusId, netRateFromCounts(counts, this.windows), fired, spikes, t);
  }

  /** As add, with the net rate (spikes/s) and whether the channel fired already worked out. */
  addRate(
    phase: 1 | 2 | 3,
    trialId: number,
    stimulusId: string,
    rate: number,
    fired: boolean,
    spikes: ArrayLike<number> | undefined,
    t: number,
  ): void {
    const acc = this.phases[phase - 1];
    let byTrial = acc.byStimulus.get(stimulusId);
    if (!byTrial) {
      byTrial = new Map();
      acc.byStimulus.set(stimulusId, byTrial);
    }
    if (byTrial.has(trialId)) return;
    byTrial.set(trialId, rate);
    acc.trials++;
    acc.sumRate += rate;
    if (spikes) {
      addToPsth(acc.psth, spikes, this.spec.preMs, this.spec.binMs, 1);
      acc.psthTrials++;
    }
    if (fired) {
      this.silentTrials = 0;
      this.lastSpikeT = t;
    } else this.silentTrials++;
  }

  /** Take back a trial counted before it was voided (spike times needed to take back its PSTH bins). */
  remove(
    phase: 1 | 2 | 3,
    trialId: number,
    stimulusId: string,
    spikes: ArrayLike<number> | undefined,
  ): boolean {
    const acc = this.phases[phase - 1];
    const byTrial = acc.byStimulus.get(stimulusId);
    const rate = byTrial?.get(trialId);
    if (!byTrial || rate === undefined) return false;
    byTrial.delete(trialId);
    acc.trials--;
    acc.sumRate -= rate;
    if (spikes) {
      addToPsth(acc.psth, spikes, this.spec.preMs, this.spec.binMs, -1);
      acc.psthTrials--;
    }
    return true;
  }

  trials(phase: 1 | 2 | 3): number {
    return this.phases[phase - 1].trials;
  }

  netRate(phase: 1 | 2 | 3): number | null {
    const acc = this.phases[phase - 1];
    return acc.trials ? acc.sumRate / acc.trials : null;
  }

  /** Per-trial net rates per stimulus in trial order (the shape analysis/checks takes). */
  rates(phase: 1 | 2 | 3): TrialRates {
    const out: TrialRates = new Map();
    for (const [id, byTrial] of this.phases[phase - 1].byStimulus)
      if (byTrial.size)
        out.set(
          id,
          [...byTrial.entries()].sort((a, b) => a[0] - b[0]).map(([, r]) => r),
        );
    return out;
  }

  /**
   * Recompute the phase's stability measure: the projected split-half reliability (phase 1, judged against
   * rules.splitHalfMinR) or the running test/retest r (phase 2).
   */
  updateStability(phase: 1 | 2 | 3, retestIds: string[], rules: StatusRules): void {
    const acc = this.phases[phase - 1];
    if (phase === 1) {
      const rows = [...this.rates(1).values()];
      this.splitHalfStimuli = rows.filter((r) => r.length >= 2).length;
      this.reliability = projectedReliability(
        rows,
        rules.splitHalfRepeats,
        rules.splitHalfMinR,
        rules.splitHalfAlpha,
      );
      this.splitHalf = this.reliability?.projected ?? null;
      if (this.splitHalf !== null) pushHistory(acc.history, [acc.trials, this.splitHalf]);
    } else {
      this.retest = retestIds.length
        ? retestStability(this.rates(1), this.rates(2), retestIds)
        : { r: null, n: 0 };
      if (this.retest.r !== null) pushHistory(acc.history, [acc.trials, this.retest.r]);
    }
  }

  /**
   * Below the phase's stability threshold, once there are enough data to say so. `alerted`: the channel was
   * already called unstable, and stays so until it has recovered (hysteresis).
   *
   * Phase 1 (analysis/stats/projected-reliability.ts, docs/monitor.md): with at least min(minSplitHalfStimuli,
   * stimuli) images seen twice or more, unstable when the (1 − α) upper bound of the split-half reliability
   * projected to the planned repeats is below splitHalfMinR; once every such image has all its planned repeats,
   * when the estimate itself is (the decision the phase-end check takes). An alerted channel recovers when the
   * estimate is back at the threshold. Phase 2: running test/retest r below stabilityMinR; an alerted channel
   * must recover 0.1 above it.
   */
  unstable(phase: 1 | 2 | 3, rules: StatusRules, phaseStimuli: number, alerted = false): boolean {
    if (phase === 1) {
      const r = this.reliability;
      if (r === null || r.stimuli < Math.min(rules.minSplitHalfStimuli, Math.max(3, phaseStimuli)))
        return false;
      if (alerted || r.k0 >= rules.splitHalfRepeats) return r.projected < rules.splitHalfMinR;
      return r.upper < rules.splitHalfMinR;
    }
    return (
      this.retest.r !== null &&
      this.retest.n >= rules.minRetestStimuli &&
      this.retest.r < rules.stabilityMinR + (alerted ? 0.1 : 0)
    );
  }

  status(phase: 1 | 2 | 3, rules: StatusRules, phaseStimuli: number): ChannelStatus {
    const acc = this.phases[phase - 1];
    if (acc.trials === 0 && this.phases[0].trials === 0) return "waiting";
    if (this.silentTrials >= rules.silentTrials) return "silent";
    if (this.unstable(phase, rules, phaseStimuli)) return "unstable";
    const rate = this.netRate(phase);
    if (acc.trials >= rules.minTrialsForRate && rate !== null && rate < rules.responsivenessMinRate)
      return "weak";
    return acc.trials === 0 ? "waiting" : "ok";
  }

  live(phase: 1 | 2 | 3, rules: StatusRules, phaseStimuli: number): ChannelLive {
    return {
      id: this.id,
      status: this.status(phase, rules, phaseStimuli),
      trials: this.trials(phase),
      netRate: round(this.netRate(phase)),
      splitHalf: round(this.splitHalf, 3),
      retestR: round(this.retest.r, 3),
      retestN: this.retest.n,
      silentTrials: this.silentTrials,
      lastSpikeT: this.lastSpikeT,
    };
  }

  detail(phase: 1 | 2 | 3, rules: StatusRules, phaseStimuli: number): ChannelDetail {
    const acc = this.phases[phase - 1];
    const perTrialS = acc.psthTrials * (this.spec.binMs / 1000);
    const responses = [...acc.byStimulus.entries()]
      .filter(([, m]) => m.size > 0)
      .map(([stimulusId, m]) => {
        let s = 0;
        for (const r of m.values()) s += r;
        return { stimulusId, mean: round(s / m.size) ?? 0, n: m.size };
      })
      .sort((a, b) => b.mean - a.mean)
      .slice(0, 500);
    return {
      id: this.id,
      phase,
      psth: {
        preMs: this.spec.preMs,
        binMs: this.spec.binMs,
        rates: Array.from(acc.psth, (v) => (perTrialS > 0 ? (round(v / perTrialS) ?? 0) : 0)),
        trials: acc.psthTrials,
      },
      responses,
      stability: {
        measure: phase === 1 ? "split-half" : "retest",
        threshold: phase === 1 ? rules.splitHalfMinR : rules.stabilityMinR,
        history: acc.history.slice(),
      },
      live: this.live(phase, rules, phaseStimuli),
    };
  }
}

/** Append, halving the resolution of the older half when full, so the history spans the whole phase. */
function pushHistory(h: Array<[number, number]>, point: [number, number]): void {
  const last = h.at(-1);
  if (last && last[0] === point[0]) h[h.length - 1] = point;
  else h.push(point);
  if (h.length > HISTORY_MAX) {
    const keep = h.filter((_, i) => i % 2 === 1 || i >= HISTORY_MAX / 2);
    h.splice(0, h.length, ...keep);
  }
}

function round(v: number | null, digits = 2): number | null {
  if (v === null || !Number.isFinite(v)) return null;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/**
 * Fixation breaks per presentation (a presentation voided by a break = 1, shown = 0). A spike is the rate over the
 * last `window` presentations above `factor` × the running mean before them; it alerts once, and again only after
 * the rate has come back below half of that.
 */
export class BreakTracker {
  private readonly outcomes: number[] = [];
  private armed = true;

  constructor(
    readonly window = 80,
    readonly factor = 3,
  ) {}

  /** Record one presentation; returns the rates when it starts a spike. */
  record(broke: boolean): { recent: number; baseline: number } | null {
    this.outcomes.push(broke ? 1 : 0);
    const { recent, baseline, before } = this.rates();
    if (recent === null || baseline === null) return null;
    // No break at all before: compare with one break in what came before.
    const floor = Math.max(baseline, 1 / before);
    const spiking = recent * this.window >= 3 && recent > this.factor * floor;
    if (spiking && this.armed) {
      this.armed = false;
      return { recent, baseline };
    }
    if (!this.armed && recent <= (this.factor / 2) * floor) this.armed = true;
    return null;
  }

  /** Breaks per presentation: overall, over the last `window`, and over the presentations before those. */
  rates(): { overall: number | null; recent: number | null; baseline: number | null; before: number } {
    const n = this.outcomes.length;
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const before = Math.max(0, n - this.window);
    return {
      overall: n ? sum(this.outcomes) / n : null,
      recent: n >= this.window ? sum(this.outcomes.slice(before)) / this.window : null,
      baseline: before >= this.window ? sum(this.outcomes.slice(0, before)) / before : null,
      before,
    };
  }
}
