// The phase-1 instability rule (analysis/stats/projected-reliability.ts): its numbers against SciPy (f_oneway,
// f.ppf, f.cdf; test/reference/monitor_reliability_reference.py), the bound and the test agreeing with each other,
// and the bound's coverage on simulated balanced data whose true reliability sits exactly at the threshold.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../analysis/random.ts";
import { normalQuantile } from "../../analysis/stats/distributions.ts";
import { projectedReliability } from "../../analysis/stats/index.ts";

interface Case {
  name: string;
  rows: number[][];
  repeats: number;
  threshold: number;
  alpha: number;
  expected: Record<string, number>;
}
const fixture = JSON.parse(
  readFileSync(new URL("../fixtures/monitor/reliability_reference.json", import.meta.url), "utf8"),
) as { cases: Case[] };

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(1e-12, Math.abs(b));

describe("projected split-half reliability", () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))("%s: as SciPy", (_, c) => {
    const r = projectedReliability(c.rows, c.repeats, c.threshold, c.alpha)!;
    expect(r.stimuli).toBe(c.expected.stimuli);
    expect(r.trials).toBe(c.expected.trials);
    for (const key of ["k0", "f", "icc1", "projected"] as const)
      expect(rel(r[key], c.expected[key])).toBeLessThan(1e-12);
    expect(rel(r.upper, c.expected.upper)).toBeLessThan(1e-9);
    expect(Math.abs(r.p - c.expected.p)).toBeLessThan(1e-9);
  });

  it("the bound and the test say the same: upper < threshold exactly when p < α", () => {
    const random = mulberry32(3);
    const gauss = () => normalQuantile(Math.max(1e-12, random()));
    let below = 0;
    for (let n = 0; n < 400; n++) {
      const signal = random() * 8;
      const rows = Array.from({ length: 10 + Math.floor(random() * 30) }, () => {
        const m = 20 + signal * gauss();
        return Array.from({ length: 1 + Math.floor(random() * 5) }, () => m + 18 * gauss());
      });
      const r = projectedReliability(rows, 6, 0.5, 0.05);
      if (!r) continue;
      expect(r.upper < 0.5, `case ${n}: upper ${r.upper}, p ${r.p}`).toBe(r.p < 0.05);
      if (r.p < 0.05) below++;
    }
    expect(below).toBeGreaterThan(20); // both outcomes occur
  });

  it("needs three images with two trials and some spread", () => {
    expect(projectedReliability([[1, 2], [3, 4], [5]], 6, 0.5, 0.05)).toBeNull();
    expect(
      projectedReliability(
        [
          [2, 2],
          [2, 2],
          [2, 2],
        ],
        6,
        0.5,
        0.05,
      ),
    ).toBeNull();
    const perfect = projectedReliability(
      [
        [1, 1],
        [2, 2],
        [3, 3],
      ],
      6,
      0.5,
      0.05,
    )!;
    expect(perfect).toMatchObject({ f: Number.POSITIVE_INFINITY, projected: 1, upper: 1, p: 1 });
  });

  it("covers: a channel exactly at the threshold is called below it in about α of the phases", () => {
    // Balanced normal data, 40 images × 3 of 6 planned trials, true reliability of the 6-trial mean = 0.5.
    const repeats = 6;
    const rho1 = 0.5 / (repeats - (repeats - 1) * 0.5); // Spearman–Brown back to one trial
    const signal = Math.sqrt(rho1);
    const noise = Math.sqrt(1 - rho1);
    const random = mulberry32(17);
    const gauss = () => normalQuantile(Math.max(1e-12, random()));
    const runs = 4000;
    let called = 0;
    for (let run = 0; run < runs; run++) {
      const rows = Array.from({ length: 40 }, () => {
        const m = signal * gauss();
        return [m + noise * gauss(), m + noise * gauss(), m + noise * gauss()];
      });
      if (projectedReliability(rows, repeats, 0.5, 0.05)!.upper < 0.5) called++;
    }
    // Binomial(4000, 0.05): sd 0.0034; allow 4 sd.
    expect(Math.abs(called / runs - 0.05)).toBeLessThan(0.014);
  });
});
