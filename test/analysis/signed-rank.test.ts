// wilcoxonSignedRank against SciPy 1.10 fixtures (test/reference/signed_rank_reference.py), plus its documented
// choices: the "auto" rule (where it departs from SciPy 1.10's on tied |d|) and the degenerate-input policy.
//
// Tolerances: statistic and p relative 1e-9 (absolute floor 1e-15), exact and asymptotic paths alike.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  SIGNED_RANK_EXACT_MAX,
  type SignedRankMethod,
  wilcoxonSignedRank,
} from "../../analysis/stats/index.ts";
import { expectBadInput } from "./expect-bad-input.ts";

interface Ref {
  statistic: number;
  p: number;
}
interface Fixture {
  scipy: string;
  cases: {
    name: string;
    x: number[];
    y: number[] | null;
    n: number;
    zeros: number;
    ties: boolean;
    method: "exact" | "asymptotic";
    expected: Ref;
    scipyAutoMethod: "exact" | "asymptotic";
    scipyAuto: Ref;
  }[];
}

const fixture = JSON.parse(
  readFileSync(new URL("../fixtures/stats/signed_rank_reference.json", import.meta.url), "utf8"),
) as Fixture;

function expectClose(actual: number, expected: number, what: string): void {
  const tol = Math.max(1e-15, 1e-9 * Math.abs(expected));
  if (!(Math.abs(actual - expected) <= tol)) {
    throw new Error(
      `${what}: ${actual} vs SciPy ${expected} (|Δ| = ${Math.abs(actual - expected)} > ${tol})`,
    );
  }
}

describe("fixture", () => {
  it("comes from Debian's SciPy 1.10 (the 'auto' rule compared here is 1.10's) and covers both paths", () => {
    expect(fixture.scipy).toMatch(/^1\.10\./);
    expect(fixture.cases.length).toBeGreaterThanOrEqual(12);
    expect(fixture.cases.some((c) => c.method === "exact" && c.n > 25)).toBe(true);
    expect(fixture.cases.some((c) => c.ties)).toBe(true);
    expect(fixture.cases.some((c) => c.zeros > 0)).toBe(true);
    expect(fixture.cases.some((c) => c.y !== null)).toBe(true);
  });
});

describe("wilcoxonSignedRank matches scipy.stats.wilcoxon(zero_method='wilcox', correction=False)", () => {
  for (const c of fixture.cases) {
    it(`${c.name}: ${c.method}`, () => {
      const r = wilcoxonSignedRank(c.x, c.y ?? undefined);
      expect(r.method).toBe(c.method);
      expect(r.n).toBe(c.n);
      expectClose(r.statistic, c.expected.statistic, `${c.name} statistic`);
      expectClose(r.p, c.expected.p, `${c.name} p`);
      // Where SciPy 1.10's own "auto" picks the same path, its answer is ours too.
      if (c.scipyAutoMethod === c.method) expectClose(r.p, c.scipyAuto.p, `${c.name} p (SciPy auto)`);
      // The explicitly named path gives the same answer as "auto"'s choice.
      const again = wilcoxonSignedRank(c.x, c.y ?? undefined, { method: c.method });
      expect(again).toEqual(r);
    });
  }

  it("departs from SciPy 1.10's 'auto' only on tied |d| without zeros (normal approximation, not a truncated W+)", () => {
    const departs = fixture.cases.filter((c) => c.scipyAutoMethod !== c.method);
    expect(departs.length).toBeGreaterThan(0);
    for (const c of departs) {
      expect(c.ties && c.zeros === 0 && c.x.length <= SIGNED_RANK_EXACT_MAX).toBe(true);
      expect(wilcoxonSignedRank(c.x, c.y ?? undefined).method).toBe("asymptotic");
    }
  });
});

describe("wilcoxonSignedRank by hand", () => {
  it("n = 3 all positive: W− = 0, p = 2·(1/8)", () => {
    const r = wilcoxonSignedRank([1, 2, 3]);
    expect(r).toEqual({ statistic: 0, p: 0.25, n: 3, method: "exact" });
  });

  it("is symmetric in the sign of d and equals the one-sample test of x − y", () => {
    const x = [3.1, 0.4, -1.2, 2.2, 5.0, 0.9, -0.3];
    const y = [1.0, 0.5, 0.1, 0.2, 1.1, -0.4, 0.6];
    const d = x.map((v, i) => v - y[i]);
    expect(wilcoxonSignedRank(x, y)).toEqual(wilcoxonSignedRank(d));
    expect(wilcoxonSignedRank(y, x)).toEqual(wilcoxonSignedRank(d.map((v) => -v)));
    expect(wilcoxonSignedRank(y, x).p).toBe(wilcoxonSignedRank(x, y).p);
  });

  it("uses the exact distribution for n > 25 without ties or zeros (up to 50 differences)", () => {
    const d = Array.from({ length: SIGNED_RANK_EXACT_MAX }, (_, i) => (i % 3 === 0 ? -(i + 1) : i + 1));
    expect(wilcoxonSignedRank(d).method).toBe("exact");
    expect(wilcoxonSignedRank([...d, 51]).method).toBe("asymptotic");
  });
});

describe("wilcoxonSignedRank input policy", () => {
  it("rejects empty, non-finite and mismatched input, and all-zero differences", () => {
    expectBadInput(() => wilcoxonSignedRank([]), "x");
    expectBadInput(() => wilcoxonSignedRank([1, Number.NaN]), "x[1]");
    expectBadInput(() => wilcoxonSignedRank([1, 2], [Number.POSITIVE_INFINITY, 1]), "y[0]");
    expectBadInput(() => wilcoxonSignedRank([1, 2], [1]), "y");
    expectBadInput(() => wilcoxonSignedRank([0, 0]), "x");
    expectBadInput(() => wilcoxonSignedRank([1, 2], [1, 2]), "x − y");
  });

  it("rejects a bad method, and 'exact' with zeros or ties", () => {
    expectBadInput(
      () => wilcoxonSignedRank([1, 2], undefined, { method: "z" as SignedRankMethod }),
      "options.method",
    );
    expectBadInput(() => wilcoxonSignedRank([0, 1, 2], undefined, { method: "exact" }), "options.method");
    expectBadInput(() => wilcoxonSignedRank([1, -1, 2], undefined, { method: "exact" }), "options.method");
  });
});
