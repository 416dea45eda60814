// analysis/fragments/causal-test.ts on constructed responses: U, effects and verdicts by hand, the p-value's
// role in the verdict, the null cases, and the across-channel signed-rank test.
import { describe, expect, it } from "vitest";
import { acrossChannels, causalTest } from "../../analysis/fragments/index.ts";
import { expectBadInput } from "./expect-bad-input.ts";

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe("causalTest", () => {
  const highlighted = range(30, 10); // 30 … 39, mean 34.5
  const random = range(0, 20); // 0 … 19, mean 9.5
  const complement = [5, 6, 7]; // mean 6
  const full = [8, 10, 12]; // mean 10

  it("a clear difference: U = n·m, a small p, 'highlighted drives more' and the effects by hand", () => {
    const r = causalTest({ highlighted, random, complement, full }, 0.05);
    expect(r.vsRandom?.U).toBe(10 * 20); // every highlighted trial above every random one
    expect(r.vsRandom?.p).toBeLessThan(1e-4);
    expect(r.vsComplement?.U).toBe(10 * 3);
    expect(r.effect).toBeCloseTo((34.5 - 9.5) / 10, 12);
    expect(r.effectComplement).toBeCloseTo((34.5 - 6) / 10, 12);
    expect(r.verdict).toBe("highlighted drives more");
    expect(r.means).toEqual({ highlighted: 34.5, random: 9.5, complement: 6, full: 10 });
  });

  it("the other way round: U = 0 and 'highlighted drives less', effects negative", () => {
    const r = causalTest({ highlighted: random, random: highlighted, complement, full }, 0.05);
    expect(r.vsRandom?.U).toBe(0);
    expect(r.vsRandom?.p).toBeLessThan(1e-4);
    expect(r.effect).toBeCloseTo(-2.5, 12);
    expect(r.verdict).toBe("highlighted drives less");
  });

  it("identical responses: U = n·m/2, p = 1, 'no difference', effect 0", () => {
    const same = range(1, 10);
    const r = causalTest({ highlighted: same, random: same, complement: same, full }, 0.05);
    expect(r.vsRandom?.U).toBe(50);
    expect(r.vsRandom?.p).toBe(1);
    expect(r.effect).toBe(0);
    expect(r.effectComplement).toBe(0);
    expect(r.verdict).toBe("no difference");
  });

  it("decides by p against alpha, not by the means: 3 vs 3 fully separated is p = 2/20 exactly", () => {
    const responses = { highlighted: [5, 6, 7], random: [1, 2, 3], full: [4] };
    const strict = causalTest(responses, 0.05);
    expect(strict.vsRandom).toEqual({ U: 9, p: 0.1, method: "exact" });
    expect(strict.verdict).toBe("no difference");
    expect(causalTest(responses, 0.2).verdict).toBe("highlighted drives more");
  });

  it("scales the effect by |mean full| and gives null without full trials or with a zero mean", () => {
    expect(causalTest({ highlighted, random, full: [-10] }).effect).toBeCloseTo(2.5, 12);
    expect(causalTest({ highlighted, random, full: [-1, 1] }).effect).toBeNull();
    const bare = causalTest({ highlighted, random });
    expect(bare.effect).toBeNull();
    expect(bare.effectComplement).toBeNull();
    expect(bare.vsComplement).toBeNull();
    expect(bare.means.full).toBeNull();
    expect(bare.verdict).toBe("highlighted drives more"); // default alpha 0.05
  });

  it("without highlighted or random trials: 'not tested', vsRandom and the effect null, the rest still computed", () => {
    const noRandom = causalTest({ highlighted, random: [], complement, full });
    expect(noRandom.verdict).toBe("not tested");
    expect(noRandom.vsRandom).toBeNull();
    expect(noRandom.effect).toBeNull();
    expect(noRandom.means.random).toBeNull();
    expect(noRandom.vsComplement?.U).toBe(30);
    expect(noRandom.effectComplement).toBeCloseTo(2.85, 12);
    const noHighlighted = causalTest({ highlighted: [], random, complement, full });
    expect(noHighlighted).toMatchObject({
      verdict: "not tested",
      vsRandom: null,
      vsComplement: null,
      effect: null,
    });
    expect(noHighlighted.effectComplement).toBeNull();
  });

  it("rejects non-arrays, non-finite rates and alpha outside (0, 1)", () => {
    expectBadInput(
      () => causalTest({ highlighted: undefined as unknown as number[], random }),
      "highlighted",
    );
    expectBadInput(() => causalTest({ highlighted, random: [1, Number.NaN] }), "random[1]");
    expectBadInput(() => causalTest({ highlighted, random, full: [Number.POSITIVE_INFINITY] }), "full[0]");
    expectBadInput(() => causalTest({ highlighted, random }, 0), "alpha");
    expectBadInput(() => causalTest({ highlighted, random }, 1), "alpha");
  });
});

describe("acrossChannels", () => {
  it("10 positive effects (a null dropped): exact signed-rank p = 2/2^10", () => {
    const r = acrossChannels([0.5, 1.2, 0.3, null, 2.0, 0.8, 1.1, 0.4, 0.9, 1.5, 0.7]);
    expect(r).toEqual({ statistic: 0, p: 2 / 1024, n: 10, method: "exact" });
  });

  it("effects balanced around 0: p = 1", () => {
    const r = acrossChannels([1, -1, 2, -2]);
    expect(r.statistic).toBe(5);
    expect(r.p).toBe(1);
  });

  it("rejects no usable effect and non-finite effects, naming the entry", () => {
    expectBadInput(() => acrossChannels([null, null]), "effects");
    expectBadInput(() => acrossChannels([0, null, 0]), "effects");
    expectBadInput(() => acrossChannels([0.5, null, Number.NaN]), "effects[2]");
  });
});
