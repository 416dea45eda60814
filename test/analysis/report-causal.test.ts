// The report's "Causal test" section from a phase-3 result: one row per image with its verdict, the tiles with the
// recorded and predicted rates, the summary's counts (a significant but negative effect is not counted as "more"),
// "n/a" where a test could not run, a plain sentence when no channel had maps, nothing without phase 3.
import { describe, expect, it } from "vitest";
import { causalSection } from "../../analysis/report/causal-section.ts";
import type { ReportCausal, ReportData } from "../../analysis/report/types.ts";

const tile = (kind: string, n: number, recorded: number | null, predicted: number | null) => ({
  stimulusId: `fragment/ch001/${kind}${n || ""}/bodies/b1`,
  kind,
  n,
  image: null,
  recorded,
  trials: recorded === null ? 0 : 6,
  predicted,
  visible: kind === "full" ? 1 : 0.15,
});

const causal: ReportCausal = {
  alpha: 0.05,
  test: "two-sided Mann-Whitney U per image",
  settings: { areaFraction: 0.15, basis: "area", softnessPx: 3, randomCount: 1 },
  channels: [
    {
      channelId: "ch001",
      parents: [
        {
          role: "body",
          parentId: "bodies/b1",
          verdict: "highlighted drives more",
          vsRandomP: 0.0021,
          vsComplementP: 0.4,
          effect: 0.62,
          effectComplement: 0.1,
          fullFrom: "phase 3",
          tiles: [
            tile("full", 0, 120, 110),
            tile("highlighted", 0, 96.5, 80.25),
            tile("random", 1, 20, null),
          ],
        },
        {
          role: "object",
          parentId: "objects/o1",
          verdict: "highlighted drives less",
          vsRandomP: 0.01,
          vsComplementP: null,
          effect: -0.5,
          effectComplement: null,
          fullFrom: "phase 2",
          tiles: [tile("highlighted", 0, null, 3)],
        },
        {
          role: "object",
          parentId: "objects/o2",
          rank: 2,
          verdict: "highlighted drives more",
          vsRandomP: 0.003,
          vsComplementP: 0.02,
          effect: 0.4,
          effectComplement: 0.3,
          fullFrom: "phase 3",
          tiles: [tile("highlighted", 0, 50, 40)],
        },
      ],
    },
  ],
  across: { body: { statistic: 0, p: 1, n: 1, method: "exact" }, object: null },
};
const render = (c: ReportCausal | null) => causalSection({ causal: c } as unknown as ReportData);

describe("causalSection", () => {
  it("shows every image's fragments, verdicts and the summary across channels", () => {
    const html = render(causal);
    expect(html).toContain('<section id="causal">');
    expect(html.match(/class="causal-row"/g)).toHaveLength(3);
    expect(html).toContain("ch001 · object of rank 2 objects/o2");
    expect(html).toContain('data-verdict="highlighted drives more"');
    expect(html).toContain('data-verdict="highlighted drives less"');
    expect(html).toContain("p = 0.002, effect 0.62");
    expect(html).toContain("rec 96.5");
    expect(html).toContain("pred 80.3");
    expect(html).toContain("random 1");
    expect(html.match(/class="fragment"/g)).toHaveLength(5);
    // Summary: the body's significant positive effect counts, the object's significant negative one does not.
    expect(html).toMatch(/<td>body<\/td><td>1<\/td><td>1 of 1<\/td>/);
    expect(html).toMatch(/<td>object<\/td><td>1<\/td><td>0 of 1<\/td><td>n\/a<\/td>/);
    // A further object (phase3.topObjects) is counted on its own row, outside the signed-rank test.
    expect(html).toMatch(/<td>further objects<\/td><td>1<\/td><td>1 of 1<\/td><td>n\/a<\/td>/);
    expect(html).toContain("highlighted vs complement: p = n/a");
  });

  it("says so when no channel had maps, and is absent without phase 3", () => {
    expect(render({ ...causal, channels: [] })).toContain("phase 3 showed nothing");
    expect(render(null)).toBe("");
  });
});
