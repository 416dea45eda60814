// Where the readout fit starts: per channel, the feature-map pixel whose features predict the channel's training
// responses best out of sample — the leave-one-out (LOO) error of kernel ridge regression on that pixel's features.
//
// At pixel p, with Z the training rows' features (n × C) z-scored per feature, K = Z Zᵀ (n × n, one product on the
// slab engine), y the standardized responses (centred), and A = K + λI:
//   α = A⁻¹ y,  residual r = y − ŷ = λ α,  hat matrix with the unpenalized intercept H = 11ᵀ/n + K A⁻¹,
//   1 − H_ii = λ (A⁻¹)_ii − 1/n,   LOO residual e_i = λ α_i / (λ (A⁻¹)_ii − 1/n)     (exact for ridge; Allen 1974)
// λ = κ · tr(K)/n for κ in `ridges` (scale-free: tr(K)/n is the mean squared norm of a centred row); each pixel is
// scored by its smallest mean LOO squared error over κ.
//
// Why not Σ_c corr(F_p[:, c], y)² (the scan this replaces): with n ≪ C every feature correlates by chance
// (E r² = 1/(n − 1) per feature), so that sum grows with the number of features that vary at a pixel — more near
// the image centre, fewer where the background is — and it measured the wrong pixel for most simulated neurons of
// the demo day. The LOO error asks the question the fit answers: does this pixel's feature vector predict
// responses it has not seen?

import { mulberry32 } from "../random.ts";
import { type Location, pixelLocation } from "./feature-maps.ts";
import type { SlabEngine } from "./tap-slabs.ts";

/** Default ridge multipliers κ (λ = κ · tr(K)/n). */
export const SCAN_RIDGES = [0.1, 1, 10] as const;

/** In-place Cholesky factor of an SPD n×n matrix (row-major; lower triangle L, A = L Lᵀ). False if not SPD. */
function cholesky(a: Float64Array, n: number): boolean {
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j];
    for (let k = 0; k < j; k++) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0)) return false;
    const l = Math.sqrt(d);
    a[j * n + j] = l;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / l;
    }
  }
  return true;
}

/** A⁻¹ from its Cholesky factor L (lower triangle of `l`): A⁻¹ = L⁻ᵀ L⁻¹. */
function inverseFromCholesky(l: Float64Array, n: number): Float64Array {
  // M = L⁻¹ (lower triangular), column by column.
  const m = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    m[j * n + j] = 1 / l[j * n + j];
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      for (let k = j; k < i; k++) s += l[i * n + k] * m[k * n + j];
      m[i * n + j] = -s / l[i * n + i];
    }
  }
  // A⁻¹ = Mᵀ M (symmetric).
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = i; k < n; k++) s += m[k * n + i] * m[k * n + j];
      inv[i * n + j] = s;
      inv[j * n + i] = s;
    }
  }
  return inv;
}

/** K centred on both sides: (I − 11ᵀ/n) K (I − 11ᵀ/n), i.e. the Gram matrix of the feature-centred rows. */
export function centreGram(k: ArrayLike<number>, n: number): Float64Array {
  const row = new Float64Array(n);
  let all = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += k[i * n + j];
    row[i] = s / n;
    all += s;
  }
  all /= n * n;
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) out[i * n + j] = k[i * n + j] - row[i] - row[j] + all;
  return out;
}

/**
 * Mean LOO squared error of kernel ridge regression (unpenalized intercept) for each target of `ys` (n values
 * each), from the centred Gram matrix `kc` (n × n), minimized over λ = κ·tr(kc)/n for κ in `ridges`.
 * Targets should be centred; the intercept absorbs any mean.
 */
export function ridgeLooErrors(
  kc: Float64Array,
  n: number,
  ys: ArrayLike<number>[],
  ridges: readonly number[] = SCAN_RIDGES,
): Float64Array {
  return ridgeLoo(kc, n, ys, ridges).errors;
}

/** ridgeLooErrors with, per target, the λ that gave the smallest error and the dual weights α = A⁻¹(y − ȳ) at it. */
export function ridgeLoo(
  kc: Float64Array,
  n: number,
  ys: ArrayLike<number>[],
  ridges: readonly number[] = SCAN_RIDGES,
): { errors: Float64Array; lambdas: Float64Array; alphas: Float64Array[] } {
  const best = new Float64Array(ys.length).fill(Number.POSITIVE_INFINITY);
  const lambdas = new Float64Array(ys.length).fill(Number.NaN);
  const alphas = ys.map(() => new Float64Array(n));
  let trace = 0;
  for (let i = 0; i < n; i++) trace += kc[i * n + i];
  const scale = trace > 0 ? trace / n : 1;
  for (const kappa of ridges) {
    const lambda = kappa * scale;
    const a = Float64Array.from(kc);
    for (let i = 0; i < n; i++) a[i * n + i] += lambda;
    if (!cholesky(a, n)) continue;
    const inv = inverseFromCholesky(a, n);
    ys.forEach((y, t) => {
      let mean = 0;
      for (let i = 0; i < n; i++) mean += y[i];
      mean /= n;
      let sum = 0;
      const alpha = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) alpha[i] += inv[i * n + j] * (y[j] - mean);
        const leverage = lambda * inv[i * n + i] - 1 / n;
        const e = leverage > 1e-12 ? (lambda * alpha[i]) / leverage : Number.POSITIVE_INFINITY;
        sum += e * e;
      }
      if (sum / n < best[t]) {
        best[t] = sum / n;
        lambdas[t] = lambda;
        alphas[t] = alpha;
      }
    });
  }
  return { errors: best, lambdas, alphas };
}

export interface LocationScan {
  /** Per channel: the location of its best pixel. */
  locations: Location[];
  /** Per channel: the mean LOO squared error at every pixel (row-major H×W), in the targets' units. */
  errors: Float64Array[];
  /**
   * Per channel: the ridge readout at its best pixel on the raw features (λ with the smallest LOO error there):
   * weights w = F_cᵀα (C values) and bias b = ȳ − mean(F)·w, so that F·w + b predicts y.
   */
  weights: Float32Array[];
  bias: number[];
  lambdas: number[];
}

/** Rows the scan uses at most: its cost grows as rows³ per pixel, and a location needs no more. */
export const SCAN_MAX_ROWS = 200;

/** A seeded subset of `m` of the rows 0..n−1, in increasing order (all of them when n ≤ m). */
function scanRows(n: number, m: number, seed: number): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  if (n <= m) return all;
  const random = mulberry32(seed);
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(random() * (n - i));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, m).sort((a, b) => a - b);
}

/** Per feature, the mean and the population variance of `f` (n × C) over `rows`. */
function columnStats(
  f: Float32Array,
  c: number,
  rows: number[],
): { mean: Float64Array; variance: Float64Array } {
  const mean = new Float64Array(c);
  const variance = new Float64Array(c);
  for (const i of rows) for (let j = 0; j < c; j++) mean[j] += f[i * c + j] / rows.length;
  for (const i of rows)
    for (let j = 0; j < c; j++) variance[j] += (f[i * c + j] - mean[j]) ** 2 / rows.length;
  return { mean, variance };
}

/**
 * Per channel (targets `y`, standardized on the engine's rows), the pixel with the smallest ridge LOO error on the
 * pixel's z-scored features (each feature divided by its sd over the scan's rows, constant ones dropped, so that
 * every feature counts alike, as the correlations of the scan this replaces did), and the ridge readout there on the
 * raw features (its λ again by LOO): on z-scores a rarely active feature weighs as much as a common one, which finds
 * the pixel but makes a start that extrapolates poorly — measured on the demo's neurons, weight cosine 0.06 against
 * 0.6 on the raw features; the z-scored location passed both the demo's dense neurons and fit-step's sparse ones,
 * where the raw one failed the latter. `slabData(p)` gives pixel p's
 * features of the engine's rows (n × C, row-major); the Gram matrix Z Zᵀ is one product on the slab engine:
 * (F D⁻²)·Fᵀ, centred on both sides. At most SCAN_MAX_ROWS rows (a seeded subset) enter the scan.
 */
export async function scanLocationsRidge(
  slabs: SlabEngine,
  slabData: (p: number) => Float32Array,
  y: Float32Array[],
  h: number,
  w: number,
  ridges: readonly number[] = SCAN_RIDGES,
  maxRows = SCAN_MAX_ROWS,
  seed = 0,
): Promise<LocationScan> {
  const n = slabs.n;
  const rows = scanRows(n, maxRows, seed);
  const m = rows.length;
  const ys = y.map((t) => Float64Array.from(rows, (i) => t[i]));
  /** Pixel p's centred Gram matrix over the scan's rows, of z-scores or of the raw features, and what weights need. */
  const gramAt = async (p: number, standardize: boolean) => {
    const f = slabData(p);
    const c = f.length / n;
    const { mean, variance } = columnStats(f, c, rows);
    const scaled = new Float32Array(m * c);
    for (let r = 0; r < m; r++)
      for (let j = 0; j < c; j++)
        scaled[r * c + j] = !standardize
          ? f[rows[r] * c + j]
          : variance[j] > 1e-12
            ? f[rows[r] * c + j] / variance[j]
            : 0;
    const [g] = await slabs.forwardAll([{ p, k: m, data: scaled }]); // (F D⁻²) Fᵀ or F Fᵀ: [m, n]
    const gram = new Float64Array(m * m);
    for (let r = 0; r < m; r++) for (let t = 0; t < m; t++) gram[r * m + t] = g[r * n + rows[t]];
    // Symmetric up to rounding: make it exactly so.
    for (let r = 0; r < m; r++)
      for (let t = 0; t < r; t++) {
        const v = (gram[r * m + t] + gram[t * m + r]) / 2;
        gram[r * m + t] = v;
        gram[t * m + r] = v;
      }
    return { kc: centreGram(gram, m), f, c, mean, variance };
  };
  const errors = y.map(() => new Float64Array(h * w));
  for (let p = 0; p < h * w; p++) {
    const { kc } = await gramAt(p, true);
    const e = ridgeLooErrors(kc, m, ys, ridges);
    for (let k = 0; k < y.length; k++) errors[k][p] = e[k];
  }
  const bestPixel = errors.map((e) => {
    let best = 0;
    for (let p = 1; p < e.length; p++) if (e[p] < e[best]) best = p;
    return best;
  });
  const weights: Float32Array[] = [];
  const bias: number[] = [];
  const lambdas: number[] = [];
  const byPixel = new Map<number, number[]>();
  for (const [k, p] of bestPixel.entries()) byPixel.set(p, [...(byPixel.get(p) ?? []), k]);
  for (const [p, ks] of byPixel) {
    const { kc, f, c, mean } = await gramAt(p, false);
    const fit = ridgeLoo(
      kc,
      m,
      ks.map((k) => ys[k]),
      ridges,
    );
    ks.forEach((k, t) => {
      // w = F_cᵀα on the raw features, and b = ȳ − μ·w.
      const alpha = fit.alphas[t];
      const wk = new Float64Array(c);
      for (let r = 0; r < m; r++) {
        const row = rows[r] * c;
        for (let j = 0; j < c; j++) wk[j] += alpha[r] * (f[row + j] - mean[j]);
      }
      let ybar = 0;
      for (let r = 0; r < m; r++) ybar += ys[k][r] / m;
      let offset = 0;
      for (let j = 0; j < c; j++) offset += mean[j] * wk[j];
      weights[k] = Float32Array.from(wk);
      bias[k] = ybar - offset;
      lambdas[k] = fit.lambdas[t];
    });
  }
  const locations = bestPixel.map((p) => pixelLocation(Math.floor(p / w), p % w, h, w));
  return { locations, errors, weights, bias, lambdas };
}
