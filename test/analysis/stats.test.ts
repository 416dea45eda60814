// analysis/stats against SciPy 1.10 fixtures (test/reference/stats_reference.py), plus properties and
// the documented degenerate-input policy of every function.
//
// Tolerances: statistics (r, U, H, CI bounds, reliability) relative 1e-9 with an absolute floor of 1e-12;
// p-values relative 1e-6 (t and normal tails keep relative precision down to 1e-63 here); Kruskal–Wallis p
// (1 − chi-square CDF) additionally absolute 1e-14, since its tail below ~1e-15 is lost to cancellation.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../analysis/random.ts";
import {
  type Alternative,
  averageRanks,
  EXACT_WORK_LIMIT,
  exactUpperTail,
  fisherZInterval,
  isResponsive,
  kruskalWallis,
  type MannWhitneyMethod,
  mannWhitneyU,
  netRate,
  noiseCorrectedR2,
  normalQuantile,
  pearson,
  spearman,
  spearmanBrown,
  splitHalfReliability,
  tieTerm,
} from "../../analysis/stats/index.ts";
import { expectBadInput } from "./expect-bad-input.ts";

interface CorrRef {
  r: number;
  p: number;
  ci95: [number, number];
}
interface Fixture {
  scipy: string;
  correlations: { name: string; x: number[]; y: number[]; pearson: CorrRef; spearman: CorrRef }[];
  fisher: { r: number; n: number; level: number; ci: [number, number] }[];
  normalQuantiles: { p: number; z: number }[];
  mannWhitney: {
    name: string;
    x: number[];
    y: number[];
    ties: boolean;
    autoMethod: "exact" | "asymptotic";
    results: {
      method: MannWhitneyMethod;
      alternative: Alternative;
      continuity: boolean;
      u: number;
      p: number | null;
    }[];
  }[];
  kruskal: { name: string; groups: number[][]; h: number; p: number }[];
  reliability: {
    name: string;
    repeats: (number | null)[][];
    splits: number;
    seed: number;
    reliability: number;
    meanR: number;
    splitsUsed: number;
  }[];
  ranks: { values: number[]; ranks: number[] }[];
}

const fixture = JSON.parse(
  readFileSync(new URL("../fixtures/stats/stats_reference.json", import.meta.url), "utf8"),
) as Fixture;

const STAT_REL = 1e-9;
const STAT_ABS = 1e-12;
const P_REL = 1e-6;

function expectClose(actual: number, expected: number, rel: number, abs: number, what: string): void {
  const tol = Math.max(abs, rel * Math.abs(expected));
  if (!(Math.abs(actual - expected) <= tol)) {
    throw new Error(
      `${what}: ${actual} vs SciPy ${expected} (|Δ| = ${Math.abs(actual - expected)} > ${tol})`,
    );
  }
}
const expectStat = (a: number, e: number, what: string) => expectClose(a, e, STAT_REL, STAT_ABS, what);
const expectP = (a: number, e: number, what: string) => expectClose(a, e, P_REL, 0, what);

describe("fixture", () => {
  it("comes from Debian's SciPy 1.10 (the mannwhitneyu 'auto' rule tested here is 1.10's)", () => {
    expect(fixture.scipy).toMatch(/^1\.10\./);
  });
});

describe("averageRanks / tieTerm", () => {
  it("match scipy.stats.rankdata (average) and Σ(t³ − t)", () => {
    for (const { values, ranks } of fixture.ranks) {
      expect(Array.from(averageRanks(values))).toEqual(ranks);
    }
    expect(tieTerm([1, 2, 2, 3, 3, 3])).toBe(6 + 24);
    expect(tieTerm([1, 2, 3])).toBe(0);
  });
});

describe("normalQuantile / fisherZInterval", () => {
  it("normalQuantile matches scipy.stats.norm.ppf", () => {
    for (const { p, z } of fixture.normalQuantiles) expectClose(normalQuantile(p), z, 1e-12, 0, `ppf(${p})`);
  });
  it("fisherZInterval matches SciPy's Fisher-z interval, [-1, 1] for n ≤ 3", () => {
    for (const { r, n, level, ci } of fixture.fisher) {
      const [lo, hi] = fisherZInterval(r, n, level);
      expectStat(lo, ci[0], `lo r=${r} n=${n} level=${level}`);
      expectStat(hi, ci[1], `hi r=${r} n=${n} level=${level}`);
    }
    expect(fisherZInterval(1, 10)).toEqual([1, 1]);
  });
  it("rejects r outside [-1, 1], n < 2 and level outside (0, 1)", () => {
    expectBadInput(() => fisherZInterval(1.5, 10), "r");
    expectBadInput(() => fisherZInterval(Number.NaN, 10), "r");
    expectBadInput(() => fisherZInterval(0.5, 1), "n");
    expectBadInput(() => fisherZInterval(0.5, 10, 1), "level");
  });
});

describe("pearson / spearman", () => {
  for (const c of fixture.correlations) {
    it(`match scipy.stats.pearsonr / spearmanr: ${c.name}`, () => {
      for (const [name, result, ref] of [
        ["pearson", pearson(c.x, c.y), c.pearson],
        ["spearman", spearman(c.x, c.y), c.spearman],
      ] as const) {
        expect(result.n).toBe(c.x.length);
        expect(result.constantInput).toBe(false);
        expectStat(result.r, ref.r, `${name} r`);
        expectP(result.p, ref.p, `${name} p`);
        expectStat(result.ci95[0], ref.ci95[0], `${name} ci lo`);
        expectStat(result.ci95[1], ref.ci95[1], `${name} ci hi`);
      }
    });
  }
  it("give r = 0, p = 1, ci95 = [-1, 1] for a constant input (SciPy: NaN)", () => {
    for (const f of [pearson, spearman]) {
      expect(f([3, 3, 3, 3], [1, 2, 3, 4])).toEqual({ r: 0, p: 1, n: 4, ci95: [-1, 1], constantInput: true });
      expect(f([1, 2, 3, 4], [0, 0, 0, 0])).toMatchObject({ r: 0, p: 1, constantInput: true });
    }
  });
  it("throw for n < 3, NaN or Infinity inside, and unequal lengths", () => {
    for (const f of [pearson, spearman]) {
      expectBadInput(() => f([1, 2], [3, 4]), "x");
      expectBadInput(() => f([1, Number.NaN, 3], [1, 2, 3]), "x[1]");
      expectBadInput(() => f([1, 2, 3], [1, 2, Number.POSITIVE_INFINITY]), "y[2]");
      expectBadInput(() => f([1, 2, 3], [1, 2, 3, 4]), "y");
    }
  });
  it("return p in [0, 1] and r in [-1, 1] on random data", () => {
    const random = mulberry32(11);
    for (let trial = 0; trial < 50; trial++) {
      const n = 3 + Math.floor(random() * 30);
      const x = Array.from({ length: n }, () => Math.round(random() * 10));
      const y = x.map((v) => v * (random() - 0.3) + Math.round(random() * 5));
      for (const res of [pearson(x, y), spearman(x, y)]) {
        expect(res.p).toBeGreaterThanOrEqual(0);
        expect(res.p).toBeLessThanOrEqual(1);
        expect(Math.abs(res.r)).toBeLessThanOrEqual(1);
        expect(res.ci95[0]).toBeLessThanOrEqual(res.r);
        expect(res.ci95[1]).toBeGreaterThanOrEqual(res.r);
      }
    }
  });
});

describe("mannWhitneyU", () => {
  for (const c of fixture.mannWhitney) {
    it(`matches scipy.stats.mannwhitneyu: ${c.name}`, () => {
      for (const ref of c.results) {
        const what = `${ref.method}/${ref.alternative}/continuity=${ref.continuity}`;
        const res = mannWhitneyU(c.x, c.y, {
          method: ref.method,
          alternative: ref.alternative,
          continuity: ref.continuity,
        });
        expectStat(res.u, ref.u, `${what} u`);
        expect(res.method).toBe(ref.method === "auto" ? c.autoMethod : ref.method);
        // SciPy returns NaN when every value is tied and there is no continuity correction; we return 1.
        expectP(res.p, ref.p ?? 1, `${what} p`);
      }
    });
  }
  it("refuses method 'exact' with ties, and bad options", () => {
    expectBadInput(() => mannWhitneyU([1, 2, 2], [2, 3], { method: "exact" }), "options.method");
    expectBadInput(() => mannWhitneyU([1], [2], { method: "fast" as MannWhitneyMethod }), "options.method");
    expectBadInput(
      () => mannWhitneyU([1], [2], { alternative: "bigger" as Alternative }),
      "options.alternative",
    );
    expectBadInput(
      () => mannWhitneyU([1], [2], { continuity: 1 as unknown as boolean }),
      "options.continuity",
    );
  });
  it("throws for empty samples and NaN inside", () => {
    expectBadInput(() => mannWhitneyU([], [1, 2]), "x");
    expectBadInput(() => mannWhitneyU([1, 2], []), "y");
    expectBadInput(() => mannWhitneyU([1, 2], [3, Number.NaN]), "y[1]");
  });
  it("gives p = 1 when every value is tied, with or without continuity", () => {
    for (const continuity of [true, false]) {
      expect(mannWhitneyU([5, 5], [5, 5, 5], { continuity })).toEqual({ u: 3, p: 1, method: "asymptotic" });
    }
  });
  it("has U_x + U_y = n·m and p in [0, 1] on random data, for every method and alternative", () => {
    const random = mulberry32(5);
    for (let trial = 0; trial < 60; trial++) {
      const n = 1 + Math.floor(random() * 12);
      const m = 1 + Math.floor(random() * 12);
      const tied = trial % 2 === 0;
      const draw = () => (tied ? Math.floor(random() * 6) : random());
      const x = Array.from({ length: n }, draw);
      const y = Array.from({ length: m }, draw);
      const hasTies = tieTerm([...x, ...y]) > 0;
      for (const alternative of ["two-sided", "less", "greater"] as const) {
        for (const method of ["auto", "asymptotic", ...(hasTies ? [] : ["exact"])] as MannWhitneyMethod[]) {
          const a = mannWhitneyU(x, y, { alternative, method });
          const b = mannWhitneyU(y, x, { alternative, method });
          expect(a.u + b.u).toBe(n * m);
          for (const p of [a.p, b.p]) {
            expect(p).toBeGreaterThanOrEqual(0);
            expect(p).toBeLessThanOrEqual(1);
          }
        }
      }
    }
  });
  it("exact tail equals brute-force enumeration of all splits (n=4, m=6)", () => {
    const n = 4;
    const m = 6;
    const counts = new Array(n * m + 1).fill(0);
    let total = 0;
    for (let mask = 0; mask < 1 << (n + m); mask++) {
      let bits = 0;
      for (let k = 0; k < n + m; k++) if (mask & (1 << k)) bits++;
      if (bits !== n) continue;
      // x takes the ranks in mask; U_x = Σ ranks − n(n+1)/2.
      let u = -(n * (n + 1)) / 2;
      for (let k = 0; k < n + m; k++) if (mask & (1 << k)) u += k + 1;
      counts[u]++;
      total++;
    }
    let tail = 0;
    for (let u = n * m; u >= 0; u--) {
      tail += counts[u];
      expect(exactUpperTail(u, n, m)).toBeCloseTo(tail / total, 15);
      expect(exactUpperTail(u, m, n)).toBeCloseTo(tail / total, 15);
    }
  });
  it("exact path stays exact far in the tail and for large samples (BigInt counts)", () => {
    // P(U ≥ n·m) = 1 / C(n+m, n): for n = m = 40, 1/C(80, 40) = 9.3366…e-24.
    let inv = 1;
    for (let i = 1; i <= 40; i++) inv = (inv * i) / (40 + i);
    expectClose(exactUpperTail(1600, 40, 40), inv, 1e-12, 0, "1/C(80,40)");
    // A two-sided exact test on 8 vs 200 samples (chosen by "auto") completes and is a probability.
    const random = mulberry32(3);
    const x = Array.from({ length: 8 }, () => random());
    const y = Array.from({ length: 200 }, () => random() + 0.1);
    const res = mannWhitneyU(x, y);
    expect(res.method).toBe("exact");
    expect(res.p).toBeGreaterThan(0);
    expect(res.p).toBeLessThanOrEqual(1);
  });
  it("bounds the exact path's work: 'exact' throws beyond EXACT_WORK_LIMIT, 'auto' goes asymptotic", () => {
    // U_x = Σ (y below each x) ≈ 8·100 000 = n·m/2, so the shorter tail has ~8e5 terms: work ≈ 8 · 8e5 = 6.4e6.
    const y = Array.from({ length: 200_000 }, (_, i) => i + 0.5);
    const x = [99_000.25, 99_500.25, 99_800.25, 100_000.25, 100_100.25, 100_300.25, 100_600.25, 100_700.25];
    expect(8 * 800_000).toBeGreaterThan(EXACT_WORK_LIMIT);
    expect(mannWhitneyU(x, y).method).toBe("asymptotic");
    expect(mannWhitneyU(x.slice(0, 3), y.slice(0, 1000)).method).toBe("exact");
    const big = Array.from({ length: 300 }, (_, i) => 2 * i);
    const big2 = Array.from({ length: 300 }, (_, i) => 2 * i + 1);
    expectBadInput(() => mannWhitneyU(big, big2, { method: "exact" }), "options.method");
  });
});

describe("kruskalWallis", () => {
  for (const c of fixture.kruskal) {
    it(`matches scipy.stats.kruskal: ${c.name}`, () => {
      const res = kruskalWallis(...c.groups);
      expectStat(res.h, c.h, "h");
      expectClose(res.p, c.p, P_REL, 1e-14, "p");
      expect(res.df).toBe(c.groups.length - 1);
    });
  }
  it("gives h = 0, p = 1 when every value is identical (SciPy raises)", () => {
    expect(kruskalWallis([2, 2], [2], [2, 2, 2])).toEqual({ h: 0, p: 1, df: 2 });
  });
  it("throws for < 2 groups, an empty group and NaN inside", () => {
    expectBadInput(() => kruskalWallis([1, 2, 3]), "groups");
    expectBadInput(() => kruskalWallis([1, 2], []), "groups[1]");
    expectBadInput(() => kruskalWallis([1, 2], [3, Number.NaN]), "groups[1][1]");
  });
  it("returns p in [0, 1] on random tied data", () => {
    const random = mulberry32(8);
    for (let trial = 0; trial < 40; trial++) {
      const k = 2 + Math.floor(random() * 4);
      const groups = Array.from({ length: k }, () =>
        Array.from({ length: 1 + Math.floor(random() * 8) }, () => Math.floor(random() * 4)),
      );
      const { p } = kruskalWallis(...groups);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThanOrEqual(1);
    }
  });
});

describe("splitHalfReliability / spearmanBrown / noiseCorrectedR2", () => {
  for (const c of fixture.reliability) {
    it(`matches the SciPy-based reference with the same seeded splits: ${c.name}`, () => {
      const repeats = c.repeats.map((row) => row.map((v) => (v === null ? Number.NaN : v)));
      const res = splitHalfReliability(repeats, { splits: c.splits, seed: c.seed });
      expect(res.splitsUsed).toBe(c.splitsUsed);
      expectStat(res.reliability, c.reliability, "reliability");
      expectStat(res.meanR, c.meanR, "meanR");
    });
  }
  it("is deterministic for a seed and differs between seeds", () => {
    const repeats = fixture.reliability[0].repeats as number[][];
    const a = splitHalfReliability(repeats, { splits: 10, seed: 1 });
    expect(splitHalfReliability(repeats, { splits: 10, seed: 1 })).toEqual(a);
    expect(splitHalfReliability(repeats, { splits: 10, seed: 2 }).reliability).not.toBe(a.reliability);
  });
  it("spearmanBrown is 2r/(1+r), clipped to -1 below r = -1/3", () => {
    expect(spearmanBrown(0.5)).toBeCloseTo(2 / 3, 15);
    expect(spearmanBrown(1)).toBe(1);
    expect(spearmanBrown(0)).toBe(0);
    expect(spearmanBrown(-0.2)).toBeCloseTo(-0.5, 15);
    expect(spearmanBrown(-1)).toBe(-1);
    expectBadInput(() => spearmanBrown(1.2), "r");
  });
  it("skips splits where < 3 stimuli have a value in both halves", () => {
    const nan = Number.NaN;
    // Stimulus 3 only has repeats 0 and 1: splits putting both in one half leave 3 stimuli, the others 4.
    const repeats = [
      [1, 2, 3, 4],
      [5, 6, 5, 7],
      [9, 8, 9, 9],
      [2, 3, nan, nan],
    ];
    const res = splitHalfReliability(repeats, { splits: 20, seed: 4 });
    expect(res.splitsUsed).toBe(20);
    // Only stimulus 0 present in both halves of every split → no usable split.
    expectBadInput(
      () =>
        splitHalfReliability(
          [
            [1, 2],
            [3, nan],
            [nan, 4],
          ],
          { splits: 5 },
        ),
      "repeats",
    );
  });
  it("throws for < 3 stimuli, < 2 repetitions, Infinity, and bad options", () => {
    expectBadInput(() => splitHalfReliability([[1, 2]]), "repeats");
    expectBadInput(() => splitHalfReliability([[1], [2], [3]]), "repeats");
    expectBadInput(
      () =>
        splitHalfReliability([
          [1, 2],
          [3, Number.POSITIVE_INFINITY],
          [1, 1],
        ]),
      "repeats[1][1]",
    );
    const ok = [
      [1, 2],
      [3, 4],
      [5, 7],
    ];
    expectBadInput(() => splitHalfReliability(ok, { splits: 0 }), "options.splits");
    expectBadInput(() => splitHalfReliability(ok, { seed: 0.5 }), "options.seed");
  });
  it("noiseCorrectedR2 divides by the reliability and refuses reliability ≤ 0", () => {
    expect(noiseCorrectedR2(0.3, 0.6)).toBeCloseTo(0.5, 15);
    expectBadInput(() => noiseCorrectedR2(0.3, 0), "reliability");
    expectBadInput(() => noiseCorrectedR2(0.3, -0.2), "reliability");
    expectBadInput(() => noiseCorrectedR2(Number.NaN, 0.5), "r2");
  });
});

describe("netRate / isResponsive", () => {
  it("netRate is the response-window rate minus the baseline rate in spikes/s", () => {
    // 12 spikes in 200 ms = 60/s, 2 spikes in 100 ms = 20/s.
    expect(netRate(12, 200, 2, 100)).toBeCloseTo(40, 12);
    expect(netRate(0, 200, 1.5, 100)).toBeCloseTo(-15, 12);
  });
  it("netRate throws for negative counts and non-positive windows", () => {
    expectBadInput(() => netRate(-1, 200, 2, 100), "responseCount");
    expectBadInput(() => netRate(1, 0, 2, 100), "responseMs");
    expectBadInput(() => netRate(1, 200, Number.NaN, 100), "baselineCount");
    expectBadInput(() => netRate(1, 200, 2, -100), "baselineMs");
  });
  it("isResponsive is true iff some stimulus reaches minRate", () => {
    expect(isResponsive([1, 4.9, -3], 5)).toBe(false);
    expect(isResponsive([1, 5, -3], 5)).toBe(true);
    expectBadInput(() => isResponsive([], 5), "meanNetRates");
    expectBadInput(() => isResponsive([1, Number.NaN], 5), "meanNetRates[1]");
    expectBadInput(() => isResponsive([1], Number.NaN), "minRate");
  });
});
