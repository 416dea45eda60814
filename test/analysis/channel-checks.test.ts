// A channel's checks (analysis/checks/channel-checks.ts): selectivity as the paper does it — the channel's own
// selected objects against its own control bodies, one mean per stimulus, two-sided — against SciPy
// (test/reference/selectivity_reference.py); and a channel that never got data, excluded with that reason, every
// check unanswered — never a thrown error that would fail the day.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { checkChannel, type Thresholds } from "../../analysis/checks/channel-checks.ts";

const thresholds: Thresholds = {
  stabilityMinR: 0.6,
  selectivityAlpha: 0.05,
  responsivenessMinRate: 5,
  splitHalfMinR: 0.5,
  kruskalWallisMaxP: 0.01,
};

interface SelectivityCase {
  name: string;
  objects: Record<string, number[]>;
  controls: Record<string, number[]>;
  u: number;
  p: number;
  passed: boolean;
}
const reference = JSON.parse(readFileSync("test/fixtures/stats/selectivity_reference.json", "utf8")) as {
  cases: SelectivityCase[];
};

describe("selectivity: per-stimulus means, own objects vs own control bodies, two-sided (SciPy)", () => {
  for (const c of reference.cases)
    it(c.name, () => {
      // Phase-2 trials of the channel's stimuli, plus trials of another channel's control body, which must not count.
      const phase2 = new Map<string, number[]>([
        ...Object.entries(c.objects),
        ...Object.entries(c.controls),
        ["control-bodies/not-mine", [1000, 1000, 1000]],
      ]);
      const phase1 = new Map([
        ["bodies/a", [20, 22]],
        ["bodies/b", [30, 28]],
        ["bodies/c", [10, 12]],
      ]);
      const { results } = checkChannel(
        {
          channelId: "ch001",
          phase1,
          phase2,
          retestIds: [],
          objectIds: Object.keys(c.objects),
          controlIds: Object.keys(c.controls),
          seed: 1,
        },
        thresholds,
      );
      const sel = results.find((r) => r.name === "selectivity")!;
      expect(sel.value!).toBeCloseTo(c.p, 12);
      expect(sel.details.u).toBe(c.u);
      expect(sel.passed).toBe(c.passed);
      expect(sel.details).toMatchObject({
        nObjectStimuli: Object.keys(c.objects).length,
        nControlStimuli: Object.keys(c.controls).length,
      });
    });
});

describe("checkChannel", () => {
  it("excludes a channel without phase-1 data, naming why, with every check unanswered", () => {
    const { results, decision } = checkChannel(
      {
        channelId: "ch009",
        phase1: new Map(),
        phase2: new Map([["objects/a", [1, 2]]]),
        retestIds: ["bodies/a"],
        objectIds: ["objects/a"],
        controlIds: ["bodies/c"],
        seed: 1,
      },
      thresholds,
    );
    expect(decision).toEqual({
      channelId: "ch009",
      included: false,
      reason: "excluded: no spike data in phase 1",
    });
    expect(results.map((r) => r.name).sort()).toEqual(
      ["kruskal-wallis", "responsiveness", "selectivity", "split-half", "stability"].sort(),
    );
    for (const r of results)
      expect(r).toMatchObject({
        value: null,
        passed: false,
        details: { reason: "no spike data in phase 1" },
      });
  });

  it("still judges a channel whose phase-1 stimuli have data", () => {
    const phase1 = new Map(
      Array.from(
        { length: 6 },
        (_, i) => [`bodies/${i}`, [10 * i + 1, 10 * i + 2, 10 * i + 3]] as [string, number[]],
      ),
    );
    const { decision, results } = checkChannel(
      {
        channelId: "ch001",
        phase1,
        phase2: new Map(),
        retestIds: [],
        objectIds: [],
        controlIds: [],
        seed: 1,
      },
      thresholds,
    );
    expect(results.find((r) => r.name === "responsiveness")).toMatchObject({ value: 52, passed: true });
    expect(decision.reason).not.toMatch(/no spike data/);
  });
});
