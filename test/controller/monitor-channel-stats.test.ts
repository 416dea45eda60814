// ChannelStats and BreakTracker without sockets or SQLite: a voided trial taken back leaves exactly the numbers
// of the other trials; statuses in their order of precedence; fixation-break spikes alert once, re-arm after calming.
import { describe, expect, it } from "vitest";
import { BreakTracker, ChannelStats, type StatusRules } from "../../controller/monitor/channel-stats.ts";

const windows = { baseline: { startMs: -100, endMs: 0 }, response: { startMs: 0, endMs: 200 } };
const spec = { preMs: 100, postMs: 200, binMs: 50 };
const rules: StatusRules = {
  stabilityMinR: 0.6,
  splitHalfMinR: 0.5,
  responsivenessMinRate: 5,
  silentTrials: 3,
  minSplitHalfStimuli: 10,
  splitHalfRepeats: 6,
  splitHalfAlpha: 0.05,
  minRetestStimuli: 5,
  minTrialsForRate: 2,
};
const counts = (s: number[]) => ({
  baseline: s.filter((t) => t < 0).length,
  response: s.filter((t) => t >= 0).length,
});

describe("ChannelStats", () => {
  it("takes back a voided trial exactly: PSTH bins and net rate as if it never came", () => {
    const kept = [-50, 10, 20, 120];
    const voided = [-90, 30, 60, 61, 199];
    const a = new ChannelStats("a", spec, windows);
    a.add(1, 1, "s1", counts(kept), kept, 1000);
    a.add(1, 2, "s2", counts(voided), voided, 1001);
    expect(a.trials(1)).toBe(2);
    expect(a.remove(1, 2, "s2", voided)).toBe(true);
    expect(a.remove(1, 2, "s2", voided)).toBe(false);
    const d = a.detail(1, rules, 2);
    // One trial: bins [-100,-50) [-50,0) [0,50) [50,100) [100,150) [150,200), 50 ms each → count / 0.05 s.
    expect(d.psth.rates).toEqual([0, 20, 40, 0, 20, 0]);
    expect(d.psth.trials).toBe(1);
    // 3 response spikes / 0.2 s − 1 baseline spike / 0.1 s = 15 − 10.
    expect(a.netRate(1)).toBeCloseTo(5, 12);
    expect(d.responses).toEqual([{ stimulusId: "s1", mean: 5, n: 1 }]);
  });

  it("keeps phase 3 (the fragments) apart from phases 1 and 2, with its own status and detail", () => {
    const a = new ChannelStats("a", spec, windows);
    const spikes = [-50, 10, 20, 120];
    a.add(1, 1, "s1", counts(spikes), spikes, 1000);
    a.add(3, 2, "fragment/a/highlighted/s1", counts([10]), [10], 1001);
    expect([a.trials(1), a.trials(2), a.trials(3)]).toEqual([1, 0, 1]);
    expect(a.netRate(3)).toBeCloseTo(5, 12); // 1 / 0.2 s − 0 / 0.1 s
    expect(a.live(3, rules, 10).trials).toBe(1);
    expect(a.detail(3, rules, 10).responses).toEqual([
      { stimulusId: "fragment/a/highlighted/s1", mean: 5, n: 1 },
    ]);
    expect(a.remove(3, 2, "fragment/a/highlighted/s1", [10])).toBe(true);
    expect(a.trials(3)).toBe(0);
    expect(a.trials(1)).toBe(1);
  });

  it("counts a repeated trial id once", () => {
    const a = new ChannelStats("a", spec, windows);
    a.add(1, 1, "s1", counts([10]), [10], 0);
    a.add(1, 1, "s1", counts([10]), [10], 0);
    expect(a.trials(1)).toBe(1);
  });

  it("status: waiting, then silent before weak, ok once it fires and responds", () => {
    const a = new ChannelStats("a", spec, windows);
    expect(a.status(1, rules, 0)).toBe("waiting");
    for (let i = 1; i <= 3; i++) a.add(1, i, "s1", { baseline: 0, response: 0 }, [], i);
    expect(a.silentTrials).toBe(3);
    expect(a.status(1, rules, 1)).toBe("silent");
    a.add(1, 4, "s1", { baseline: 0, response: 1 }, [10], 4);
    expect(a.silentTrials).toBe(0);
    expect(a.lastSpikeT).toBe(4);
    expect(a.status(1, rules, 1)).toBe("weak"); // 1.25 spikes/s net < 5
    a.add(1, 5, "s1", { baseline: 0, response: 20 }, undefined, 5); // counts-only bridge: fired, no PSTH
    expect(a.status(1, rules, 1)).toBe("ok");
    expect(a.detail(1, rules, 1).psth.trials).toBe(4);
  });
});

describe("BreakTracker", () => {
  it("alerts once when the last window runs above factor × the mean before it, again only after calming down", () => {
    const b = new BreakTracker(20, 3);
    const alerts: number[] = [];
    const feed = (n: number, every: number) => {
      for (let i = 0; i < n; i++) if (b.record(i % every === 0)) alerts.push(i);
    };
    feed(100, 10); // 10 %
    expect(alerts).toEqual([]);
    expect(b.rates().overall).toBeCloseTo(0.1, 12);
    feed(20, 2); // 50 % > 3 × 10 %
    expect(alerts).toHaveLength(1);
    feed(20, 2); // still high: no second alert
    expect(alerts).toHaveLength(1);
    feed(400, 1000); // calm for long enough that the running mean comes back down (one break)
    const before = alerts.length;
    feed(20, 2);
    expect(alerts.length).toBe(before + 1);
  });

  it("needs a full window and a baseline before it judges", () => {
    const b = new BreakTracker(20, 3);
    for (let i = 0; i < 39; i++) expect(b.record(true)).toBeNull();
    expect(b.rates().baseline).toBeNull();
  });
});
