// The dashboard's judgements as pure functions (controller/monitor/alert-rules.ts), without a store or a socket:
// a channel alerts once per bad status and again only after it recovered; the progress summary's rate and time
// left, worked out here by hand.
import { describe, expect, it } from "vitest";
import { channelAlerts, summarize } from "../../controller/monitor/alert-rules.ts";
import type { StatusRules } from "../../controller/monitor/channel-stats.ts";

const rules = {
  silentTrials: 20,
  minSplitHalfStimuli: 10,
  splitHalfRepeats: 8,
  splitHalfAlpha: 0.05,
  minRetestStimuli: 5,
  minTrialsForRate: 20,
  splitHalfMinR: 0.5,
  stabilityMinR: 0.6,
  responsivenessMinRate: 5,
} as StatusRules;

/** A channel stand-in: the fields the rules read, with `unstable` decided by the test. */
function channel(o: { silentTrials?: number; unstable?: boolean; retestR?: number }) {
  return {
    id: "ch007",
    silentTrials: o.silentTrials ?? 0,
    reliability: {
      projected: 0.31,
      upper: 0.42,
      k0: 3,
      repeats: 8,
      alpha: 0.05,
      stimuli: 12,
      p: 0.01,
    } as never,
    retest: { r: o.retestR ?? null, n: 6 },
    unstable: () => o.unstable ?? false,
  };
}

describe("channelAlerts", () => {
  it("alerts a silent channel once, and again only after it fired", () => {
    const active = new Set<string>();
    expect(channelAlerts(channel({ silentTrials: 20 }), 1, 40, rules, active)).toEqual([
      {
        kind: "channel-silent",
        message: "ch007 has not fired in its last 20 trials",
        details: { channelId: "ch007", silentTrials: 20 },
      },
    ]);
    expect(channelAlerts(channel({ silentTrials: 25 }), 1, 40, rules, active)).toEqual([]);
    expect(channelAlerts(channel({ silentTrials: 0 }), 1, 40, rules, active)).toEqual([]);
    expect(channelAlerts(channel({ silentTrials: 20 }), 1, 40, rules, active)).toHaveLength(1);
  });

  it("words phase 1 instability with the projected split-half r and its bound, phase 2 with test/retest r", () => {
    const [a] = channelAlerts(channel({ unstable: true }), 1, 40, rules, new Set());
    expect(a.message).toBe(
      "ch007: split-half r at 8 repeats 0.31, 95 % upper bound 0.42 below the threshold 0.5 (12 images, 3.0 trials each)",
    );
    expect(a.details).toMatchObject({ measure: "split-half r", value: 0.31, upper: 0.42, threshold: 0.5 });
    const [b] = channelAlerts(channel({ unstable: true, retestR: 0.25 }), 2, 40, rules, new Set());
    expect(b.message).toBe("ch007: test/retest r 0.25 below the threshold 0.6");
    // Each phase's instability is its own status: alerted in phase 1 does not silence phase 2.
    const active = new Set<string>();
    expect(channelAlerts(channel({ unstable: true }), 1, 40, rules, active)).toHaveLength(1);
    expect(channelAlerts(channel({ unstable: true, retestR: 0.2 }), 2, 40, rules, active)).toHaveLength(1);
    expect(channelAlerts(channel({ unstable: true }), 1, 40, rules, active)).toHaveLength(0);
  });
});

describe("summarize", () => {
  it("rate over the samples, time left at that rate, break rates passed through", () => {
    // 30 more trials in 12 s: 2.5 trials/s; 100 planned, 45 shown: 55 left, 22 s.
    const s = summarize(
      "phase1.running",
      1,
      { shown: 45, planned: 100, voided: 4, planComplete: true },
      [
        { t: 10_000, shown: 15 },
        { t: 16_000, shown: 30 },
        { t: 22_000, shown: 45 },
      ],
      { overall: 0.08, recent: 0.1 },
    );
    expect(s).toEqual({
      state: "phase1.running",
      phase: 1,
      shown: 45,
      planned: 100,
      voided: 4,
      planComplete: true,
      trialsPerS: 2.5,
      etaS: 22,
      breakRate: 0.08,
      recentBreakRate: 0.1,
    });
    // Too few samples: no rate; all shown: no time left.
    expect(
      summarize("x", 2, { shown: 10, planned: 10, voided: 0, planComplete: true }, [{ t: 0, shown: 10 }], {
        overall: null,
        recent: null,
      }),
    ).toMatchObject({
      trialsPerS: null,
      etaS: 0,
    });
    // Phase 3's plan still growing, its known parts shown (waiting for the next channel): the time left is unknown.
    expect(
      summarize("phase3.running", 3, { shown: 96, planned: 96, voided: 0, planComplete: false }, [], {
        overall: null,
        recent: null,
      }),
    ).toMatchObject({ planned: 96, planComplete: false, etaS: null });
  });
});
