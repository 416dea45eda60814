// The Nyström-like normalized cut against the exact one on graphs small enough to solve exactly: the top-k
// eigenvector subspaces agree (mean principal-angle cosine) at the default K with m < N, and at the default m (here
// m = N) the result is the exact solve itself.
import { describe, expect, it } from "vitest";
import { type NodeMatrix, unitRows } from "../../analysis/concepts/affinity.ts";
import { gammaForDegree } from "../../analysis/concepts/gamma.ts";
import { principalCosines, subspaceAgreement } from "../../analysis/concepts/metrics.ts";
import { normalizedCut } from "../../analysis/concepts/ncut.ts";
import { NYSTROM_DEFAULTS, nystromNcut } from "../../analysis/concepts/nystrom.ts";
import { farthestPointSample } from "../../analysis/concepts/sampling.ts";
import { mulberry32 } from "../../analysis/random.ts";
import { gaussianSampler } from "./concepts-fixture.ts";

/** n unit rows in d dimensions around `clusters` centres of skewed sizes (noise σ per coordinate). */
function clusteredNodes(n: number, d: number, clusters: number, noise: number, seed: number): NodeMatrix {
  const rnd = mulberry32(seed);
  const gauss = gaussianSampler(rnd);
  const centres = Array.from({ length: clusters }, () => Array.from({ length: d }, gauss));
  const data = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(clusters * rnd() ** 1.5);
    for (let t = 0; t < d; t++) data[i * d + t] = centres[c][t] + noise * gauss();
  }
  return unitRows({ n, d, data });
}

describe("nystromNcut", () => {
  const n = 4000;
  const k = 10;
  const unit = clusteredNodes(n, 16, 14, 0.6, 3);
  const gamma = gammaForDegree(unit);
  const exact = normalizedCut(unit, { k, gamma, solver: "lanczos" });

  it(`agrees with the exact normalized cut with m = ${n / 4} < N = ${n} and the default K`, () => {
    const ny = nystromNcut(unit, { k, gamma, m: n / 4 });
    expect(ny.exact).toBe(false);
    expect(ny.sample.length).toBe(n / 4);
    const cos = principalCosines(exact.vectors, ny.vectors, n, k);
    const mean = cos.reduce((a, b) => a + b, 0) / k;
    // Measured 0.994 here (0.987–0.998 per angle); 0.95 is the bar the issue sets for the subspace agreement.
    expect(mean).toBeGreaterThan(0.95);
    // The leading eigenvectors (clear eigengaps) agree closely.
    expect(cos[0]).toBeGreaterThan(0.99);
    // Eigenvalues of the weighted sampled graph approximate the full graph's.
    for (let j = 0; j < k; j++) expect(Math.abs(ny.values[j] - exact.values[j])).toBeLessThan(0.05);
  }, 60_000);

  it("is the exact solve at the default m when N ≤ m", () => {
    expect(NYSTROM_DEFAULTS).toMatchObject({ m: 10_000, knn: 10 });
    const small = clusteredNodes(1200, 16, 14, 0.6, 4);
    const ny = nystromNcut(small, { k, gamma });
    expect(ny.exact).toBe(true);
    const direct = normalizedCut(small, { k, gamma });
    expect(subspaceAgreement(direct.vectors, ny.vectors, small.n, k)).toBeGreaterThan(1 - 1e-9);
  }, 60_000);

  it("samples farthest points: every prefix covers the space better than a random subset", () => {
    const m = 200;
    const order = farthestPointSample(unit, m);
    expect(new Set(order).size).toBe(m);
    // Coverage radius: the largest distance from any node to its nearest chosen node.
    const radius = (chosen: ArrayLike<number>) => {
      let worst = 0;
      for (let i = 0; i < n; i++) {
        let best = Number.POSITIVE_INFINITY;
        for (let s = 0; s < chosen.length; s++) {
          let dd = 0;
          for (let t = 0; t < unit.d; t++)
            dd += (unit.data[i * unit.d + t] - unit.data[chosen[s] * unit.d + t]) ** 2;
          best = Math.min(best, dd);
        }
        worst = Math.max(worst, best);
      }
      return worst;
    };
    const rnd = mulberry32(9);
    const random = Array.from({ length: m }, () => Math.floor(rnd() * n));
    expect(radius(order)).toBeLessThan(radius(random));
  }, 60_000);
});
