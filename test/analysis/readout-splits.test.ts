// Seeded train/validation/test splits of stimulus ids with the protocol's counts.
import { describe, expect, it } from "vitest";
import { splitStimuli } from "../../analysis/readout/index.ts";

const ids = Array.from({ length: 475 }, (_, i) => `body-${String(i).padStart(3, "0")}`);

describe("splitStimuli", () => {
  it("gives disjoint sets of the requested sizes, with rows that point at the same ids", () => {
    const s = splitStimuli(ids, { train: 400, validation: 50, test: 25 }, 7);
    expect([s.train.length, s.validation.length, s.test.length, s.unused.length]).toEqual([400, 50, 25, 0]);
    expect(new Set([...s.train, ...s.validation, ...s.test]).size).toBe(475);
    expect(s.rows.train.map((r) => ids[r])).toEqual(s.train);
    expect(s.rows.validation.map((r) => ids[r])).toEqual(s.validation);
    expect(s.rows.test.map((r) => ids[r])).toEqual(s.test);
  });

  it("depends on the seed and on the set of ids, not on their order", () => {
    const counts = { train: 100, validation: 20, test: 10 };
    const a = splitStimuli(ids, counts, 7);
    const b = splitStimuli([...ids].reverse(), counts, 7);
    const c = splitStimuli(ids, counts, 8);
    expect(b.train).toEqual(a.train);
    expect(b.test).toEqual(a.test);
    expect(c.train).not.toEqual(a.train);
    expect(a.unused).toHaveLength(475 - 130);
    // Shuffled, not the first ids in order.
    expect(a.train.slice(0, 10)).not.toEqual(ids.slice(0, 10));
  });

  it("refuses counts beyond the stimuli with EPHYS_BAD_SPLIT naming the counts", () => {
    expect(() => splitStimuli(ids.slice(0, 300), { train: 400, validation: 50, test: 25 }, 1)).toThrow(
      expect.objectContaining({
        code: "EPHYS_BAD_SPLIT",
        message: expect.stringMatching(/train 400 \+ validation 50 \+ test 25 = 475 .* only 300 stimuli/),
      }),
    );
    expect(() => splitStimuli(["a", "b", "a"], { train: 1, validation: 1, test: 0 }, 1)).toThrow(
      /"a" appears twice/,
    );
    expect(() => splitStimuli(ids, { train: -1, validation: 1, test: 0 }, 1)).toThrow(/split\.train/);
  });
});
