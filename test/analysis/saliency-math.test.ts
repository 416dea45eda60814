// β reweighting, mass selection and smoothing against NumPy/SciPy (test/reference/saliency_reference.py).
import { describe, expect, it } from "vitest";
import { beta, massSelection } from "../../analysis/saliency/beta.ts";
import { gaussianSmooth, l2Norm, unitNorm } from "../../analysis/saliency/smooth.ts";
import { neuronSimilarity } from "../../analysis/similarity.ts";
import { loadSaliencyFixture } from "./saliency-fixture.ts";

const fx = loadSaliencyFixture();

describe("beta (eq. 5)", () => {
  it("matches NumPy's β and sums to s (eq. 2)", () => {
    const aOut = fx.array("a0").data;
    const aIn = fx.array("a1").data;
    const b = beta(aIn, aOut, fx.weights);
    const ref = fx.array("beta").data;
    for (let i = 0; i < ref.length; i++) expect(b[i]).toBeCloseTo(ref[i], 6);
    expect(b.reduce((x, y) => x + y, 0)).toBeCloseTo(fx.s, 6);
    expect(neuronSimilarity(aIn, aOut, fx.weights)).toBeCloseTo(fx.s, 6);
  });

  it("is symmetric in the two images, zero when a weighted vector is zero, and rejects mismatched lengths", () => {
    const a = [1, 0, 2];
    const c = [0.5, 3, 1];
    const w = [1, -2, 0.5];
    expect(Array.from(beta(a, c, w))).toEqual(Array.from(beta(c, a, w)));
    expect(Array.from(beta([0, 0, 0], c, w))).toEqual([0, 0, 0]);
    expect(() => beta([1], c, w)).toThrow(expect.objectContaining({ code: "EPHYS_BAD_SALIENCY" }));
  });
});

describe("massSelection", () => {
  it("keeps the same features as the NumPy reference, with the same dropped mass ≤ ε·s", () => {
    const b = fx.array("beta").data;
    for (const c of fx.cases) {
      const sel = massSelection(b, fx.s, c.epsilon);
      expect(sel.indices, c.name).toEqual(c.indices);
      expect(sel.dropped).toBeCloseTo(c.dropped, 6);
      expect(sel.dropped).toBeLessThanOrEqual(c.epsilon * fx.s);
    }
  });

  it("is the smallest such set: dropping one more feature exceeds ε·s", () => {
    const b = fx.array("beta").data;
    for (const eps of [0.001, 0.01, 0.1, 0.5]) {
      const sel = massSelection(b, fx.s, eps);
      const last = sel.indices.at(-1)!;
      expect(sel.dropped + Math.abs(b[last])).toBeGreaterThan(eps * fx.s);
    }
  });

  it("drops zero β for free, keeps everything nonzero at ε = 0, and rejects ε outside [0, 1)", () => {
    expect(massSelection([0, 0.5, 0, 0.25], 0.75, 0)).toEqual({ indices: [1, 3], dropped: 0, threshold: 0 });
    expect(massSelection([0, 0, 0], 0, 0.01).indices).toEqual([]);
    expect(() => massSelection([1], 1, 1)).toThrow(expect.objectContaining({ code: "EPHYS_BAD_SALIENCY" }));
    expect(() => massSelection([1], 1, -0.1)).toThrow(/epsilon: expected a number in \[0, 1\)/);
  });
});

describe("gaussianSmooth", () => {
  it("matches scipy.ndimage.gaussian_filter(sigma=(σ, σ, 0), mode='reflect') incl. kernels wider than the image", () => {
    const noise = fx.array("noise");
    const [h, w] = noise.shape;
    for (const { sigma, array } of fx.smooth) {
      const ref = fx.array(array).data;
      const got = gaussianSmooth(noise.data, h, w, sigma);
      let maxErr = 0;
      for (let i = 0; i < ref.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i] - ref[i]));
      expect(maxErr, `σ = ${sigma}`).toBeLessThan(1e-6);
    }
  });

  it("σ = 0 copies; rejects wrong sizes and negative σ", () => {
    const img = Float32Array.from({ length: 12 }, (_, i) => i);
    expect(Array.from(gaussianSmooth(img, 2, 2, 0))).toEqual(Array.from(img));
    expect(() => gaussianSmooth(img, 3, 2, 1)).toThrow(RangeError);
    expect(() => gaussianSmooth(img, 2, 2, -1)).toThrow(/sigma/);
  });
});

describe("unitNorm", () => {
  it("scales to norm 1 and leaves a zero vector at zero", () => {
    expect(l2Norm(unitNorm([3, 4, 0]))).toBeCloseTo(1, 12);
    expect(Array.from(unitNorm([0, 0]))).toEqual([0, 0]);
  });
});
