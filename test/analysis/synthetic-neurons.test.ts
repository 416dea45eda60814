// Synthetic category-selective neurons: the top eigenvector of A_inᵀA_in − A_outᵀA_out against NumPy's eigh,
// and a dense Jacobi decomposition for a larger C; the neuron's rates; sparse ground-truth readouts.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../analysis/random.ts";
import { extractAtLocation } from "../../analysis/readout/index.ts";
import {
  categoryTopEigenvector,
  jacobiEigenSymmetric,
  sparseGroundTruthReadout,
  syntheticCategoryNeuron,
  syntheticFeatureMaps,
} from "../../analysis/synthetic-neurons.ts";

const ref = JSON.parse(
  readFileSync(new URL("../fixtures/readout/readout_reference.json", import.meta.url), "utf8"),
).category_eigen;

describe("categoryTopEigenvector", () => {
  it("matches numpy.linalg.eigh's top eigenpair, signed so that in-category drive is positive", () => {
    const top = categoryTopEigenvector(Float32Array.from(ref.a_in), Float32Array.from(ref.a_out), ref.c);
    expect(top.value).toBeCloseTo(ref.value, 4);
    for (const [i, v] of (ref.vector as number[]).entries()) expect(top.vector[i]).toBeCloseTo(v, 5);
    expect(ref.value - ref.second).toBeGreaterThan(0); // a simple top eigenvalue, so the vector is unique
  });

  it("matches a dense Jacobi decomposition of the explicit matrix for C = 96 (Krylov restarts included)", () => {
    const c = 96;
    const random = mulberry32(11);
    const aIn = Float32Array.from({ length: 40 * c }, () => Math.max(0, random() - 0.3));
    const aOut = Float32Array.from({ length: 70 * c }, () => Math.max(0, random() - 0.35));
    const m = new Float64Array(c * c);
    const add = (a: Float32Array, sign: number) => {
      for (let r = 0; r < a.length / c; r++) {
        for (let i = 0; i < c; i++)
          for (let j = 0; j < c; j++) m[i * c + j] += sign * a[r * c + i] * a[r * c + j];
      }
    };
    add(aIn, 1);
    add(aOut, -1);
    const dense = jacobiEigenSymmetric(m, c);
    let top = 0;
    for (let i = 1; i < c; i++) if (dense.values[i] > dense.values[top]) top = i;
    const got = categoryTopEigenvector(aIn, aOut, c);
    expect(got.value).toBeCloseTo(dense.values[top], 3);
    let dot = 0;
    for (let i = 0; i < c; i++) dot += got.vector[i] * dense.vectors[i * c + top];
    expect(Math.abs(dot)).toBeCloseTo(1, 6);
  });
});

describe("syntheticCategoryNeuron", () => {
  const features = syntheticFeatureMaps(120, 7, 7, 32, 4);
  // "In category": images whose features 0 and 1 are strong at the location (a feature-defined category).
  const loc: [number, number] = [0.2, -0.1];
  const a = extractAtLocation(features, loc);
  const strength = Array.from({ length: 120 }, (_, i) => a[i * 32] + a[i * 32 + 1]);
  const cut = [...strength].sort((x, y) => y - x)[35]; // the strongest 35 images form the category
  const inCategory = strength.map((v) => v > cut);

  it("fires more for in-category images, within [baseline, peak] with the peak reached", () => {
    const neuron = syntheticCategoryNeuron(features, inCategory, {
      seed: 3,
      location: loc,
      baselineRate: 8,
      peakRate: 60,
    });
    const mean = (sel: boolean) => {
      const v = Array.from(neuron.rates).filter((_, i) => inCategory[i] === sel);
      return v.reduce((s, x) => s + x, 0) / v.length;
    };
    expect(inCategory.filter(Boolean).length).toBe(35);
    expect(mean(true)).toBeGreaterThan(mean(false) + 5);
    expect(Math.min(...neuron.rates)).toBeGreaterThanOrEqual(8);
    expect(Math.max(...neuron.rates)).toBeCloseTo(60, 4);
    // Unit weight vector.
    expect(Math.hypot(...neuron.readout.weights)).toBeCloseTo(1, 5);
  });

  it("rejects category flags that do not match the images", () => {
    expect(() => syntheticCategoryNeuron(features, [true], { seed: 1 })).toThrow(/expected 120 flags/);
  });
});

describe("sparseGroundTruthReadout", () => {
  it("has exactly `nonzero` weights of magnitude ≥ 0.5, a location inside [−0.8, 0.8]², and is seeded", () => {
    const r = sparseGroundTruthReadout(256, 12, 42);
    const nz = Array.from(r.weights).filter((v) => v !== 0);
    expect(nz).toHaveLength(12);
    expect(Math.min(...nz.map(Math.abs))).toBeGreaterThanOrEqual(0.5);
    expect(Math.max(...r.location.map(Math.abs))).toBeLessThanOrEqual(0.8);
    expect(sparseGroundTruthReadout(256, 12, 42)).toEqual(r);
    expect(sparseGroundTruthReadout(256, 12, 43).location).not.toEqual(r.location);
    expect(() => sparseGroundTruthReadout(8, 9, 1)).toThrow(/nonzero/);
  });
});
