// Numerics of the Cowley V4 check (readout-cowley-v4.slow.test.ts), test-local: the data set's .npy reader, average
// pooling, the dual-form ridge, medians and numpy's percentile, the split-half halves as analysis/stats draws them,
// and a paired bootstrap of the median noise-corrected R² over test images and over neurons. Checked against
// SciPy/numpy by test/reference/cowley_ridge_reference.py (ridge, fixture) and cowley_bootstrap_reference.py (the
// rest, on the real data, from inside the slow test).
import * as tf from "@tensorflow/tfjs-core";
import { mulberry32, randomInt, shuffleInPlace } from "../../analysis/random.ts";
import type { FeatureMaps } from "../../analysis/readout/index.ts";

/** A '<f8' C-order .npy (the data set's format; analysis/features' decodeNpy reads '<f4' only). */
export function readNpyFloat64(buf: Buffer): { shape: number[]; data: Float64Array } {
  const headerLength = buf.readUInt16LE(8);
  const header = buf.subarray(10, 10 + headerLength).toString("latin1");
  if (!/'descr':\s*'<f8'/.test(header) || !/'fortran_order':\s*False/.test(header)) {
    throw new Error(`responses: npy header ${header.trim()}; expected '<f8', C order`);
  }
  const shape = /'shape':\s*\(([^)]*)\)/
    .exec(header)![1]
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(count);
  for (let i = 0; i < count; i++) data[i] = buf.readDoubleLE(10 + headerLength + 8 * i);
  return { shape, data };
}

/** Average pool of NHWC maps by f × f (f = h = w: global average pool). */
export function poolMaps(m: FeatureMaps, f: number): FeatureMaps {
  const h2 = Math.floor(m.h / f);
  const w2 = Math.floor(m.w / f);
  const out = new Float32Array(m.n * h2 * w2 * m.c);
  const s = 1 / (f * f);
  for (let i = 0; i < m.n; i++) {
    for (let y = 0; y < h2 * f; y++) {
      for (let x = 0; x < w2 * f; x++) {
        const src = ((i * m.h + y) * m.w + x) * m.c;
        const dst = ((i * h2 + Math.floor(y / f)) * w2 + Math.floor(x / f)) * m.c;
        for (let j = 0; j < m.c; j++) out[dst + j] += s * m.data[src + j];
      }
    }
  }
  return { n: m.n, h: h2, w: w2, c: m.c, data: out };
}

/** Column means (float64) of the `rows` of X [n, d]. */
export function columnMeans(x: Float32Array, d: number, rows: readonly number[]): Float64Array {
  const m = new Float64Array(d);
  for (const r of rows) for (let j = 0; j < d; j++) m[j] += x[r * d + j];
  for (let j = 0; j < d; j++) m[j] /= rows.length;
  return m;
}

/**
 * Gram matrix K = (X − 1μᵀ)(X − 1μᵀ)ᵀ (float64 sums of float32 tfjs products over column chunks) of the flattened
 * rows of X [n, d]; μ = 0 unless given. Centering on the fit rows first keeps float32 products from losing the
 * small centered Gram to cancellation (kernelRidge's own centering then corrects in float64).
 */
export function gram(x: Float32Array, n: number, d: number, mu?: ArrayLike<number>): Float64Array {
  const K = new Float64Array(n * n);
  const chunk = 4096;
  for (let c0 = 0; c0 < d; c0 += chunk) {
    const cw = Math.min(chunk, d - c0);
    const block = new Float32Array(n * cw);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < cw; j++) block[i * cw + j] = x[i * d + c0 + j] - (mu ? mu[c0 + j] : 0);
    }
    const k = tf.tidy(() => {
      const b = tf.tensor2d(block, [n, cw]);
      return tf.matMul(b, tf.transpose(b));
    });
    const v = k.dataSync();
    k.dispose();
    for (let i = 0; i < n * n; i++) K[i] += v[i];
  }
  return K;
}

/** Cholesky factor L (lower, row-major) of a symmetric positive-definite n × n matrix. */
function cholesky(a: Float64Array, n: number): Float64Array {
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let s = a[j * n + j];
    for (let k = 0; k < j; k++) s -= L[j * n + k] * L[j * n + k];
    if (!(s > 0)) throw new Error(`cholesky: matrix not positive definite at pivot ${j} (${s})`);
    const ljj = Math.sqrt(s);
    L[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let t = a[i * n + j];
      for (let k = 0; k < j; k++) t -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = t / ljj;
    }
  }
  return L;
}

/** x with L Lᵀ x = b (forward then back substitution). */
function choleskySolve(L: Float64Array, n: number, b: ArrayLike<number>): Float64Array {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= L[i * n + k] * y[k];
    y[i] = s / L[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < n; k++) s -= L[k * n + i] * x[k];
    x[i] = s / L[i * n + i];
  }
  return x;
}

/**
 * Ridge with an unpenalized intercept in the dual form: with K the uncentered Gram matrix over all `nAll` rows,
 * centering the features on the fit rows F gives K̃_ij = K_ij − m_i − m_j + m̄ (m_i = mean_{f∈F} K_if);
 * c = (K̃_FF + αI)⁻¹(y_F − ȳ), ŷ_q = K̃_qF c + ȳ. Returns [target][alpha] predictions of the `query` rows.
 */
export function kernelRidge(
  K: Float64Array,
  nAll: number,
  fit: readonly number[],
  query: readonly number[],
  targets: readonly ArrayLike<number>[],
  alphas: readonly number[],
): Float64Array[][] {
  const nf = fit.length;
  const m = new Float64Array(nAll);
  for (let i = 0; i < nAll; i++) {
    let s = 0;
    for (const f of fit) s += K[i * nAll + f];
    m[i] = s / nf;
  }
  let mBar = 0;
  for (const f of fit) mBar += m[f];
  mBar /= nf;
  const kc = (i: number, j: number) => K[i * nAll + j] - m[i] - m[j] + mBar;
  const kff = new Float64Array(nf * nf);
  for (let a = 0; a < nf; a++) for (let b = 0; b < nf; b++) kff[a * nf + b] = kc(fit[a], fit[b]);
  const kqf = query.map((q) => Float64Array.from(fit, (f) => kc(q, f)));
  const out: Float64Array[][] = targets.map(() => []);
  for (const alpha of alphas) {
    const A = Float64Array.from(kff);
    for (let a = 0; a < nf; a++) A[a * nf + a] += alpha;
    const L = cholesky(A, nf);
    targets.forEach((y, t) => {
      let yBar = 0;
      for (const f of fit) yBar += y[f];
      yBar /= nf;
      const c = choleskySolve(
        L,
        nf,
        fit.map((f) => y[f] - yBar),
      );
      out[t].push(
        Float64Array.from(kqf, (row) => {
          let s = yBar;
          for (let a = 0; a < nf; a++) s += row[a] * c[a];
          return s;
        }),
      );
    });
  }
  return out;
}

export function median(values: ArrayLike<number>): number {
  const s = Float64Array.from(values).sort();
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The q-th percentile (0..100) as numpy.percentile's default ("linear": h = (n − 1)·q/100, interpolated). */
export function percentile(values: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(values).sort();
  if (s.length === 0 || Number.isNaN(s[s.length - 1])) throw new Error("percentile: empty or NaN values");
  const h = ((s.length - 1) * q) / 100;
  const lo = Math.floor(h);
  return lo + 1 < s.length ? s[lo] + (h - lo) * (s[lo + 1] - s[lo]) : s[lo];
}

/** Pearson r of x[rows] and y[rows] (r = 0 when either is constant, as analysis/stats' pearson). */
export function pearsonAt(x: ArrayLike<number>, y: ArrayLike<number>, rows: ArrayLike<number>): number {
  const n = rows.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[rows[i]];
    my += y[rows[i]];
  }
  mx /= n;
  my /= n;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[rows[i]] - mx;
    const dy = y[rows[i]] - my;
    sxx += dx * dx;
    syy += dy * dy;
    sxy += dx * dy;
  }
  return sxx > 0 && syy > 0 ? Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy))) : 0;
}

/**
 * The halves of analysis/stats' splitHalfReliability: per split, a 0/1 mask over the `reps` repeat columns (1 =
 * half A), drawn exactly as it draws them (Fisher–Yates on one mulberry32(seed) stream, the first ⌊reps/2⌋ in A).
 */
export function splitHalfMasks(reps: number, splits: number, seed: number): Uint8Array[] {
  const random = mulberry32(seed);
  return Array.from({ length: splits }, () => {
    const order = shuffleInPlace(
      Array.from({ length: reps }, (_, j) => j),
      random,
    );
    const mask = new Uint8Array(reps);
    for (let j = 0; j < Math.floor(reps / 2); j++) mask[order[j]] = 1;
    return mask;
  });
}

/** `count` resamples with replacement of 0..n−1, from mulberry32(seed). */
export function resamples(n: number, count: number, seed: number): Int32Array[] {
  const random = mulberry32(seed);
  return Array.from({ length: count }, () => Int32Array.from({ length: n }, () => randomInt(random, n)));
}

/** Test-set scores of one model: per neuron (of the kept ones) its test predictions, r and noise-corrected R². */
export interface ModelScores {
  name: string;
  /** [kept neuron][test image] predictions. */
  predictions: Float64Array[];
  r: number[];
  ncR2: number[];
}

export interface Interval {
  estimate: number;
  lo: number;
  hi: number;
}

const interval = (estimate: number, stats: ArrayLike<number>): Interval => ({
  estimate,
  lo: percentile(stats, 2.5),
  hi: percentile(stats, 97.5),
});

/**
 * Percentile 95 % intervals of the median noise-corrected R² (r² / reliability) of each model, and of the difference
 * of medians of each pair (a − b, paired: the same resample for both), over `imageResamples` of the test images
 * (each neuron's r recomputed on the resample; its reliability, from all images, fixed) and over `neuronResamples`
 * of the kept neurons (per-neuron scores fixed).
 */
export function bootstrapMedians(
  models: readonly ModelScores[],
  responses: readonly Float64Array[],
  reliability: readonly number[],
  imageResamples: readonly Int32Array[],
  neuronResamples: readonly Int32Array[],
  pairs: readonly [string, string][],
) {
  const byName = new Map(models.map((m, i) => [m.name, i]));
  const estimates = models.map((m) => median(m.ncR2));
  const overImages = models.map((m) =>
    Float64Array.from(imageResamples, (rows) =>
      median(m.predictions.map((p, k) => pearsonAt(p, responses[k], rows) ** 2 / reliability[k])),
    ),
  );
  const overNeurons = models.map((m) =>
    Float64Array.from(neuronResamples, (ks) => median(Array.from(ks, (k) => m.ncR2[k]))),
  );
  const perModel = (stats: Float64Array[]) =>
    Object.fromEntries(models.map((m, i) => [m.name, interval(estimates[i], stats[i])]));
  const perPair = (stats: Float64Array[]) =>
    Object.fromEntries(
      pairs.map(([a, b]) => {
        const [ia, ib] = [byName.get(a)!, byName.get(b)!];
        const diff = stats[ia].map((v, j) => v - stats[ib][j]);
        return [`${a} − ${b}`, interval(estimates[ia] - estimates[ib], diff)];
      }),
    );
  return {
    models: { overImages: perModel(overImages), overNeurons: perModel(overNeurons) },
    differences: { overImages: perPair(overImages), overNeurons: perPair(overNeurons) },
  };
}
