// The report's pure phase-2 and spike pieces on hand-made data whose answers are worked out by hand: PSTH bins and
// raster rows, the raster's evenly spaced presentations, channels.csv (quoting, empty cells, full precision).
import { describe, expect, it } from "vitest";
import { CSV_COLUMNS, channelsCsv } from "../../analysis/report/channel-table.ts";
import { PsthAccumulator, rasterTrials } from "../../analysis/report/psth.ts";
import type { ReportChannelSummary } from "../../analysis/report/types.ts";

describe("PsthAccumulator", () => {
  const windows = [{ name: "response", startMs: 0, endMs: 20 }];

  it("counts spikes in bins from the span's start, per channel, phase and category; draws the raster rows", () => {
    const acc = new PsthAccumulator({
      binMs: 10,
      startMs: -10,
      endMs: 25, // bins −10…0, 0…10, 10…20; 20…25 is not a whole bin and is left out
      windows,
      trials: new Map([
        [1, { phase: 1, group: "body" }],
        [2, { phase: 1, group: "body" }],
        [3, { phase: 2, group: "object" }],
        [4, { phase: 2, group: "object" }],
      ]),
      raster: new Set([2, 3]),
    });
    expect(acc.binnedEndMs).toBe(20);
    // Trial 1: channel a spikes at −10 (first bin), 0 (second), 9.99 (second), 20 (out), −11 (out); b none.
    acc.add({
      trialId: 1,
      channelIds: ["a", "b"],
      offsets: Uint32Array.of(0, 5, 5),
      spikes: Float64Array.of(-10, 0, 9.99, 20, -11),
    });
    // Trial 2 in two rows (two messages), one channel each.
    acc.add({ trialId: 2, channelIds: ["b"], offsets: Uint32Array.of(0, 1), spikes: Float64Array.of(15) });
    acc.add({
      trialId: 2,
      channelIds: ["a"],
      offsets: Uint32Array.of(0, 2),
      spikes: Float64Array.of(12, 19.5),
    });
    acc.add({ trialId: 3, channelIds: ["a"], offsets: Uint32Array.of(0, 1), spikes: Float64Array.of(5) });
    // Trial 4 sent counts only; trial 9 is not a shown presentation.
    acc.add({ trialId: 4, channelIds: ["a"], offsets: null, spikes: null });
    acc.add({ trialId: 9, channelIds: ["a"], offsets: Uint32Array.of(0, 1), spikes: Float64Array.of(1) });
    const r = acc.result(["a", "b", "c"]);
    expect([r.startMs, r.endMs, r.binMs, r.withoutSpikes]).toEqual([-10, 20, 10, 1]);
    expect(r.channels.map((c) => c.channelId)).toEqual(["a", "b"]);
    const [a, b] = r.channels;
    expect(a.phases).toEqual([
      {
        phase: 1,
        groups: [{ group: "body", trials: 2, counts: [1, 2, 2] }],
        raster: [{ row: 0, trialId: 2, group: "body", spikes: [12, 19.5] }],
      },
      {
        phase: 2,
        groups: [{ group: "object", trials: 1, counts: [0, 1, 0] }],
        raster: [{ row: 0, trialId: 3, group: "object", spikes: [5] }],
      },
    ]);
    expect(b.phases).toEqual([
      {
        phase: 1,
        groups: [{ group: "body", trials: 2, counts: [0, 0, 1] }],
        raster: [{ row: 0, trialId: 2, group: "body", spikes: [15] }],
      },
    ]);
  });

  it("refuses a bin width or span that cannot bin, naming both", () => {
    const o = { windows, trials: new Map(), raster: new Set<number>() };
    expect(() => new PsthAccumulator({ ...o, binMs: 0, startMs: 0, endMs: 10 })).toThrow(
      /binMs > 0.*found binMs 0/,
    );
    expect(() => new PsthAccumulator({ ...o, binMs: 5, startMs: 10, endMs: 10 })).toThrow(/10\.\.10 ms/);
  });
});

describe("rasterTrials", () => {
  it("takes up to n presentations of each phase, evenly spaced, the first one first", () => {
    const trials = [
      ...Array.from({ length: 10 }, (_, i) => ({ trialId: i + 1, phase: 1 as const })),
      ...Array.from({ length: 2 }, (_, i) => ({ trialId: 100 + i, phase: 2 as const })),
    ];
    // Phase 1: rows k·10/4 → 0, 2, 5, 7 (floor) → trials 1, 3, 6, 8; phase 2: both.
    expect([...rasterTrials(trials, 4)]).toEqual([1, 3, 6, 8, 100, 101]);
  });
});

describe("channels.csv", () => {
  const row = (over: Partial<ReportChannelSummary>): ReportChannelSummary => ({
    channel: "ch0",
    probe: "A",
    index: 0,
    included: true,
    reason: "passed every check",
    stabilityR: 0.1 + 0.2,
    selectivityP: 2.979202222697097e-7,
    responsivenessRate: 105,
    splitHalfR: 0.81,
    kruskalWallisP: 0.001,
    heldoutBodyR: -0.5,
    heldoutBodies: 6,
    objectR: null,
    objects: 2,
    visualized: true,
    ...over,
  });

  it("has the required columns first, numbers in full precision, empty cells for null, quoted text", () => {
    const csv = channelsCsv([
      row({}),
      row({
        channel: "ch1",
        included: false,
        visualized: false,
        reason: 'failed stability (0.1 vs 0.6), "drift"',
      }),
      row({ channel: "ch2", included: null, reason: "" }),
    ]);
    expect(CSV_COLUMNS.slice(0, 7).map(([n]) => n)).toEqual([
      "channel",
      "included",
      "stability_r",
      "selectivity_p",
      "heldout_body_r",
      "object_r",
      "visualized",
    ]);
    const lines = csv.split("\n");
    expect(lines).toHaveLength(5); // header, 3 rows, and the final line end
    expect(lines[4]).toBe("");
    expect(lines[1]).toBe(
      "ch0,1,0.30000000000000004,2.979202222697097e-7,-0.5,,1,A,0,105,0.81,0.001,6,2,passed every check",
    );
    expect(lines[2].endsWith(',"failed stability (0.1 vs 0.6), ""drift"""')).toBe(true);
    expect(lines[2].startsWith("ch1,0,")).toBe(true);
    expect(lines[3].startsWith("ch2,,")).toBe(true);
  });
});
