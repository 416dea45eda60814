// Agreement measures for concept embeddings: principal angles between eigenvector subspaces, best-threshold
// accuracy of a score against a binary mask, and the adjusted Rand index of two labelings.
import { symmetricEigen } from "./eigen.ts";
import { ConceptError } from "./errors.ts";

/** Orthonormal columns spanning the n × k node-major block (modified Gram–Schmidt, twice). */
export function orthonormalColumns(a: Float64Array, n: number, k: number): Float64Array {
  const q = Float64Array.from(a);
  for (let j = 0; j < k; j++) {
    for (let pass = 0; pass < 2; pass++)
      for (let p = 0; p < j; p++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += q[i * k + p] * q[i * k + j];
        for (let i = 0; i < n; i++) q[i * k + j] -= s * q[i * k + p];
      }
    let s = 0;
    for (let i = 0; i < n; i++) s += q[i * k + j] * q[i * k + j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let i = 0; i < n; i++) q[i * k + j] *= inv;
  }
  return q;
}

/**
 * Cosines of the principal angles between span(a) and span(b) (both n × k node-major), descending: the singular
 * values of Q_aᵀ Q_b (Björck & Golub 1973).
 */
export function principalCosines(a: Float64Array, b: Float64Array, n: number, k: number): Float64Array {
  if (a.length !== n * k || b.length !== n * k)
    throw new ConceptError(
      "EPHYS_BAD_CONCEPTS",
      `principalCosines: expected two n·k = ${n * k} blocks; found ${a.length} and ${b.length}`,
    );
  const qa = orthonormalColumns(a, n, k);
  const qb = orthonormalColumns(b, n, k);
  const c = new Float64Array(k * k);
  for (let i = 0; i < n; i++)
    for (let p = 0; p < k; p++) {
      const x = qa[i * k + p];
      if (x === 0) continue;
      for (let q = 0; q < k; q++) c[p * k + q] += x * qb[i * k + q];
    }
  // σ² = eigenvalues of CᵀC.
  const ctc = new Float64Array(k * k);
  for (let p = 0; p < k; p++)
    for (let q = 0; q < k; q++) {
      let s = 0;
      for (let r = 0; r < k; r++) s += c[r * k + p] * c[r * k + q];
      ctc[p * k + q] = s;
    }
  return Float64Array.from(symmetricEigen(ctc, k).values, (v) => Math.sqrt(Math.min(1, Math.max(0, v))));
}

/** Mean principal-angle cosine between two k-dimensional subspaces (1 = identical). */
export function subspaceAgreement(a: Float64Array, b: Float64Array, n: number, k: number): number {
  const c = principalCosines(a, b, n, k);
  return c.reduce((s, v) => s + v, 0) / k;
}

/**
 * The best accuracy of any threshold rule (score > t ⇒ label, either polarity) at predicting a binary mask;
 * entries with mask = null are skipped. Chance level is the majority class fraction.
 */
export function bestThresholdAccuracy(score: ArrayLike<number>, mask: ArrayLike<boolean | null>): number {
  const items: Array<[number, boolean]> = [];
  for (let i = 0; i < score.length; i++) {
    const m = mask[i];
    if (m !== null) items.push([score[i], m]);
  }
  if (items.length === 0)
    throw new ConceptError("EPHYS_BAD_CONCEPTS", "bestThresholdAccuracy: no labelled entry");
  items.sort((x, y) => x[0] - y[0]);
  const positives = items.filter((x) => x[1]).length;
  const n = items.length;
  // Threshold below everything: predict all positive (accuracy positives/n) or all negative.
  let best = Math.max(positives, n - positives);
  let posBelow = 0;
  for (let i = 0; i < n; i++) {
    if (items[i][1]) posBelow++;
    if (i + 1 < n && items[i + 1][0] === items[i][0]) continue;
    const negBelow = i + 1 - posBelow;
    const posAbove = positives - posBelow;
    const negAbove = n - positives - negBelow;
    // "above ⇒ positive" is right on posAbove + negBelow; the reverse on posBelow + negAbove.
    best = Math.max(best, posAbove + negBelow, posBelow + negAbove);
  }
  return best / n;
}

/** Adjusted Rand index of two labelings of the same items (Hubert & Arabie 1985). */
export function adjustedRand(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length)
    throw new ConceptError("EPHYS_BAD_CONCEPTS", `adjustedRand: ${a.length} vs ${b.length} labels`);
  const n = a.length;
  const table = new Map<string, number>();
  const ra = new Map<number, number>();
  const rb = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const key = `${a[i]},${b[i]}`;
    table.set(key, (table.get(key) ?? 0) + 1);
    ra.set(a[i], (ra.get(a[i]) ?? 0) + 1);
    rb.set(b[i], (rb.get(b[i]) ?? 0) + 1);
  }
  const c2 = (x: number) => (x * (x - 1)) / 2;
  let index = 0;
  for (const v of table.values()) index += c2(v);
  let sa = 0;
  for (const v of ra.values()) sa += c2(v);
  let sb = 0;
  for (const v of rb.values()) sb += c2(v);
  const expected = (sa * sb) / c2(n);
  const max = (sa + sb) / 2;
  return max === expected ? 1 : (index - expected) / (max - expected);
}
