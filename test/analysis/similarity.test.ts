// Neuron-specific similarity s(x1, x2) = <a1⊙w, a2⊙w>/(‖a1⊙w‖‖a2⊙w‖) (Lappe et al. 2024, eq. 2), against NumPy.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../analysis/random.ts";
import { neuronSimilarity, similarityToReference } from "../../analysis/similarity.ts";

const ref = JSON.parse(
  readFileSync(new URL("../fixtures/readout/readout_reference.json", import.meta.url), "utf8"),
).similarity;

describe("neuronSimilarity", () => {
  const { a1, a2, w } = ref as { a1: number[]; a2: number[]; w: number[] };

  it("matches the NumPy value", () => {
    expect(neuronSimilarity(a1, a2, w)).toBeCloseTo(ref.s, 12);
  });

  it("is symmetric, 1 for identical images, and invariant to scaling features or weights", () => {
    expect(neuronSimilarity(a2, a1, w)).toBeCloseTo(neuronSimilarity(a1, a2, w), 14);
    expect(neuronSimilarity(a1, a1, w)).toBeCloseTo(1, 14);
    const s = neuronSimilarity(a1, a2, w);
    expect(
      neuronSimilarity(
        a1.map((v) => 3.5 * v),
        a2,
        w,
      ),
    ).toBeCloseTo(s, 12);
    expect(
      neuronSimilarity(
        a1,
        a2,
        w.map((v) => -0.2 * v),
      ),
    ).toBeCloseTo(s, 12);
  });

  it("weights features by w²: features the channel ignores do not count", () => {
    const wOne = w.map((_, i) => (i === 3 ? 1 : 0));
    expect(neuronSimilarity(a1, a2, wOne)).toBeCloseTo(1, 12); // both positive on feature 3
    expect(neuronSimilarity(a1, new Array(a1.length).fill(0), w)).toBe(0);
  });

  it("similarityToReference gives the pairwise value for every row", () => {
    const random = mulberry32(3);
    const rows = Float32Array.from({ length: 5 * w.length }, () => random());
    const out = similarityToReference(rows, a1, w);
    for (let r = 0; r < 5; r++) {
      expect(out[r]).toBeCloseTo(neuronSimilarity(rows.subarray(r * w.length, (r + 1) * w.length), a1, w), 6);
    }
    expect(() => neuronSimilarity([1, 2], [1, 2, 3], [1, 1])).toThrow(
      expect.objectContaining({ code: "EPHYS_BAD_FEATURES" }),
    );
  });
});
