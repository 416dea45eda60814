// The symmetric eigensolvers and the exact normalized cut against scipy.linalg.eigh
// (test/reference/concepts_reference.py → test/fixtures/concepts/concepts_reference.json).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { matrixOperator, normalizedAffinity, unitRows } from "../../analysis/concepts/affinity.ts";
import { fixSigns, lanczosTopK, symmetricEigen } from "../../analysis/concepts/eigen.ts";
import { subspaceAgreement } from "../../analysis/concepts/metrics.ts";
import { normalizedCut } from "../../analysis/concepts/ncut.ts";

const ref = JSON.parse(
  readFileSync(join(import.meta.dirname, "..", "fixtures", "concepts", "concepts_reference.json"), "utf8"),
);
const g = ref.graph;
const features = { n: g.n, d: g.d, data: Float32Array.from(g.features) };

/** Largest |v·(±u)| mismatch of each column after matching signs; columns of two n × k node-major blocks. */
function columnError(a: Float64Array | number[], b: Float64Array | number[], n: number, k: number): number {
  let worst = 0;
  for (let j = 0; j < k; j++) {
    let dotAB = 0;
    for (let i = 0; i < n; i++) dotAB += a[i * k + j] * b[i * k + j];
    const s = Math.sign(dotAB) || 1;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(a[i * k + j] - s * b[i * k + j]));
  }
  return worst;
}

describe("symmetricEigen (tred2 + tql2)", () => {
  it("matches scipy.linalg.eigh on a symmetric matrix with eigenvalues of both signs", () => {
    const { n } = ref.dense;
    const r = symmetricEigen(Float64Array.from(ref.dense.matrix), n);
    for (let j = 0; j < n; j++) expect(r.values[j]).toBeCloseTo(ref.dense.values[j], 11);
    expect(columnError(r.vectors, ref.dense.vectors, n, n)).toBeLessThan(1e-9);
    // Orthonormal: VᵀV = I.
    let off = 0;
    for (let a = 0; a < n; a++)
      for (let b = 0; b < n; b++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += r.vectors[i * n + a] * r.vectors[i * n + b];
        off = Math.max(off, Math.abs(s - (a === b ? 1 : 0)));
      }
    expect(off).toBeLessThan(1e-12);
  });

  it("handles a diagonal matrix and a 1 × 1 matrix", () => {
    const r = symmetricEigen(Float64Array.from([3, 0, 0, 0, -1, 0, 0, 0, 2]), 3);
    expect(Array.from(r.values)).toEqual([3, 2, -1]);
    expect(symmetricEigen(Float64Array.from([5]), 1).values[0]).toBe(5);
  });
});

describe("normalized cut of a graph (exact solvers)", () => {
  const unit = unitRows(features);

  it("builds D and M = D^-½ A D^-½ as SciPy does", () => {
    const na = normalizedAffinity(unit, g.gamma, { precision: 64 });
    for (let i = 0; i < g.n; i++) expect(na.degree[i]).toBeCloseTo(g.degree[i], 9);
  });

  for (const solver of ["dense", "lanczos", "matrix-free"] as const) {
    it(`${solver}: top-${g.k} eigenpairs agree with scipy.linalg.eigh`, () => {
      const r = normalizedCut(unit, { k: g.k, gamma: g.gamma, solver });
      expect(r.solver).toBe(solver);
      // float32 storage of M (lanczos) limits agreement to ~1e-7 relative.
      const digits = solver === "lanczos" ? 6 : 10;
      for (let j = 0; j < g.k; j++) expect(r.values[j]).toBeCloseTo(g.values[j], digits);
      expect(columnError(r.vectors, g.vectors, g.n, g.k)).toBeLessThan(solver === "lanczos" ? 1e-5 : 1e-8);
      expect(subspaceAgreement(r.vectors, Float64Array.from(g.vectors), g.n, g.k)).toBeGreaterThan(1 - 1e-9);
      // The sign convention: most entries of every eigenvector positive.
      for (let j = 0; j < g.k; j++) {
        let pos = 0;
        for (let i = 0; i < g.n; i++) pos += r.vectors[i * g.k + j] > 0 ? 1 : 0;
        expect(pos).toBeGreaterThanOrEqual(g.n / 2);
      }
    });
  }

  it("Lanczos restarts when the basis is small and still converges to the SciPy eigenpairs", () => {
    const na = normalizedAffinity(unit, g.gamma, { precision: 64 });
    const r = lanczosTopK(matrixOperator(na), g.k, { maxBasis: g.k + 4, tol: 1e-10 });
    expect(r.restarts).toBeGreaterThan(0);
    for (let j = 0; j < g.k; j++) expect(r.values[j]).toBeCloseTo(g.values[j], 10);
    fixSigns(r.vectors, g.n, g.k);
    expect(columnError(r.vectors, g.vectors, g.n, g.k)).toBeLessThan(1e-7);
    for (const res of r.residuals) expect(res).toBeLessThanOrEqual(1e-10);
  });

  it("refuses a bad k and a bad solver with EPHYS_BAD_CONCEPTS", () => {
    expect(() => normalizedCut(unit, { k: 0 })).toThrow(
      expect.objectContaining({ code: "EPHYS_BAD_CONCEPTS" }),
    );
    expect(() => normalizedCut(unit, { solver: "qr" as "dense" })).toThrow(/solver: expected/);
  });

  it("stops with EPHYS_ABORTED when aborted", () => {
    const ac = new AbortController();
    ac.abort();
    expect(() => normalizedCut(unit, { solver: "lanczos", signal: ac.signal })).toThrow(
      expect.objectContaining({ code: "EPHYS_ABORTED" }),
    );
  });
});
