// A channel's checks when it never got data: excluded with that reason, every check unanswered — never a thrown
// error that would fail the day (analysis/checks/channel-checks.ts).
import { describe, expect, it } from "vitest";
import { checkChannel, type Thresholds } from "../../analysis/checks/channel-checks.ts";

const thresholds: Thresholds = {
  stabilityMinR: 0.6,
  selectivityAlpha: 0.05,
  responsivenessMinRate: 5,
  splitHalfMinR: 0.5,
  kruskalWallisMaxP: 0.01,
};

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
